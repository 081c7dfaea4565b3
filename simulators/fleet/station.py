"""One simulated charger of a fleet: its behaviour, in version-neutral terms.

A station is one task. Its loop sleeps until the next thing is due (a car
arrives, a meter interval ends, a heartbeat, a fault, a planned disconnect, a
reconnect) or until something wakes it (a server command, the socket closing,
the end of the run), does what is due, and makes its calls one at a time, as
OCPP-J wants. The open socket has one more task, the link's reader, which
answers the server's calls.

Sessions go on while the socket is down, as on a real charger: their
StartTransaction, MeterValues and StopTransaction wait in the outbox and go out
in order after the reconnect. Status notifications are not queued: after a
reconnect the station reports the current status of every connector instead.

The message shapes come from an encoding (``v16.Ocpp16Encoding``); this module
never builds a payload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from simulators.common import basic_auth_header, station_url, utc_now
from simulators.fleet.intents import (
    Answer,
    AuthorizationAnswer,
    AuthorizeRequest,
    BootAnswer,
    BootRequest,
    ChangeAvailability,
    ChangeConfiguration,
    ClearCache,
    CommandOutcome,
    GetConfiguration,
    HeartbeatRequest,
    LocalTransaction,
    MeterReport,
    RemoteStart,
    RemoteStop,
    Request,
    ResetStation,
    ServerCommand,
    StartAnswer,
    StatusReport,
    TransactionStart,
    TransactionStop,
    TriggerMessage,
    UnlockConnector,
)
from simulators.fleet.link import CallRejected, CallTimeout, CommandRejected, LinkClosed, OcppLink
from simulators.fleet.metrics import FleetMetrics
from simulators.fleet.outbox import QueuedMessage, TransactionOutbox
from simulators.fleet.scenario import Scenario
from simulators.fleet.v16 import EncodedCall
from simulators.meter import MeterModel, MeterSample

__all__ = ["Encoding", "SimulatedStation", "StationSettings"]

_log = logging.getLogger(__name__)

_FAULT_CODES = ("GroundFailure", "OverCurrentFailure", "PowerSwitchFailure", "OtherError")
# A connector that could not start (offline without a cached tag, not booted yet)
# tries again after this long.
_RETRY_ARRIVAL_SECONDS = 5.0
_FINISHING_SECONDS = (1.0, 3.0)
_RESET_REBOOT_SECONDS = 1.0
_FORMATION_VIOLATION = "FormationViolation"


class Encoding(Protocol):
    """What a station needs from an OCPP version's encoding (see ``v16.Ocpp16Encoding``)."""

    subprotocol: str
    not_implemented: str
    internal_error: str

    def encode(self, request: Request) -> EncodedCall: ...

    def decode_answer(self, request: Request, payload: Any) -> Answer: ...

    def decode_command(self, action: str, payload: dict[str, Any]) -> ServerCommand | None: ...

    def encode_outcome(self, command: ServerCommand, outcome: CommandOutcome) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class StationSettings:
    """What every station of a fleet shares."""

    url: str
    connectors: int
    scenario: Scenario
    encoding: Encoding
    vendor: str = "FleetSim"
    model: str = "Fleet-22"
    firmware: str = "1.0"


@dataclass(eq=False, slots=True)
class _Connector:
    number: int
    id_tag: str
    meter: MeterModel
    state: str = "idle"
    """idle, charging, finishing or faulted."""
    status: str = "Available"
    error_code: str = "NoError"
    operative: bool = True
    scheduled_operative: bool | None = None
    """A ChangeAvailability answered Scheduled, applied when the session ends."""
    next_at: float = math.inf
    ends_at: float = math.inf
    last_advance: float = 0.0
    transaction: LocalTransaction | None = None
    begin: MeterSample | None = None
    remote_tag: str | None = None
    stop_reason: str | None = None
    """Set by a command (Remote, UnlockCommand, ...) to end the session at the next tick."""


_CONFIGURATION_READONLY = {"NumberOfConnectors", "SupportedFeatureProfiles"}
_CONFIGURATION_DEFAULTS = {
    "AuthorizeRemoteTxRequests": "false",
    "ClockAlignedDataInterval": "0",
    "ConnectionTimeOut": "60",
    "LocalAuthorizeOffline": "true",
    "LocalPreAuthorize": "false",
    "MeterValuesSampledData": "",
    "StopTransactionOnInvalidId": "true",
    "SupportedFeatureProfiles": "Core,RemoteTrigger",
    "TransactionMessageAttempts": "",
    "TransactionMessageRetryInterval": "",
}


class SimulatedStation:
    """A charger with ``settings.connectors`` connectors, run by :meth:`run`."""

    def __init__(
        self,
        index: int,
        station_id: str,
        id_tags: list[str],
        password: str | None,
        settings: StationSettings,
        metrics: FleetMetrics,
        rng: random.Random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.index = index
        self.station_id = station_id
        self.password = password
        self.settings = settings
        self.scenario = settings.scenario
        self.encoding = settings.encoding
        self.metrics = metrics
        self.rng = rng
        self.clock = clock
        delivery = self.scenario.delivery
        self.outbox = TransactionOutbox(
            delivery.transaction_message_attempts, delivery.retry_interval_seconds
        )
        self.connectors = [
            _Connector(number, id_tags[number - 1], MeterModel(energy_wh=rng.uniform(0, 5e6)))
            for number in range(1, settings.connectors + 1)
        ]
        self.link: OcppLink | None = None
        self.ever_connected = False
        self.booted_once = False
        self.booted = False
        self.boot_retry_at = 0.0
        self.reconnect_at = 0.0
        self.heartbeat_interval = 300.0
        self.meter_interval = self.scenario.sessions.meter_interval_seconds
        self.next_heartbeat = math.inf
        self.disconnect_at = math.inf
        self.fault_at = math.inf
        self.reset_pending: bool | None = None
        """None, or True/False for a hard/soft Reset answered Accepted."""
        self.operative = True
        self.pending_calls: list[Request] = []
        """Status notifications and triggered messages: sent when online, not kept offline."""
        self.auth_cache: set[str] = set()
        self.configuration: dict[str, str] = {}
        self.stop_requested = False
        self.ending_deadline = math.inf
        self._wake = asyncio.Event()
        self._connecting: asyncio.Future[ClientConnection] | None = None
        self._local_ids = 0

    # -- the loop -------------------------------------------------------------------------

    def request_stop(self) -> None:
        """End the run: stop the sessions, deliver what is queued, disconnect."""
        self.stop_requested = True
        self._wake.set()
        if self._connecting is not None and not self.outbox:
            # a handshake that hangs (a server that does not answer) would hold the end up
            self._connecting.cancel()

    async def run(self) -> None:
        now = self.clock()
        self._schedule_chaos(now)
        for connector in self.connectors:
            connector.next_at = now + self._first_arrival()
        try:
            while True:
                now = self.clock()
                if self.stop_requested and self.ending_deadline == math.inf:
                    self._begin_ending(now)
                try:
                    await self._step(now)
                except LinkClosed:
                    self._link_lost()
                if self.ending_deadline != math.inf and (
                    self._delivered_everything() or self.clock() >= self.ending_deadline
                ):
                    break
                await self._sleep_until(self._next_due())
        finally:
            await self._shut_down()

    async def _step(self, now: float) -> None:
        if self.link is not None and self.link.closed:
            self._link_lost()
        if self.link is None and now >= self.reconnect_at:
            await self._connect(now)
        await self._advance_connectors(now)
        if self.link is not None:
            await self._talk(self.clock())
        now = self.clock()
        if self.link is not None and self.reset_pending is not None:
            await self._reset(now)
        if self.ending_deadline != math.inf:
            return
        if now >= self.fault_at:
            self._fault(now)
        if self.link is not None and self.booted and now >= self.disconnect_at:
            await self._disconnect_planned(now)

    def _next_due(self) -> float:
        due = [connector.next_at for connector in self.connectors]
        due.append(self.ending_deadline)
        if self.link is None:
            due.append(self.reconnect_at)
        elif not self.booted:
            due.append(self.boot_retry_at)
        else:
            due.append(self.next_heartbeat)
            due.append(self.disconnect_at)
            retry = self.outbox.next_attempt_at()
            if retry is not None:
                due.append(retry)
        due.append(self.fault_at)
        return min(due)

    async def _sleep_until(self, moment: float) -> None:
        delay = moment - self.clock()
        if delay > 0 and not self._wake.is_set():
            try:
                async with asyncio.timeout(None if math.isinf(delay) else delay):
                    await self._wake.wait()
            except TimeoutError:
                pass
        self._wake.clear()

    def _delivered_everything(self) -> bool:
        # statuses are not kept offline, so an offline station with an empty outbox is done
        return not self.outbox and (self.link is None or not self.pending_calls)

    def _begin_ending(self, now: float) -> None:
        self.ending_deadline = now + self.scenario.delivery.drain_timeout_seconds
        for connector in self.connectors:
            if connector.state == "charging":
                self._stop_session(connector, "Local", now)
            connector.next_at = math.inf
        # a station that is offline now reconnects to deliver its queue
        self.reconnect_at = min(self.reconnect_at, now)

    async def _shut_down(self) -> None:
        accounting = self.metrics.accounting
        accounting.transaction_messages_undelivered += len(self.outbox)
        for connector in self.connectors:
            if connector.state == "charging":
                self.metrics.charging -= 1
        if self.link is not None:
            await self._close_link()

    # -- the socket -----------------------------------------------------------------------

    async def _connect(self, now: float) -> None:
        metrics = self.metrics
        metrics.connections_attempted += 1
        headers = {}
        if self.password is not None:
            headers["Authorization"] = basic_auth_header(self.station_id, self.password)
        connecting = asyncio.ensure_future(
            connect(
                station_url(self.settings.url, self.station_id),
                subprotocols=[Subprotocol(self.encoding.subprotocol)],
                additional_headers=headers,
                compression=None,
                open_timeout=self.scenario.delivery.response_timeout_seconds,
                # the server pings; a simulated charger need not ping back on its own
                ping_interval=None,
                close_timeout=2,
            )
        )
        self._connecting = connecting
        try:
            socket = await connecting
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            # request_stop abandoned the attempt: nothing is waiting to be delivered
            metrics.connections_failed["abandoned at the end"] += 1
            return
        except InvalidStatus as refused:
            metrics.connections_refused[refused.response.status_code] += 1
            self._retry_connect_later(now)
            return
        except (OSError, TimeoutError, InvalidHandshake) as failed:
            metrics.connections_failed[_failure_kind(failed)] += 1
            self._retry_connect_later(now)
            return
        finally:
            self._connecting = None
        if socket.subprotocol != self.encoding.subprotocol:
            metrics.connections_failed["no subprotocol"] += 1
            await socket.close()
            self._retry_connect_later(now)
            return
        metrics.connections_succeeded += 1
        metrics.connected += 1
        if self.ever_connected:
            metrics.reconnects += 1
        self.ever_connected = True
        self.link = OcppLink(
            socket,
            self.station_id,
            metrics,
            self.answer_server_call,
            on_closed=self._wake.set,
            clock=self.clock,
        )
        self.link.start()
        # after a reconnect the server hears the current state, not the history
        self.pending_calls = [] if not self.booted else self._all_statuses()

    def _retry_connect_later(self, now: float) -> None:
        self.reconnect_at = now + self.scenario.delivery.reconnect_backoff.draw(self.rng)

    def _link_lost(self) -> None:
        """The server or the network closed the socket."""
        if self.link is None:
            return
        self.metrics.disconnects["server"] += 1
        self._forget_link()
        self._retry_connect_later(self.clock())

    def _forget_link(self) -> None:
        self.link = None
        self.outbox.mark_waiting()
        self.metrics.connected -= 1
        self.pending_calls = []

    async def _close_link(self) -> None:
        link = self.link
        if link is None:
            return
        self._forget_link()
        await link.close()

    async def _disconnect_planned(self, now: float) -> None:
        """The scenario's network outage: between calls, so nothing is in flight."""
        self.metrics.disconnects["planned"] += 1
        await self._close_link()
        self.reconnect_at = now + self.scenario.reconnects.offline.draw(self.rng)
        self.disconnect_at = self._after_rate(now, self.scenario.reconnects.per_station_hour)

    async def _reset(self, now: float) -> None:
        hard = self.reset_pending
        self.reset_pending = None
        for connector in self.connectors:
            if connector.state == "charging":
                self._stop_session(connector, "HardReset" if hard else "SoftReset", now)
        if not hard:
            # a soft reset delivers the StopTransactions before rebooting
            await self._talk(self.clock())
        self.metrics.disconnects["reset"] += 1
        await self._close_link()
        self.booted = False
        self.reconnect_at = now + _RESET_REBOOT_SECONDS

    # -- calls ----------------------------------------------------------------------------

    async def _call(self, request: Request) -> Answer:
        link = self.link
        if link is None:
            raise LinkClosed("offline", sent=False)
        encoded = self.encoding.encode(request)
        payload = await link.call(
            encoded.action, encoded.payload, self.scenario.delivery.response_timeout_seconds
        )
        return self.encoding.decode_answer(request, payload)

    async def _talk(self, now: float) -> None:
        """Boot if needed, then send what waits: statuses, the outbox, a heartbeat."""
        if not self.booted and (now < self.boot_retry_at or not await self._boot(now)):
            return
        while self.pending_calls and self.link is not None:
            request = self.pending_calls.pop(0)
            # a failed status is counted by the link; it is not worth a retry
            with contextlib.suppress(CallTimeout, CallRejected):
                await self._call(request)
        while self.link is not None and (queued := self.outbox.head(self.clock())) is not None:
            if not await self._deliver(queued):
                break
        now = self.clock()
        if self.link is not None and now >= self.next_heartbeat:
            self.next_heartbeat = now + self.heartbeat_interval
            with contextlib.suppress(CallTimeout, CallRejected):
                await self._call(HeartbeatRequest())

    async def _boot(self, now: float) -> bool:
        settings = self.settings
        request = BootRequest(
            settings.vendor, settings.model, f"SN-{self.index}", settings.firmware
        )
        try:
            answer = await self._call(request)
        except (CallTimeout, CallRejected):
            self.boot_retry_at = now + self.scenario.delivery.reconnect_backoff.draw(self.rng)
            return False
        assert isinstance(answer, BootAnswer)
        if answer.status != "Accepted":
            # Pending or Rejected: the interval says when to try again
            self.boot_retry_at = self.clock() + max(1.0, answer.interval_seconds)
            return False
        self.booted = True
        if not self.booted_once:
            self.booted_once = True
            self.metrics.booted += 1
        heartbeats = self.scenario.heartbeats
        # an interval of 0 leaves the choice to the charger: 1.6's usual default
        interval = answer.interval_seconds if answer.interval_seconds > 0 else 300.0
        self.heartbeat_interval = max(heartbeats.min_seconds, interval * heartbeats.scale)
        self.next_heartbeat = self.clock() + self.heartbeat_interval
        self.pending_calls = self._all_statuses()
        return True

    async def _deliver(self, queued: QueuedMessage) -> bool:
        """Send the outbox's head; True when it was answered."""
        message = queued.message
        encoded = self.encoding.encode(message)
        assert self.link is not None
        try:
            payload = await self.link.call(
                encoded.action, encoded.payload, self.scenario.delivery.response_timeout_seconds
            )
        except LinkClosed as closed:
            if closed.sent:
                self.outbox.unanswered()
            raise
        except (CallTimeout, CallRejected) as failed:
            maybe_stored = isinstance(failed, CallTimeout) or (
                failed.code == self.encoding.internal_error
            )
            dropped = self.outbox.failed(self.clock(), maybe_stored=maybe_stored)
            self.metrics.accounting.transaction_messages_dropped += len(dropped)
            return False
        try:
            answer = self.encoding.decode_answer(message, payload)
        except (KeyError, TypeError, ValueError) as malformed:
            _log.warning("%s: malformed %s answer: %s", self.station_id, encoded.action, malformed)
            dropped = self.outbox.failed(self.clock(), maybe_stored=True)
            self.metrics.accounting.transaction_messages_dropped += len(dropped)
            return False
        self.outbox.delivered()
        self._account(queued, encoded, answer)
        return True

    def _account(self, queued: QueuedMessage, encoded: EncodedCall, answer: Answer) -> None:
        accounting = self.metrics.accounting
        message = queued.message
        if queued.waited or queued.attempts or queued.maybe_stored:
            accounting.transaction_messages_resent += 1
        if isinstance(message, TransactionStart):
            assert isinstance(answer, StartAnswer)
            message.transaction.server_id = answer.transaction_id
            accounting.transaction_ids.add(answer.transaction_id)
            if answer.status != "Accepted":
                accounting.id_tag_refusals[answer.status] += 1
                self._deauthorized(message.transaction)
        elif isinstance(message, MeterReport):
            accounting.meter_values_accepted += encoded.meter_rows
            if queued.maybe_stored:
                accounting.maybe_duplicated_rows += encoded.meter_rows
        elif isinstance(message, TransactionStop):
            accounting.stops_answered += 1
            accounting.meter_values_accepted += encoded.meter_rows
            if message.transaction.server_id is not None:
                accounting.stopped_transaction_ids.add(message.transaction.server_id)

    def _deauthorized(self, transaction: LocalTransaction) -> None:
        """The start was answered with a refused tag: a charger ends such a transaction."""
        for connector in self.connectors:
            if connector.transaction is transaction and connector.state == "charging":
                connector.stop_reason = "DeAuthorized"
                connector.next_at = self.clock()

    # -- connectors and sessions ----------------------------------------------------------

    async def _advance_connectors(self, now: float) -> None:
        for connector in self.connectors:
            if connector.next_at > now:
                continue
            if connector.state == "idle":
                await self._arrival(connector, now)
            elif connector.state == "charging":
                self._meter_tick(connector, now)
            elif connector.state == "finishing":
                self._set_status(connector, "Available" if connector.operative else "Unavailable")
                connector.state = "idle"
                connector.next_at = now + self._idle_gap()
            elif connector.state == "faulted":
                connector.error_code = "NoError"
                self._set_status(connector, "Available" if connector.operative else "Unavailable")
                connector.state = "idle"
                connector.next_at = now + self._idle_gap()

    async def _arrival(self, connector: _Connector, now: float) -> None:
        """A car is plugged in (or a remote start came): authorise and start a session."""
        sessions = self.scenario.sessions
        if not connector.operative or not self.operative or not self.booted_once:
            connector.next_at = now + _RETRY_ARRIVAL_SECONDS
            return
        remote = connector.remote_tag is not None
        tag = connector.remote_tag or connector.id_tag
        online = self.link is not None and self.booted
        if not online and not (sessions.start_offline and tag in self.auth_cache):
            connector.next_at = now + _RETRY_ARRIVAL_SECONDS
            return
        connector.remote_tag = None
        # the server vouched for a remote start's tag (AuthorizeRemoteTxRequests is false)
        if online and sessions.authorize and not remote:
            self._set_status(connector, "Preparing")
            await self._talk(now)
            try:
                answer = await self._call(AuthorizeRequest(tag))
            except (CallTimeout, CallRejected):
                self._set_status(connector, "Available")
                connector.next_at = self.clock() + _RETRY_ARRIVAL_SECONDS
                return
            assert isinstance(answer, AuthorizationAnswer)
            if answer.status != "Accepted":
                self.metrics.accounting.id_tag_refusals[answer.status] += 1
                self._set_status(connector, "Available")
                connector.next_at = self.clock() + self._idle_gap()
                return
            self.auth_cache.add(tag)
        self._start_session(connector, tag, self.clock())

    def _start_session(self, connector: _Connector, tag: str, now: float) -> None:
        sessions = self.scenario.sessions
        meter = connector.meter
        meter.plug_in(soc_percent=self.rng.uniform(10, 60))
        meter.set_power(self.rng.choice(sessions.power_kw) * 1000)
        self._local_ids += 1
        transaction = LocalTransaction(
            local_id=self._local_ids,
            connector_id=connector.number,
            id_tag=tag,
            meter_start_wh=meter.register_wh,
            started_at=utc_now(),
        )
        connector.transaction = transaction
        connector.begin = meter.sample(transaction.started_at)
        connector.state = "charging"
        connector.last_advance = now
        connector.ends_at = now + sessions.duration.draw(self.rng)
        connector.next_at = min(now + self.meter_interval, connector.ends_at)
        connector.stop_reason = None
        self._enqueue(TransactionStart(transaction))
        self._set_status(connector, "Charging")
        self.metrics.accounting.sessions_started += 1
        if self.link is None:
            self.metrics.accounting.sessions_started_offline += 1
        self.metrics.charging += 1

    def _meter_tick(self, connector: _Connector, now: float) -> None:
        connector.meter.advance(now - connector.last_advance)
        connector.last_advance = now
        if connector.stop_reason is not None or now >= connector.ends_at:
            reason = connector.stop_reason or self._stop_reason()
            self._stop_session(connector, reason, now)
            return
        assert connector.transaction is not None
        self._enqueue(
            MeterReport(
                connector.number,
                connector.transaction,
                (connector.meter.sample(),),
                self.scenario.sessions.measurands,
            )
        )
        connector.next_at = min(now + self.meter_interval, connector.ends_at)

    def _stop_session(self, connector: _Connector, reason: str, now: float) -> None:
        transaction = connector.transaction
        assert transaction is not None and connector.begin is not None
        connector.meter.advance(now - connector.last_advance)
        end = connector.meter.sample()
        self._enqueue(
            TransactionStop(
                transaction,
                meter_stop_wh=end.energy_wh,
                stopped_at=end.timestamp,
                reason=reason,
                begin=connector.begin,
                end=end,
                measurands=self.scenario.sessions.measurands,
            )
        )
        connector.meter.unplug()
        connector.transaction = None
        connector.begin = None
        connector.stop_reason = None
        connector.state = "finishing"
        connector.ends_at = math.inf
        connector.next_at = now + self.rng.uniform(*_FINISHING_SECONDS)
        if connector.scheduled_operative is not None:
            connector.operative = connector.scheduled_operative
            connector.scheduled_operative = None
        self._set_status(connector, "Finishing")
        self.metrics.accounting.sessions_stopped += 1
        self.metrics.charging -= 1

    def _enqueue(self, message: TransactionStart | MeterReport | TransactionStop) -> None:
        if message.transaction is not None and message.transaction.start_dropped:
            # the server never numbered this transaction: nothing of it can be sent
            self.metrics.accounting.transaction_messages_dropped += 1
            return
        self.outbox.append(message, waited=self.link is None)
        self._wake.set()

    def _fault(self, now: float) -> None:
        self.fault_at = self._after_rate(now, self.scenario.faults.per_station_hour)
        connector = self.rng.choice(self.connectors)
        if connector.state == "faulted":
            return
        if connector.state == "charging":
            self._stop_session(connector, "Other", now)
        self.metrics.faults += 1
        connector.state = "faulted"
        connector.error_code = self.rng.choice(_FAULT_CODES)
        self._set_status(connector, "Faulted")
        connector.next_at = now + self.scenario.faults.duration.draw(self.rng)

    def _set_status(self, connector: _Connector, status: str) -> None:
        connector.status = status
        if self.link is not None and self.booted:
            self.pending_calls.append(self._status_report(connector))
            self._wake.set()

    def _status_report(self, connector: _Connector) -> StatusReport:
        return StatusReport(connector.number, connector.status, connector.error_code, utc_now())

    def _all_statuses(self) -> list[Request]:
        station_status = "Available" if self.operative else "Unavailable"
        reports: list[Request] = [StatusReport(0, station_status, "NoError", utc_now())]
        reports.extend(self._status_report(connector) for connector in self.connectors)
        return reports

    # -- randomness -----------------------------------------------------------------------

    def _schedule_chaos(self, now: float) -> None:
        self.fault_at = self._after_rate(now, self.scenario.faults.per_station_hour)
        self.disconnect_at = self._after_rate(now, self.scenario.reconnects.per_station_hour)

    def _after_rate(self, now: float, per_hour: float) -> float:
        return now + self.rng.expovariate(per_hour / 3600) if per_hour > 0 else math.inf

    def _idle_gap(self) -> float:
        """Time until the next car, so that ``charging_fraction`` of the time is charging."""
        sessions = self.scenario.sessions
        fraction = sessions.charging_fraction
        if fraction <= 0:
            return math.inf
        busy = sessions.duration.expected + sum(_FINISHING_SECONDS) / 2
        mean_gap = busy * (1 - fraction) / fraction
        return self.rng.expovariate(1 / mean_gap) if mean_gap > 0 else 0.0

    def _first_arrival(self) -> float:
        sessions = self.scenario.sessions
        if self.rng.random() < sessions.charging_fraction:
            # charging from the start, after the boot; spread so meter values do not beat in step
            return self.rng.uniform(0, min(5.0, sessions.meter_interval_seconds))
        return self._idle_gap()

    def _stop_reason(self) -> str:
        reasons = self.scenario.sessions.stop_reasons
        return self.rng.choices([r for r, _ in reasons], weights=[w for _, w in reasons])[0]

    # -- the server's calls ---------------------------------------------------------------

    def answer_server_call(self, action: str, payload: Any) -> dict[str, Any]:
        """The CALLRESULT payload for a server's call; CommandRejected gives a CALLERROR."""
        if not isinstance(payload, dict):
            raise CommandRejected(_FORMATION_VIOLATION, "the payload is not an object")
        try:
            command = self.encoding.decode_command(action, payload)
        except (KeyError, TypeError, ValueError) as malformed:
            raise CommandRejected(_FORMATION_VIOLATION, str(malformed)) from None
        if command is None:
            raise CommandRejected(self.encoding.not_implemented, f"{action} is not implemented")
        outcome = self.obey(command)
        self._wake.set()
        return self.encoding.encode_outcome(command, outcome)

    def obey(self, command: ServerCommand) -> CommandOutcome:
        """What the station does with a server command; the loop carries it out."""
        now = self.clock()
        match command:
            case RemoteStart():
                return self._remote_start(command, now)
            case RemoteStop():
                for connector in self.connectors:
                    transaction = connector.transaction
                    if transaction is not None and transaction.server_id == command.transaction_id:
                        connector.stop_reason = "Remote"
                        connector.next_at = now
                        return CommandOutcome("Accepted")
                return CommandOutcome("Rejected")
            case ResetStation():
                self.reset_pending = command.hard
                return CommandOutcome("Accepted")
            case ChangeAvailability():
                return self._change_availability(command)
            case GetConfiguration():
                return self._get_configuration(command.keys)
            case ChangeConfiguration():
                return CommandOutcome(self._change_configuration(command.key, command.value))
            case TriggerMessage():
                return CommandOutcome(self._trigger(command))
            case UnlockConnector():
                unlocked = self._connector(command.connector_id)
                if unlocked is None:
                    return CommandOutcome("NotSupported")
                if unlocked.state == "charging":
                    unlocked.stop_reason = "UnlockCommand"
                    unlocked.next_at = now
                return CommandOutcome("Unlocked")
            case ClearCache():
                self.auth_cache.clear()
                return CommandOutcome("Accepted")
        return CommandOutcome("Rejected")

    def _connector(self, number: int | None) -> _Connector | None:
        if number is None or not 1 <= number <= len(self.connectors):
            return None
        return self.connectors[number - 1]

    def _remote_start(self, command: RemoteStart, now: float) -> CommandOutcome:
        if command.connector_id is None:
            candidates = [c for c in self.connectors if c.state == "idle" and c.operative]
        else:
            chosen = self._connector(command.connector_id)
            candidates = [chosen] if chosen is not None else []
        connector = next(
            (c for c in candidates if c.state == "idle" and c.operative and c.remote_tag is None),
            None,
        )
        if connector is None or not self.operative:
            return CommandOutcome("Rejected")
        connector.remote_tag = command.id_tag
        self.auth_cache.add(command.id_tag)
        connector.next_at = now
        return CommandOutcome("Accepted")

    def _change_availability(self, command: ChangeAvailability) -> CommandOutcome:
        if command.connector_id == 0:
            targets = self.connectors
            self.operative = command.operative
            if self.link is not None and self.booted:
                status = "Available" if command.operative else "Unavailable"
                self.pending_calls.append(StatusReport(0, status, "NoError", utc_now()))
        else:
            connector = self._connector(command.connector_id)
            if connector is None:
                return CommandOutcome("Rejected")
            targets = [connector]
        scheduled = False
        for connector in targets:
            if connector.state == "charging":
                connector.scheduled_operative = command.operative
                scheduled = True
                continue
            connector.operative = command.operative
            if connector.state == "idle":
                self._set_status(connector, "Available" if command.operative else "Unavailable")
        return CommandOutcome("Scheduled" if scheduled else "Accepted")

    def _configuration_values(self) -> dict[str, str]:
        delivery = self.scenario.delivery
        values = dict(_CONFIGURATION_DEFAULTS)
        values |= {
            "HeartbeatInterval": str(round(self.heartbeat_interval)),
            "MeterValueSampleInterval": str(round(self.meter_interval)),
            "MeterValuesSampledData": ",".join(self.scenario.sessions.measurands),
            "NumberOfConnectors": str(len(self.connectors)),
            "TransactionMessageAttempts": str(delivery.transaction_message_attempts),
            "TransactionMessageRetryInterval": str(round(delivery.retry_interval_seconds)),
        }
        values |= self.configuration
        return values

    def _get_configuration(self, keys: tuple[str, ...]) -> CommandOutcome:
        values = self._configuration_values()
        wanted = keys or tuple(sorted(values))
        known = tuple(
            (key, values[key], key in _CONFIGURATION_READONLY) for key in wanted if key in values
        )
        unknown = tuple(key for key in wanted if key not in values)
        return CommandOutcome("Accepted", configuration=known, unknown_keys=unknown)

    def _change_configuration(self, key: str, value: str) -> str:
        values = self._configuration_values()
        if key not in values:
            return "NotSupported"
        if key in _CONFIGURATION_READONLY:
            return "Rejected"
        if key in ("HeartbeatInterval", "MeterValueSampleInterval"):
            try:
                seconds = int(value)
            except ValueError:
                return "Rejected"
            if seconds < 0:
                return "Rejected"
            if key == "HeartbeatInterval":
                self.heartbeat_interval = max(self.scenario.heartbeats.min_seconds, seconds)
                self.next_heartbeat = min(self.next_heartbeat, self.clock() + seconds)
            elif seconds > 0:
                self.meter_interval = float(seconds)
            return "Accepted"
        self.configuration[key] = value
        return "Accepted"

    def _trigger(self, command: TriggerMessage) -> str:
        if command.connector_id is not None and (
            command.connector_id != 0 and self._connector(command.connector_id) is None
        ):
            return "Rejected"
        match command.message:
            case "BootNotification":
                self.booted = False
                self.boot_retry_at = 0.0
            case "Heartbeat":
                self.next_heartbeat = self.clock()
            case "StatusNotification":
                if command.connector_id is None:
                    self.pending_calls.extend(self._all_statuses())
                elif command.connector_id == 0:
                    self.pending_calls.append(self._all_statuses()[0])
                else:
                    connector = self.connectors[command.connector_id - 1]
                    self.pending_calls.append(self._status_report(connector))
            case "MeterValues":
                numbers = (
                    [command.connector_id]
                    if command.connector_id
                    else [c.number for c in self.connectors]
                )
                for number in numbers:
                    connector = self.connectors[number - 1]
                    report = MeterReport(
                        number,
                        connector.transaction,
                        (connector.meter.sample(),),
                        self.scenario.sessions.measurands,
                    )
                    if connector.transaction is not None:
                        self._enqueue(report)
                    else:
                        self.pending_calls.append(report)
            case _:
                return "NotImplemented"
        return "Accepted"


def _failure_kind(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, InvalidHandshake):
        return f"handshake: {type(error).__name__}"
    return type(error).__name__
