"""Remote commands to the stations whose sockets this node holds
(:class:`~csms.commands.ports.LocalStations`).

A command is translated by its station's OCPP version
(``csms.protocol.v16.calls``, ``csms.protocol.v201.calls``), sent through
the station's :class:`~csms.protocol.rpc.RpcConnection` (one call in
flight, at most ``queue_limit`` waiting), and whatever happens becomes an
outcome: the answer, a timeout, busy, not connected, a CALLERROR (or an
answer that breaks the schema), or unsupported.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from csms.commands.model import Command
from csms.commands.outcomes import (
    Busy,
    CallFailed,
    NotConnected,
    Outcome,
    TimedOut,
    Unsupported,
)
from csms.gateway.registry import ConnectionRegistry
from csms.protocol.outgoing import OutgoingCall
from csms.protocol.payloads import PayloadViolation
from csms.protocol.rpc import (
    VIOLATION_CODES,
    CallQueueFull,
    CallRejected,
    CallTimeout,
    RpcConnection,
    TransportClosed,
)

log = logging.getLogger(__name__)


class Translator(Protocol):
    """One OCPP version's spelling of commands (``Calls16``, ``Calls201``)."""

    async def translate(
        self, charge_point_id: str, command: Command
    ) -> OutgoingCall | Unsupported: ...


class LocalCommandExecutor:
    """Runs commands on the stations in this node's connection registry.

    ``translators`` maps a subprotocol (``ocpp1.6``, ``ocpp2.0.1``) to its
    translator."""

    def __init__(
        self,
        registry: ConnectionRegistry,
        translators: Mapping[str, Translator],
        *,
        queue_limit: int = 10,
    ) -> None:
        self.registry = registry
        self.translators = translators
        self.queue_limit = queue_limit

    def holds(self, charge_point_id: str) -> bool:
        entry = self.registry.get(charge_point_id)
        return entry is not None and entry.rpc is not None

    async def execute(self, charge_point_id: str, command: Command, timeout: float) -> Outcome:
        entry = self.registry.get(charge_point_id)
        if entry is None or entry.rpc is None:
            return NotConnected()
        translator = self.translators.get(entry.protocol)
        if translator is None:
            return Unsupported(f"no remote commands for {entry.protocol}")
        planned = await translator.translate(charge_point_id, command)
        if isinstance(planned, Unsupported):
            return planned
        rpc: RpcConnection = entry.rpc
        try:
            answer = await rpc.call(
                planned.action, planned.request, timeout=timeout, queue_limit=self.queue_limit
            )
        except CallQueueFull as full:
            return Busy(queued=full.queued)
        except CallTimeout:
            return TimedOut(seconds=timeout)
        except CallRejected as rejected:
            error = rejected.error
            return CallFailed(
                error_code=error.error_code,
                description=error.description,
                details=error.details if isinstance(error.details, dict) else {},
            )
        except TransportClosed:
            return NotConnected()
        except PayloadViolation as violation:
            log.warning(
                "station %s answered %s against the schema: %r",
                charge_point_id,
                planned.action,
                violation.description,
            )
            return CallFailed(
                error_code=rpc.dialect.spell(VIOLATION_CODES[violation.kind]),
                description=violation.description,
                details=dict(violation.details),
            )
        return planned.read(answer)
