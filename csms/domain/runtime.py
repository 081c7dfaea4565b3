"""The station runtime: what the system does with each thing a charger reports.

Every method that persists returns only after the write has committed, so a
charger is never told "accepted" for something the database does not hold;
a storage failure propagates as an exception and the protocol layer answers
with a CALLERROR, which makes the charger retry.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from crm.clock import utcnow
from csms.domain.authorization import Authorizer
from csms.domain.commands import (
    AuthorizeToken,
    BootDecision,
    BootStation,
    EndSession,
    RecordMeterValues,
    RecordNotification,
    RecordTransactionEvent,
    ReportDeviceModel,
    ReportStatus,
    SessionEnded,
    SessionStarted,
    StartSession,
    TransactionEventRecorded,
)
from csms.domain.group_commit import GroupCommitter
from csms.domain.meter import register_wh
from csms.domain.model import (
    AuthorizationStatus,
    RegistrationStatus,
    Sample,
    StationProfile,
    TokenInfo,
)
from csms.domain.presence import Presence
from csms.domain.station_cache import CachedStationDirectory
from csms.domain.writes import (
    SessionOutcome,
    StoreBoot,
    StoreDeviceModel,
    StoreEvent,
    StoreMeterValues,
    StorePresence,
    StoreSessionStart,
    StoreSessionStop,
    StoreStatus,
    StoreTransactionEvent,
    TransactionOutcome,
    Write,
    WriteGroup,
)

log = logging.getLogger(__name__)

# OCPP 2.0.1 idTokens that name no identifier to look up.
_NO_AUTHORIZATION = "NoAuthorization"
# The triggers of a TransactionEvent Updated that only reports readings.
_READING_TRIGGERS = frozenset({"MeterValuePeriodic", "MeterValueClock"})

# How soon a Pending or Rejected station should send its next BootNotification.
PENDING_RETRY_SECONDS = 60
REJECTED_RETRY_SECONDS = 300


def start_key(station_pk: int, command: StartSession) -> str:
    """What makes two StartTransactions the same: a charger that lost our
    answer sends the same connector, tag, timestamp and meter reading again."""
    text = "|".join(
        (
            str(station_pk),
            str(command.connector_id),
            command.id_tag,
            command.timestamp.astimezone(UTC).isoformat(),
            str(command.meter_start_wh),
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()[:48]


@dataclass(slots=True)
class StationRuntime:
    writer: GroupCommitter
    authorizer: Authorizer
    directory: CachedStationDirectory
    presence: Presence
    heartbeat_interval: int
    node_name: str
    clock: Callable[[], datetime] = field(default=utcnow)

    # -- connection -------------------------------------------------------

    def connected(self, station: StationProfile, protocol: str) -> None:
        """Recorded without waiting: the charger is told nothing about it, and
        an unreachable database must not cost the connection."""
        now = self.presence.seen(station.pk)
        self.writer.submit_nowait(
            WriteGroup(
                (
                    StorePresence(station.pk, True, self.node_name, protocol, now),
                    StoreEvent(
                        station.pk,
                        "connected",
                        now,
                        now,
                        {"node": self.node_name, "protocol": protocol},
                    ),
                )
            )
        )

    def disconnected(self, station: StationProfile, protocol: str, reason: str) -> None:
        """Recorded without waiting: nobody is left to answer."""
        self.presence.forget(station.pk)
        now = self.clock()
        self.writer.submit_nowait(
            WriteGroup(
                (
                    StorePresence(station.pk, False, self.node_name, protocol, now),
                    StoreEvent(station.pk, "disconnected", now, now, {"reason": reason}),
                )
            )
        )

    def seen(self, station: StationProfile) -> datetime:
        return self.presence.seen(station.pk)

    # -- boot and heartbeat -----------------------------------------------

    async def boot(self, station: StationProfile, command: BootStation) -> BootDecision:
        now = self.clock()
        status = await self.registration_status(station)
        await self.writer.submit(
            WriteGroup(
                (
                    StoreBoot(
                        station_pk=station.pk,
                        at=now,
                        vendor=command.vendor,
                        model=command.model,
                        serial_number=command.serial_number,
                        charge_box_serial_number=command.charge_box_serial_number,
                        firmware_version=command.firmware_version,
                        iccid=command.iccid,
                        imsi=command.imsi,
                        meter_type=command.meter_type,
                        meter_serial_number=command.meter_serial_number,
                    ),
                    StoreEvent(
                        station.pk,
                        "boot",
                        now,
                        now,
                        {
                            "vendor": command.vendor,
                            "model": command.model,
                            "firmware": command.firmware_version,
                            "reason": command.reason,
                            "answer": status.value,
                        },
                    ),
                )
            )
        )
        if status is RegistrationStatus.ACCEPTED:
            interval = self.heartbeat_interval
        elif status is RegistrationStatus.PENDING:
            interval = min(PENDING_RETRY_SECONDS, self.heartbeat_interval)
        else:
            interval = REJECTED_RETRY_SECONDS
        return BootDecision(status=status, interval=interval, current_time=now)

    async def registration_status(self, station: StationProfile) -> RegistrationStatus:
        """The answer for a boot: cached for accepted stations (a storm of
        boots costs no queries), read fresh for the others, so an operator's
        acceptance counts at the station's very next boot."""
        current = await self.directory.find(station.charge_point_id)
        if current is None or current.registration_status is not RegistrationStatus.ACCEPTED:
            current = await self.directory.find_fresh(station.charge_point_id)
        return current.registration_status if current else station.registration_status

    # -- status -----------------------------------------------------------

    async def report_status(self, station: StationProfile, command: ReportStatus) -> None:
        now = self.clock()
        await self.writer.submit(
            WriteGroup(
                (
                    StoreStatus(
                        station_pk=station.pk,
                        connector_id=command.connector_id,
                        status=command.status,
                        error_code=command.error_code,
                        reported_at=command.timestamp or now,
                        received_at=now,
                        info=command.info,
                        vendor_id=command.vendor_id,
                        vendor_error_code=command.vendor_error_code,
                    ),
                )
            )
        )

    # -- authorisation and sessions ---------------------------------------

    async def authorize(self, station: StationProfile, command: AuthorizeToken) -> TokenInfo:
        return await self.authorizer.authorize(
            command.id_tag, station_pk=station.pk, connector_id=command.connector_id
        )

    async def start_session(self, station: StationProfile, command: StartSession) -> SessionStarted:
        token = await self.authorizer.authorize(
            command.id_tag, station_pk=station.pk, connector_id=command.connector_id
        )
        (outcome,) = await self.writer.submit(
            WriteGroup(
                (
                    StoreSessionStart(
                        station_pk=station.pk,
                        connector_id=command.connector_id,
                        id_tag=command.id_tag,
                        started_at=command.timestamp,
                        meter_start_wh=command.meter_start_wh,
                        start_key=start_key(station.pk, command),
                        auth_status=token.status.value,
                        parent_id_tag=token.parent_id or "",
                        reservation_id=command.reservation_id,
                        medium=token.medium,
                    ),
                )
            )
        )
        assert isinstance(outcome, SessionOutcome)
        if outcome.existed:
            log.info(
                "station %s retransmitted StartTransaction; same session %d",
                station.charge_point_id,
                outcome.session_id,
            )
        return SessionStarted(transaction_id=outcome.session_id, token=token)

    async def record_meter_values(
        self, station: StationProfile, command: RecordMeterValues
    ) -> None:
        await self.writer.submit(
            WriteGroup(
                (
                    StoreMeterValues(
                        station_pk=station.pk,
                        connector_id=command.connector_id,
                        transaction_id=command.transaction_id,
                        samples=command.samples,
                        received_at=self.clock(),
                    ),
                )
            )
        )

    async def end_session(self, station: StationProfile, command: EndSession) -> SessionEnded:
        token = None
        if command.id_tag:
            # Stopping is always allowed; the verdict only tells the charger
            # what to cache for this identifier.
            token = await self.authorizer.authorize(
                command.id_tag, station_pk=station.pk, check_concurrency=False
            )
        (outcome,) = await self.writer.submit(
            WriteGroup(
                (
                    StoreSessionStop(
                        station_pk=station.pk,
                        transaction_id=command.transaction_id,
                        stopped_at=command.timestamp,
                        meter_stop_wh=command.meter_stop_wh,
                        reason=command.reason,
                        id_tag=command.id_tag or "",
                        samples=command.samples,
                        medium=token.medium if token else None,
                        received_at=self.clock(),
                    ),
                )
            )
        )
        assert isinstance(outcome, SessionOutcome)
        if not outcome.existed:
            log.warning(
                "station %s stopped transaction %d the system never saw; recorded as session %d",
                station.charge_point_id,
                command.transaction_id,
                outcome.session_id,
            )
        return SessionEnded(token=token)

    # -- notifications ------------------------------------------------------

    async def record_notification(
        self, station: StationProfile, command: RecordNotification
    ) -> None:
        now = self.clock()
        await self.writer.submit(
            WriteGroup(
                (StoreEvent(station.pk, command.kind, command.timestamp or now, now, command.data),)
            )
        )

    # -- OCPP 2.0.1 transactions and device model -----------------------------

    async def transaction_event(
        self, station: StationProfile, command: RecordTransactionEvent
    ) -> TransactionEventRecorded:
        """A TransactionEvent into the charging session of its transaction id.

        Idempotent: a retransmitted event (same or lower seq_no) is the same
        session and changes nothing; an Updated or Ended for a transaction the
        system never saw creates the session (``started_offline``)."""
        now = self.clock()
        token = None
        if command.id_tag is not None:
            if command.id_token_type == _NO_AUTHORIZATION:
                token = TokenInfo(AuthorizationStatus.ACCEPTED)
            else:
                # Stopping is always allowed: no concurrency check on Ended.
                token = await self.authorizer.authorize(
                    command.id_tag,
                    station_pk=station.pk,
                    connector_id=command.connector_id,
                    check_concurrency=command.event_type != "Ended",
                )
        ended = command.event_type == "Ended"
        begin = _register(command.samples, "Transaction.Begin")
        if begin is None and command.event_type == "Started":
            begin = _register(command.samples, None)
        stop_wh = None
        if ended:
            end = _register(command.samples, "Transaction.End") or _last_register(command.samples)
            stop_wh = end[1] if end else None
        writes: list[Write] = [
            StoreTransactionEvent(
                station_pk=station.pk,
                charger_transaction_id=command.charger_transaction_id,
                event_type=command.event_type,
                seq_no=command.seq_no,
                timestamp=command.timestamp,
                received_at=now,
                connector_id=command.connector_id or 0,
                offline=command.offline,
                id_tag=command.id_tag or "",
                auth_status=token.status.value if token else "",
                parent_id_tag=(token.parent_id or "") if token else "",
                reservation_id=command.reservation_id,
                begin=begin,
                meter_stop_wh=stop_wh,
                stop_reason=command.stopped_reason if ended else "",
                charging_state=command.charging_state,
                samples=command.samples,
                medium=token.medium if token else None,
            ),
        ]
        if _is_station_event(command):
            writes.append(
                StoreEvent(
                    station.pk,
                    "transaction_event",
                    command.timestamp,
                    now,
                    {
                        "transaction_id": command.charger_transaction_id,
                        "event_type": command.event_type,
                        "seq_no": command.seq_no,
                        "trigger_reason": command.trigger_reason,
                        "offline": command.offline,
                        "evse_id": command.connector_id,
                        "connector_id": command.evse_connector_id,
                        "charging_state": command.charging_state,
                        "id_token": command.id_tag,
                        "id_token_type": command.id_token_type,
                        "stopped_reason": command.stopped_reason,
                        "remote_start_id": command.remote_start_id,
                    },
                )
            )
        outcome = (await self.writer.submit(WriteGroup(tuple(writes))))[0]
        assert isinstance(outcome, TransactionOutcome)
        self._log_transaction_event(station, command, outcome)
        return TransactionEventRecorded(session_id=outcome.session_id, token=token)

    def _log_transaction_event(
        self, station: StationProfile, command: RecordTransactionEvent, outcome: TransactionOutcome
    ) -> None:
        name = station.charge_point_id
        tx = repr(command.charger_transaction_id)  # the charger's text: escaped
        if outcome.repeated:
            log.info(
                "station %s repeated TransactionEvent %s seqNo %d of %s; session %d unchanged",
                name,
                command.event_type,
                command.seq_no,
                tx,
                outcome.session_id,
            )
        elif outcome.created and command.event_type != "Started":
            log.warning(
                "station %s sent %s for transaction %s the system never saw; session %d",
                name,
                command.event_type,
                tx,
                outcome.session_id,
            )
        elif outcome.previous_seq_no is not None and command.seq_no > outcome.previous_seq_no + 1:
            log.warning(
                "station %s transaction %s: seqNo gap, %d after %d (events missing)",
                name,
                tx,
                command.seq_no,
                outcome.previous_seq_no,
            )

    async def report_device_model(
        self, station: StationProfile, command: ReportDeviceModel
    ) -> None:
        """One part of a NotifyReport: its variables upserted, the part noted."""
        now = self.clock()
        await self.writer.submit(
            WriteGroup(
                (
                    StoreDeviceModel(station.pk, command.variables, now),
                    StoreEvent(
                        station.pk,
                        "device_model_report",
                        command.generated_at,
                        now,
                        {
                            "request_id": command.request_id,
                            "seq_no": command.seq_no,
                            "tbc": command.tbc,
                            "variables": len(command.variables),
                        },
                    ),
                )
            )
        )


def _register(samples: tuple[Sample, ...], context: str | None) -> tuple[datetime, int] | None:
    """The first energy register reading (in Wh) of that context (any if None)."""
    for sample in samples:
        if context is None or sample.context == context:
            wh = register_wh(sample)
            if wh is not None:
                return sample.sampled_at, wh
    return None


def _last_register(samples: tuple[Sample, ...]) -> tuple[datetime, int] | None:
    found = None
    for sample in samples:
        wh = register_wh(sample)
        if wh is not None and (found is None or sample.sampled_at >= found[0]):
            found = (sample.sampled_at, wh)
    return found


def _is_station_event(command: RecordTransactionEvent) -> bool:
    """Whether a TransactionEvent goes into the station's event log. Every
    one does but a reading, a periodic or clock-aligned Updated without an
    idToken: like a 1.6 MeterValues it is a meter value (and a state change
    when its chargingState changed), and its frame is in the message log. A
    charger sends one a minute per session, which as events buried the ones
    that tell what happened (and were one row in four of an Updated with one
    reading)."""
    return not (
        command.event_type == "Updated"
        and command.trigger_reason in _READING_TRIGGERS
        and command.id_tag is None
    )
