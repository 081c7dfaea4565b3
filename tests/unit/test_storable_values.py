"""The storable-value check's quick screen never passes what the exact walk
refuses (csms.protocol.storable)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from csms.protocol.payloads import PayloadCodec, PayloadViolation, v16
from csms.protocol.storable import _plainly_fine, _struct, check_storable

pytestmark = pytest.mark.backend_independent

CODEC16 = PayloadCodec("1.6")
CODEC201 = PayloadCodec("2.0.1")
NOW = "2026-11-22T10:00:00Z"


def _start(**fields: Any) -> bytes:
    return json.dumps(
        {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": NOW, **fields}
    ).encode()


@pytest.mark.parametrize(
    ("payload", "storable"),
    [
        (_start(), True),
        (_start(meterStart=2**63 - 1), True),
        (_start(meterStart=2**63), False),
        (_start(meterStart=-(2**63)), True),
        (_start(connectorId=2**31 - 1), True),
        (_start(connectorId=2**31), False),
        (_start(connectorId=-(2**31) - 1), False),
        (_start(idTag="0000000000"), True),
        (_start(idTag="a\u0000"), False),
        (_start(idTag="\u00e9"), True),
        (_start(timestamp="9999-12-31T23:59:59Z"), True),
        (_start(timestamp="9999-12-31T23:59:59-14:00"), False),
        (_start(timestamp="0001-01-01T00:00:00+14:00"), False),
        (_start(timestamp="0001-01-01T00:00:00-01:00"), True),
    ],
)
def test_screen_and_walk_agree(payload: bytes, storable: bool) -> None:
    """The verdict is the exact walk's; the screen says "fine" only when the
    walk would too."""
    message = CODEC16.decode_request("StartTransaction", payload).message
    if storable:
        check_storable(message)
        _struct(message, "$", 0)
    else:
        assert not _plainly_fine(message)
        with pytest.raises(PayloadViolation):
            check_storable(message)


def test_deep_free_form_data_is_refused() -> None:
    """2.0.1 DataTransfer data (anyType) nested 100 deep cannot be stored."""
    data: Any = 1
    for _ in range(100):
        data = [data]
    payload = json.dumps({"vendorId": "V", "data": data}).encode()
    message = CODEC201.decode_request("DataTransfer", payload).message
    with pytest.raises(PayloadViolation):
        check_storable(message)


def test_lone_surrogate_is_refused() -> None:
    """A lone surrogate (msgspec refuses it in JSON; a value built otherwise
    may hold one) cannot be encoded as UTF-8 and is refused."""
    message = v16.DataTransferRequest(vendor_id="V", data="\ud800")
    with pytest.raises(PayloadViolation):
        check_storable(message)
