"""The 2.0.1 codec reads sampled values as their exact JSON text in one
decode, and refuses or repairs every other payload as the generic 2.0.1
codec does."""

from __future__ import annotations

import msgspec
import pytest

from csms.protocol.payloads import Leniency, PayloadCodec, PayloadViolation, Violation, v201
from csms.protocol.v201.codec import PayloadCodec201

pytestmark = pytest.mark.backend_independent

EXACT, GENERIC = PayloadCodec201(), PayloadCodec("2.0.1")

EVENT = (
    b'{"eventType":"Updated","timestamp":"2026-12-07T10:00:00Z",'
    b'"triggerReason":"MeterValuePeriodic","seqNo":3,'
    b'"transactionInfo":{"transactionId":"tx-1"},'
    b'"meterValue":[{"timestamp":"2026-12-07T10:00:00Z","sampledValue":[%s]}]}'
)
METER_VALUES = (
    b'{"evseId":1,"meterValue":[{"timestamp":"2026-12-07T10:00:00Z","sampledValue":[%s]}]}'
)


def _values(message: object) -> list[object]:
    return [s.value for m in message.meter_value for s in m.sampled_value]  # type: ignore[attr-defined]


def _refusal(codec: PayloadCodec, action: str, payload: bytes) -> PayloadViolation:
    with pytest.raises(PayloadViolation) as caught:
        codec.decode_request(action, payload)
    return caught.value


def test_sampled_values_are_their_json_text() -> None:
    """12.50 stays 12.50, an exponent and a 19-digit register are kept as
    written, in TransactionEvent and MeterValues alike; the message is the
    generated request type and needed no repair."""
    values = b'{"value":12.50},{"value":1e3},{"value":-0.0},{"value":1234567890123456789}'
    expected = ["12.50", "1e3", "-0.0", "1234567890123456789"]
    for action, template, kind in (
        ("TransactionEvent", EVENT, v201.TransactionEventRequest),
        ("MeterValues", METER_VALUES, v201.MeterValuesRequest),
    ):
        decoded = EXACT.decode_request(action, template % values)
        assert isinstance(decoded.message, kind)
        assert _values(decoded.message) == expected
        assert decoded.fixes == ()
        # the generic codec reads floats: what the exact text is kept from
        assert _values(GENERIC.decode_request(action, template % values).message) == [
            12.5,
            1000.0,
            -0.0,
            1234567890123456789.0,
        ]


def test_an_event_without_meter_values_decodes() -> None:
    payload = (
        b'{"eventType":"Started","timestamp":"2026-12-07T10:00:00Z",'
        b'"triggerReason":"Authorized","seqNo":0,"transactionInfo":{"transactionId":"tx-1"}}'
    )
    decoded = EXACT.decode_request("TransactionEvent", payload)
    assert isinstance(decoded.message, v201.TransactionEventRequest)
    assert msgspec.to_builtins(decoded.message) == msgspec.to_builtins(
        GENERIC.decode_request("TransactionEvent", payload).message
    )


@pytest.mark.parametrize(
    "sampled",
    [
        b'{"value":"12.5"}',  # a string where the schema wants a number
        b'{"value":true}',
        b'{"value":12.5,"colour":"red"}',  # a property the schema does not define
        b'{"value":12.5,"phase":"L4"}',  # not one of the allowed values
        b"",  # sampledValue must not be empty
    ],
)
def test_a_bad_sampled_value_is_refused_as_the_generic_codec_refuses_it(sampled: bytes) -> None:
    for action, template in (("TransactionEvent", EVENT), ("MeterValues", METER_VALUES)):
        exact = _refusal(EXACT, action, template % sampled)
        generic = _refusal(GENERIC, action, template % sampled)
        assert (exact.kind, exact.description) == (generic.kind, generic.description)


def test_broken_json_is_refused_as_the_generic_codec_refuses_it() -> None:
    payload = (EVENT % b'{"value":12.5}')[:-3]
    exact = _refusal(EXACT, "TransactionEvent", payload)
    assert exact.kind is _refusal(GENERIC, "TransactionEvent", payload).kind


def test_a_lenient_repair_keeps_the_exact_text() -> None:
    """A payload only the station's leniency accepts takes the generic path,
    and its values are still the JSON text."""
    payload = EVENT % b'{"value":12.50,"phase":null}'
    assert _refusal(EXACT, "TransactionEvent", payload).kind is Violation.TYPE
    decoded = EXACT.decode_request("TransactionEvent", payload, Leniency.NULLS_AS_ABSENT)
    assert decoded.fixes
    assert _values(decoded.message) == ["12.50"]
