"""What a remote command can come back with: exactly one of these.

All are tagged msgspec structs so an outcome crosses the bus between nodes
unchanged (``msgspec.json.encode(outcome)`` and ``decode(..., type=Outcome)``).
The tag is the ``result`` field, so an outcome embedded in an API answer
(a local-list sync, a firmware update) reads like the command endpoints'
answers: ``{"result": "answered", "status": "Accepted", "data": {...}}``.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Answered(msgspec.Struct, frozen=True, tag_field="result", tag="answered"):
    """The charger answered. ``status`` is its status field when the answer
    has one (Accepted, Rejected, Scheduled...); ``data`` is the answer in
    version-neutral snake_case terms (e.g. configuration keys, variables)."""

    status: str | None = None
    data: dict[str, Any] = {}


class TimedOut(msgspec.Struct, frozen=True, tag_field="result", tag="timed_out"):
    """The call was sent but no answer came in time. The charger may still
    have acted on it."""

    seconds: float = 0.0


class Busy(msgspec.Struct, frozen=True, tag_field="result", tag="busy"):
    """That charger's queue of calls waiting to be sent is full; nothing was sent."""

    queued: int = 0


class NotConnected(msgspec.Struct, frozen=True, tag_field="result", tag="not_connected"):
    """No node holds a socket of that station; nothing was sent."""


class CallFailed(msgspec.Struct, frozen=True, tag_field="result", tag="call_failed"):
    """The charger answered with a CALLERROR (or an answer that breaks the
    schema, code ``FormatViolation``/``FormationViolation``)."""

    error_code: str
    description: str = ""
    details: dict[str, Any] = {}


class Unsupported(msgspec.Struct, frozen=True, tag_field="result", tag="unsupported"):
    """The command has no equivalent in the station's OCPP version (e.g.
    GetConfiguration on 2.0.1); nothing was sent."""

    reason: str


Outcome = Answered | TimedOut | Busy | NotConnected | CallFailed | Unsupported
