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

from csms.commands import model as m
from csms.commands.outcomes import Answered

_UNSET = msgspec.UNSET


class ChargerTransactions(Protocol):
    """The charger's own transaction id of one of our sessions (2.0.1's
    string transactionId), if the session is that station's."""

    async def charger_transaction_id(self, charge_point_id: str, session_id: int) -> str | None: ...


class StationSessions(Protocol):
    """Whether a session is a station's: its status (``active``,
    ``completed``), or None when it is not that station's or does not
    exist. A command naming a session is sent only for the station's own
    sessions, and a stop only for one still active (both versions)."""

    async def session_status(self, charge_point_id: str, session_id: int) -> str | None: ...


def session_of(command: m.Command) -> int | None:
    """The session a command names (a stop's, a TxProfile's), if any."""
    if isinstance(command, m.RemoteStop):
        return command.session_id
    if isinstance(command, m.SetChargingProfile):
        return command.profile.session_id
    if isinstance(command, m.RemoteStart) and command.charging_profile is not None:
        return command.charging_profile.session_id
    return None


async def refusal_for_session(
    sessions: StationSessions | None, charge_point_id: str, command: m.Command, session_id: int
) -> str | None:
    """Why a command naming ``session_id`` is not sent to the station
    (None: it may be). Without ``sessions`` nothing is checked."""
    if sessions is None:
        return None
    # Session ids are 32-bit: a larger one names no session (and is not
    # asked of the database, which would refuse it).
    status = (
        await sessions.session_status(charge_point_id, session_id)
        if -(2**31) <= session_id < 2**31
        else None
    )
    if status is None:
        return f"session {session_id} is no transaction of station {charge_point_id!r}"
    if isinstance(command, m.RemoteStop) and status != "active":
        return f"session {session_id} of station {charge_point_id!r} is {status}, not active"
    return None


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
