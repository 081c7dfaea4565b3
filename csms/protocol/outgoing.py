"""What a version's translator makes of a remote command: the call to send
and how to read its answer (``csms.protocol.v16.calls``,
``csms.protocol.v201.calls``; ``csms.protocol.commanding`` sends it)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import msgspec

from csms.commands.outcomes import Answered

_UNSET = msgspec.UNSET


class ChargerTransactions(Protocol):
    """The charger's own transaction id of one of our sessions (2.0.1's
    string transactionId), if the session is that station's."""

    async def charger_transaction_id(self, charge_point_id: str, session_id: int) -> str | None: ...


class UnknownSession(LookupError):
    """The command names a session the station has no transaction id for."""


def plain(value: Any) -> Any:
    """A decoded payload as plain data with snake_case names: absent fields
    and customData left out, times as ISO 8601 text."""
    if isinstance(value, msgspec.Struct):
        return {
            name: plain(item)
            for name in value.__struct_fields__
            if name != "custom_data" and (item := getattr(value, name)) is not _UNSET
        }
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return float(value)
    return value


def status_answer(extra: dict[str, Any] | None = None) -> Callable[[msgspec.Struct], Answered]:
    """Reads an answer whose ``status`` field is the status and whose other
    fields are the data; ``extra`` (ids we made up for the call) is added."""

    def read(answer: msgspec.Struct) -> Answered:
        data = plain(answer)
        status = data.pop("status", None)
        if extra:
            data.update(extra)
        return Answered(status=status, data=data)

    return read


@dataclass(frozen=True, slots=True)
class OutgoingCall:
    """One call to send: the action, its request and the reader of the answer."""

    action: str
    request: msgspec.Struct
    read: Callable[[msgspec.Struct], Answered]


def new_request_id() -> int:
    """A request id for a call that needs one (remoteStartId, requestId):
    random, so ids of several nodes and restarts do not repeat."""
    return 1 + secrets.randbelow(2**31 - 2)


def unset(value: Any) -> Any:
    """None as UNSET (an absent optional field)."""
    return _UNSET if value is None else value
