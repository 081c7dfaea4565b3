"""Serving an admitted station: picks its version's router, records the
connection, and runs the RPC loop until the socket closes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import msgspec

from csms.domain.model import RegistrationStatus, StationProfile
from csms.domain.runtime import StationRuntime
from csms.domain.writes import (
    MESSAGE_LOG_MAX_CHARS,
    StoreExchange,
    StoreMessage,
    WriteGroup,
    log_message,
)
from csms.gateway.registry import Connected
from csms.metrics import Metrics
from csms.protocol.ocppj import (
    Call,
    CallError,
    CallResult,
    Dialect,
    ErrorCode,
    FrameError,
    MessageType,
)
from csms.protocol.payloads import Leniency
from csms.protocol.rpc import Router, RpcConnection, StationSession, Transport

log = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class VersionSupport:
    router: Router
    dialect: Dialect


def leniency_flags(names: frozenset[str]) -> Leniency:
    flags = Leniency.NONE
    for name in names:
        try:
            flags |= Leniency[name.upper()]
        except KeyError:
            log.warning("unknown leniency flag %r ignored", name)
    return flags


class ExchangeRecorder:
    """Presence and the raw message log for every exchange.

    The log is written after the answer, in the next group commit, without
    holding the charger up: what the charger reported is committed before it
    is answered; the log is the trail of the exchange. Heartbeats only move
    the last-seen time.
    """

    def __init__(
        self,
        runtime: StationRuntime,
        metrics: Metrics,
        *,
        log_messages: bool = True,
        message_log_max_chars: int = MESSAGE_LOG_MAX_CHARS,
    ) -> None:
        self._runtime = runtime
        self._metrics = metrics
        self._log_messages = log_messages
        self._max_chars = message_log_max_chars
        self.calls = 0
        self.errors = 0

    def call_answered(
        self,
        session: StationSession,
        call: Call,
        answer: bytes,
        error_code: ErrorCode | None,
        seconds: float,
    ) -> None:
        self.calls += 1
        if error_code is not None:
            self.errors += 1
        self._metrics.call_answered(
            call.action, seconds, error_code.value if error_code is not None else None
        )
        now = self._runtime.seen(session.profile)
        if not self._log_messages or (call.action == "Heartbeat" and error_code is None):
            return
        self._runtime.writer.record_nowait(
            StoreExchange(
                session.profile.pk,
                call.unique_id,
                call.action,
                call.payload,
                MessageType.CALL,
                answer,
                MessageType.CALLERROR if error_code else MessageType.CALLRESULT,
                now,
                self._max_chars,
            )
        )

    def own_call_finished(
        self,
        session: StationSession,
        unique_id: str,
        action: str,
        request: bytes,
        answer: CallResult | CallError | None,
    ) -> None:
        """The system's own calls go into the message log too, so an
        operator sees what was asked of a station and what it said."""
        if not self._log_messages:
            return
        now = self._runtime.clock()
        pk = session.profile.pk
        records = [
            self._message(
                pk,
                "out",
                MessageType.CALL,
                unique_id,
                action,
                request,
                now,
            )
        ]
        if isinstance(answer, CallResult):
            records.append(
                self._message(
                    pk,
                    "in",
                    MessageType.CALLRESULT,
                    unique_id,
                    action,
                    answer.payload,
                    now,
                )
            )
        elif isinstance(answer, CallError):
            records.append(
                self._message(
                    pk,
                    "in",
                    MessageType.CALLERROR,
                    unique_id,
                    action,
                    _error_text(answer),
                    now,
                )
            )
        self._runtime.writer.submit_nowait(WriteGroup(tuple(records)))

    def _message(
        self,
        station_pk: int,
        direction: str,
        message_type: int,
        unique_id: str,
        action: str,
        payload: str | bytes,
        at: datetime,
    ) -> StoreMessage:
        return log_message(
            station_pk,
            direction,
            message_type,
            unique_id,
            action,
            payload,
            at,
            max_chars=self._max_chars,
        )

    def connection_opened(self, protocol: str) -> None:
        self._metrics.connection_opened(protocol)

    def frame_rejected(self, session: StationSession, data: bytes, error: FrameError) -> None:
        self.errors += 1
        self._metrics.frame_rejected(error.code.value)
        now = self._runtime.seen(session.profile)
        log.warning(
            "station %s sent a malformed frame: %r", session.charge_point_id, error.description
        )
        if not self._log_messages:
            return
        self._runtime.writer.submit_nowait(
            WriteGroup(
                (
                    self._message(
                        session.profile.pk,
                        "in",
                        0,
                        error.unique_id,
                        "",
                        data,
                        now,
                    ),
                )
            )
        )


@dataclass(slots=True)
class OcppService:
    """The gateway's station handler for every supported OCPP version."""

    runtime: StationRuntime
    versions: dict[str, VersionSupport]
    recorder: ExchangeRecorder

    async def serve(self, entry: Connected, transport: Transport, profile: StationProfile) -> None:
        support = self.versions[entry.protocol]
        session = StationSession(
            profile=profile,
            protocol=entry.protocol,
            leniency=leniency_flags(profile.leniency),
        )
        connection = RpcConnection(
            transport,
            support.router,
            session,
            dialect=support.dialect,
            observer=self.recorder,
            gate=_registration_gate,
        )
        entry.rpc = connection
        self.recorder.connection_opened(entry.protocol)
        self.runtime.connected(profile, entry.protocol)
        log.info("station %s connected (%s)", profile.charge_point_id, entry.protocol)
        await connection.serve()

    def closed(
        self, entry: Connected, profile: StationProfile, *, current: bool, reason: str
    ) -> None:
        # %r: the close reason is the charger's text
        log.info("station %s disconnected: %r", profile.charge_point_id, reason or "closed")
        if current:
            self.runtime.disconnected(profile, entry.protocol, reason)


def _error_text(error: CallError) -> str:
    return msgspec.json.encode(
        {
            "errorCode": error.error_code,
            "errorDescription": error.description,
            "errorDetails": error.details,
        }
    ).decode()


def _registration_gate(session: StationSession, action: str) -> ErrorCode | None:
    """Until its BootNotification is accepted a station gets SecurityError for
    anything else (OCPP 2.0.1 B02.FR.09; 1.6 forbids those calls)."""
    if action == "BootNotification":
        return None
    if session.profile.registration_status is RegistrationStatus.ACCEPTED:
        return None
    return ErrorCode.SECURITY_ERROR
