"""A simulated OCPP 1.6J charge point, built on the client side of the ``ocpp`` library.

Usage::

    async with connect16("ws://127.0.0.1:9000/ocpp", "CP-1", password="secret") as cp:
        await cp.boot()
        await cp.status(connector_id=1, status="Available")
        report = await cp.run_session(connector_id=1, id_tag="TAG1", duration=60)

The charge point sends what a charger sends (``boot``, ``status``, ``authorize``,
``start_transaction`` ..., or a whole charging session with ``run_session``) and
answers the calls a Central System makes, keeping plausible state: connectors with
their status, transaction, reservation and meter; configuration keys; the local
authorization list; charging profiles (which cap the simulated power).

Things a charger does on its own run as background tasks the charge point keeps a
reference to and cancels in :meth:`ChargePoint16.aclose`: the heartbeat loop after
an accepted boot, boot retries while Pending/Rejected, sessions started by
RemoteStartTransaction, the status notifications that follow an answer.

Only the simulator's own state is modelled; nothing is imported from the server.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from ocpp.charge_point import camel_to_snake_case
from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as _LibChargePoint
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
from websockets.typing import Subprotocol

from simulators.common import (
    BackgroundTasks,
    FrameObserver,
    TracingConnection,
    basic_auth_header,
    format_timestamp,
    merge_headers,
    parse_timestamp,
    station_url,
    utc_now,
    wait_event,
)
from simulators.meter import MeterModel, MeterSample
from simulators.ocpp16_config import ConfigurationStore16
from simulators.ocpp16_profiles import ChargingProfiles16, plain_numbers
from simulators.ocpp16_security import SecurityExtension16
from simulators.transfer import TransferError, download, is_http_location, upload

__all__ = [
    "ChargePoint16",
    "ConnectionLostError",
    "ConnectorBusyError",
    "ConnectorState",
    "MeterModel",
    "ReceivedCall",
    "Reservation",
    "SessionReport",
    "SimulatorError",
    "connect16",
    "meter_value",
    "sampled_values",
]

_log = logging.getLogger(__name__)

Job = Callable[[], Coroutine[Any, Any, Any]]
DataTransferHandler = Callable[[str, str | None, str | None], tuple[str, str | None]]

_CHARGING_STATES = ("Charging", "SuspendedEV", "SuspendedEVSE")


def authorization_key_password(value: str) -> str:
    """The basic-auth password an AuthorizationKey value stands for: the 1.6
    security whitepaper sends the password's bytes hex-encoded; a value that
    is no such hex (an older system setting the password as text) is the
    password itself."""
    try:
        decoded = bytes.fromhex(value).decode("ascii")
    except ValueError:
        return value
    return decoded if decoded.isprintable() and len(decoded) >= 1 else value


class SimulatorError(Exception):
    """Base class of the simulator's own errors (OCPP errors are ``ocpp.exceptions``)."""


class ConnectionLostError(SimulatorError, ConnectionError):
    """The websocket closed while a call was waiting for its answer (or before it was sent)."""


class ConnectorBusyError(SimulatorError):
    """A session cannot start on the connector (transaction, reservation, unavailable)."""


# --- meter values in the 1.6 format --------------------------------------------------------


def _sv(value: str, context: str, measurand: str, unit: str, **extra: str) -> dict[str, str]:
    return {
        "value": value,
        "context": context,
        "format": "Raw",
        "measurand": measurand,
        **extra,
        "unit": unit,
    }


def sampled_values(
    sample: MeterSample, measurands: Sequence[str], context: str
) -> list[dict[str, str]]:
    """The 1.6 ``sampledValue`` list for a meter sample and a list of measurands.

    Energy is the import register in Wh, power in W, current and voltage per phase,
    SoC (location EV) only while an EV is plugged in. Unknown measurands are skipped.
    """
    out: list[dict[str, str]] = []
    phases = len(sample.current_a)
    volts = sample.voltage_v[0] if sample.voltage_v else 230.0
    for measurand in measurands:
        if measurand == "Energy.Active.Import.Register":
            out.append(_sv(str(sample.energy_wh), context, measurand, "Wh", location="Outlet"))
        elif measurand == "Power.Active.Import":
            out.append(_sv(f"{sample.power_w:.1f}", context, measurand, "W", location="Outlet"))
        elif measurand == "Power.Offered":
            out.append(_sv(f"{sample.offered_w:.1f}", context, measurand, "W", location="Outlet"))
        elif measurand == "Current.Import":
            for n, amps in enumerate(sample.current_a, start=1):
                out.append(
                    _sv(f"{amps:.2f}", context, measurand, "A", phase=f"L{n}", location="Outlet")
                )
        elif measurand == "Current.Offered":
            amps = sample.offered_w / (volts * phases) if phases else 0.0
            out.append(_sv(f"{amps:.2f}", context, measurand, "A", location="Outlet"))
        elif measurand == "Voltage":
            for n, volt in enumerate(sample.voltage_v, start=1):
                out.append(
                    _sv(f"{volt:.1f}", context, measurand, "V", phase=f"L{n}-N", location="Outlet")
                )
        elif measurand == "SoC" and sample.soc_percent is not None:
            out.append(
                _sv(f"{sample.soc_percent:.1f}", context, measurand, "Percent", location="EV")
            )
        elif measurand == "Frequency":
            out.append(_sv(f"{sample.frequency_hz:.2f}", context, measurand, "Hertz"))
        elif measurand == "Temperature":
            out.append(
                _sv(f"{sample.temperature_c:.1f}", context, measurand, "Celsius", location="Body")
            )
    return out


def meter_value(sample: MeterSample, measurands: Sequence[str], context: str) -> dict[str, Any]:
    """One 1.6 ``meterValue`` entry (snake_case keys, as the ``ocpp`` library takes them)."""
    return {
        "timestamp": format_timestamp(sample.timestamp),
        "sampled_value": sampled_values(sample, measurands, context),
    }


# --- state ----------------------------------------------------------------------------------


@dataclass(eq=False)
class Reservation:
    reservation_id: int
    id_tag: str
    expiry: datetime
    parent_id_tag: str | None = None
    timer: asyncio.Task[Any] | None = None


@dataclass(eq=False)
class ConnectorState:
    """What the charge point knows about one connector."""

    connector_id: int
    meter: MeterModel
    status: str = "Available"
    error_code: str = "NoError"
    operative: bool = True
    pending_availability: str | None = None
    """A ChangeAvailability answered Scheduled, applied when the transaction ends."""
    transaction_id: int | None = None
    id_tag: str | None = None
    transaction_started: datetime | None = None
    meter_start: int | None = None
    reservation: Reservation | None = None
    claimed: bool = False
    """A RemoteStartTransaction was accepted; its session has not started yet."""
    session_active: bool = False
    stop_reason: str | None = None
    """Set to make the running session stop (Remote, UnlockCommand, SoftReset ...)."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.idle.set()

    @property
    def busy(self) -> bool:
        return self.claimed or self.session_active or self.transaction_id is not None

    def clear_transaction(self) -> None:
        self.transaction_id = None
        self.id_tag = None
        self.transaction_started = None
        self.meter_start = None


@dataclass
class SessionReport:
    """The outcome of :meth:`ChargePoint16.run_session`."""

    transaction_id: int | None
    """None when the id tag was refused before a transaction started."""
    id_tag_status: str
    meter_start: int
    meter_stop: int
    meter_values_sent: int = 0
    """Number of MeterValues calls."""
    sampled_values_sent: int = 0
    """Sampled values in those calls plus those in StopTransaction.transactionData."""
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    connector_id: int = 1
    id_tag: str = ""
    stop_reason: str | None = None

    @property
    def energy_wh(self) -> int:
        return self.meter_stop - self.meter_start

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: times as OCPP date-time strings, plus ``energy_wh``."""
        data = asdict(self)
        for key in ("started_at", "stopped_at"):
            value = data[key]
            data[key] = None if value is None else format_timestamp(value)
        data["energy_wh"] = self.energy_wh
        return data


# --- the charge point -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceivedCall:
    """A call the Central System made (payload snake_case, as handlers get it)."""

    action: str
    payload: dict[str, Any]
    at: datetime


class ChargePoint16(_LibChargePoint, SecurityExtension16):
    """An OCPP 1.6J charge point with ``connectors`` connectors (ids 1..n; 0 is the station).

    Requests return the library's ``call_result`` dataclasses (snake_case fields;
    nested objects are plain dicts). A CALLERROR from the server raises the matching
    ``ocpp.exceptions.OCPPError``; so does an answer that fails the 1.6 JSON schema.
    A call on a closed connection raises :class:`ConnectionLostError`.

    Behaviour knobs (constructor keywords): ``power_w`` and ``remote_session_duration``
    (None: until stopped) for sessions a server starts; ``max_power_w`` is the
    hardware limit; ``firmware_outcome`` / ``diagnostics_outcome`` choose how
    UpdateFirmware / GetDiagnostics end; ``reboot_on_reset`` makes Reset re-boot over
    the same connection; ``configuration`` overrides configuration key values.

    UpdateFirmware and SignedUpdateFirmware really download an http(s) location;
    GetDiagnostics and GetLog really upload to one (HTTP POST, multipart field
    ``file``); ``ca_certificates`` (PEM) is trusted for https and for
    :meth:`client_ssl_context`. Every call of the Central System is in ``received``.
    """

    def __init__(
        self,
        id: str,
        connection: Any,
        *,
        connectors: int = 1,
        response_timeout: float = 30,
        logger: logging.Logger | None = None,
        password: str | None = None,
        configuration: Mapping[str, str] | None = None,
        power_w: float = 11_000.0,
        max_power_w: float = 22_000.0,
        voltage_v: float = 230.0,
        phases: int = 3,
        ev_battery_wh: float = 60_000.0,
        ev_initial_soc: float = 20.0,
        remote_session_duration: float | None = None,
        remote_meter_interval: float | None = None,
        firmware_step_delay: float = 0.5,
        firmware_outcome: str = "Installed",
        diagnostics_step_delay: float = 0.5,
        diagnostics_outcome: str = "Uploaded",
        reboot_on_reset: bool = True,
        reboot_delay: float = 0.1,
        boot_retry_fallback: float = 30.0,
        ca_certificates: str | None = None,
        verify_firmware_signature: bool = True,
    ) -> None:
        if connectors < 1:
            raise ValueError("a charge point has at least one connector")
        kwargs: dict[str, Any] = {"response_timeout": response_timeout}
        if logger is not None:
            kwargs["logger"] = logger
        super().__init__(id, connection, **kwargs)
        self.password = password
        self.config = ConfigurationStore16(connectors, configuration)
        self.profiles = ChargingProfiles16(
            max_stack_level=self.config.get_int("ChargeProfileMaxStackLevel", 8),
            max_profiles=self.config.get_int("MaxChargingProfilesInstalled", 16),
            max_periods=self.config.get_int("ChargingScheduleMaxPeriods", 24),
        )
        self.connectors: dict[int, ConnectorState] = {
            n: ConnectorState(
                n, MeterModel(voltage_v=voltage_v, phases=phases, battery_wh=ev_battery_wh)
            )
            for n in range(1, connectors + 1)
        }
        self.station_status = "Available"
        self.station_error_code = "NoError"
        self.power_w = power_w
        self.max_power_w = max_power_w
        self.ev_battery_wh = ev_battery_wh
        self.ev_initial_soc = ev_initial_soc
        self.remote_session_duration = remote_session_duration
        self.remote_meter_interval = remote_meter_interval
        self.firmware_step_delay = firmware_step_delay
        self.firmware_outcome = firmware_outcome
        self.diagnostics_step_delay = diagnostics_step_delay
        self.diagnostics_outcome = diagnostics_outcome
        self.reboot_on_reset = reboot_on_reset
        self.reboot_delay = reboot_delay
        self.boot_retry_fallback = boot_retry_fallback

        self.vendor = "SimVendor"
        self._boot_request = call.BootNotification(
            charge_point_vendor=self.vendor, charge_point_model="Sim-1", firmware_version="1.0"
        )
        self.registration_status: str | None = None
        self.boot_result: Any = None
        self.accepted = asyncio.Event()
        self.heartbeat_interval: float = float(self.config.get_int("HeartbeatInterval", 300))
        self.server_time: str | None = None
        self.auth_cache: dict[str, dict[str, Any]] = {}
        self.local_list: dict[str, dict[str, Any]] = {}
        self.local_list_version = 0
        self.firmware_state = "Idle"
        self.diagnostics_state = "Idle"
        self.resets: list[str] = []
        self.sessions: deque[SessionReport] = deque(maxlen=100)
        self.data_transfer_handler: DataTransferHandler | None = None
        self.websocket: Any = None
        """The websockets connection, when opened by :func:`connect16`."""
        self.received: list[ReceivedCall] = []
        self.firmware_statuses: list[str] = []
        self._init_security(
            ca_certificates=ca_certificates, verify_firmware_signature=verify_firmware_signature
        )

        self._tasks = BackgroundTasks(_log, id, quiet=(ConnectionLostError, ConnectionClosed))
        self._deferred: dict[str, tuple[str, Job]] = {}
        self._heartbeat_task: asyncio.Task[Any] | None = None
        self._heartbeat_changed = asyncio.Event()
        self._boot_retry_task: asyncio.Task[Any] | None = None
        self._lost: asyncio.Future[BaseException | None] | None = None
        self._closed = False

    # --- connection ---------------------------------------------------------------------

    async def start(self) -> None:
        """Receive and route frames until the connection closes (then pending calls fail)."""
        try:
            await super().start()
        except BaseException as exc:
            self._mark_lost(exc)
            raise
        self._mark_lost(None)

    def _lost_future(self) -> asyncio.Future[BaseException | None]:
        if self._lost is None:
            self._lost = asyncio.get_running_loop().create_future()
        return self._lost

    def _mark_lost(self, exc: BaseException | None) -> None:
        lost = self._lost_future()
        if not lost.done():
            lost.set_result(exc)

    @property
    def connection_lost(self) -> bool:
        return self._lost is not None and self._lost.done()

    async def wait_connection_lost(self) -> BaseException | None:
        """Wait until the receive loop ends; returns why (None if it just returned)."""
        return await asyncio.shield(self._lost_future())

    async def call(
        self,
        payload: Any,
        suppress: bool = True,
        unique_id: str | None = None,
        skip_schema_validation: bool = False,
    ) -> Any:
        """The library's ``call``, failing fast with ConnectionLostError when the socket closes.

        (The library alone would wait for the full response timeout.)
        """
        lost = self._lost_future()
        action = type(payload).__name__
        if lost.done():
            raise ConnectionLostError(f"{self.id}: connection closed, cannot send {action}")
        request = asyncio.ensure_future(
            super().call(
                payload,
                suppress=suppress,
                unique_id=unique_id,
                skip_schema_validation=skip_schema_validation,
            )
        )
        try:
            await asyncio.wait((request, lost), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            request.cancel()
            raise
        if request.done():
            return request.result()
        request.cancel()
        raise ConnectionLostError(
            f"{self.id}: connection closed while waiting for the answer to {action}"
        ) from lost.result()

    async def _handle_call(self, msg: Any) -> Any:
        payload = camel_to_snake_case(msg.payload) if isinstance(msg.payload, dict) else {}
        self.received.append(ReceivedCall(msg.action, payload, utc_now()))
        return await super()._handle_call(msg)

    def received_calls(self, action: str) -> list[dict[str, Any]]:
        return [c.payload for c in self.received if c.action == action]

    async def aclose(self) -> None:
        """Stop everything the charge point runs on its own (heartbeats, sessions, timers)."""
        self._closed = True
        self._deferred.clear()
        await self._tasks.cancel_all()

    # --- requests to the Central System ------------------------------------------------

    async def boot(
        self,
        vendor: str = "SimVendor",
        model: str = "Sim-1",
        serial: str | None = None,
        firmware: str | None = "1.0",
        **extra: Any,
    ) -> Any:
        """BootNotification. Accepted starts the heartbeat loop at the returned interval;
        Pending or Rejected schedules another BootNotification after that interval.

        ``extra``: other BootNotification fields (``charge_box_serial_number``,
        ``meter_type``, ``iccid`` ...).
        """
        self.vendor = vendor
        self._boot_request = call.BootNotification(
            charge_point_vendor=vendor,
            charge_point_model=model,
            charge_point_serial_number=serial,
            firmware_version=firmware,
            **extra,
        )
        result = await self._send_boot()
        if result.status != "Accepted":
            self._ensure_boot_retry()
        return result

    async def _send_boot(self) -> Any:
        result = await self.call(self._boot_request, suppress=False)
        self.boot_result = result
        self.registration_status = str(result.status)
        self.server_time = result.current_time
        if result.status == "Accepted":
            interval = result.interval if result.interval > 0 else self.heartbeat_interval
            self._set_heartbeat_interval(float(interval))
            self.accepted.set()
            if self._heartbeat_task is None or self._heartbeat_task.done():
                self._heartbeat_task = self._tasks.spawn(
                    self._heartbeat_loop(), name=f"{self.id}:heartbeat"
                )
        else:
            self.accepted.clear()
            self._stop_heartbeat()
        return result

    def _ensure_boot_retry(self) -> None:
        if self._closed or (self._boot_retry_task and not self._boot_retry_task.done()):
            return
        self._boot_retry_task = self._tasks.spawn(self._boot_retry_loop(), name=f"{self.id}:boot")

    async def _boot_retry_loop(self) -> None:
        while self.registration_status != "Accepted":
            interval = getattr(self.boot_result, "interval", 0) or self.boot_retry_fallback
            await asyncio.sleep(interval)
            if self.registration_status == "Accepted":  # accepted meanwhile (TriggerMessage)
                break
            try:
                await self._send_boot()
            except (OCPPError, TimeoutError) as exc:
                _log.warning("%s: BootNotification failed: %s", self.id, exc)

    async def wait_accepted(self, seconds: float | None = None) -> bool:
        """Wait (at most ``seconds``) until a BootNotification is Accepted; False if not."""
        return await wait_event(self.accepted, seconds)

    def _set_heartbeat_interval(self, seconds: float) -> None:
        self.heartbeat_interval = seconds
        self.config.set("HeartbeatInterval", str(int(seconds)))
        self._heartbeat_changed.set()

    def _stop_heartbeat(self) -> None:
        if self._heartbeat_task is not None and self._heartbeat_task is not asyncio.current_task():
            self._heartbeat_task.cancel()
        self._heartbeat_task = None

    async def _heartbeat_loop(self) -> None:
        while True:
            self._heartbeat_changed.clear()
            interval = self.heartbeat_interval
            if await wait_event(self._heartbeat_changed, interval if interval > 0 else None):
                continue  # the interval changed: start waiting again with the new one
            try:
                await self.heartbeat()
            except (OCPPError, TimeoutError) as exc:
                _log.warning("%s: Heartbeat failed: %s", self.id, exc)

    async def heartbeat(self) -> Any:
        result = await self.call(call.Heartbeat(), suppress=False)
        self.server_time = result.current_time
        return result

    async def status(
        self,
        connector_id: int = 1,
        status: str = "Available",
        error_code: str = "NoError",
        **extra: Any,
    ) -> Any:
        """StatusNotification (with a timestamp unless ``timestamp=None`` is passed).

        ``extra``: ``info``, ``vendor_id``, ``vendor_error_code``, ``timestamp``.
        """
        extra.setdefault("timestamp", utc_now())
        if isinstance(extra["timestamp"], datetime):
            extra["timestamp"] = format_timestamp(extra["timestamp"])
        if connector_id == 0:
            self.station_status, self.station_error_code = status, error_code
        elif connector_id in self.connectors:
            self.connectors[connector_id].status = status
            self.connectors[connector_id].error_code = error_code
        return await self.call(
            call.StatusNotification(
                connector_id=connector_id, error_code=error_code, status=status, **extra
            ),
            suppress=False,
        )

    async def authorize(self, id_tag: str) -> dict[str, Any]:
        """Authorize; returns ``id_tag_info`` (a dict: status, expiry_date, parent_id_tag)."""
        result = await self.call(call.Authorize(id_tag=id_tag), suppress=False)
        info = dict(result.id_tag_info)
        if self.config.get_bool("AuthorizationCacheEnabled"):
            self.auth_cache[id_tag] = info
        return info

    async def start_transaction(
        self,
        connector_id: int = 1,
        *,
        id_tag: str,
        meter_start: int = 0,
        timestamp: datetime | str | None = None,
        reservation_id: int | None = None,
    ) -> Any:
        """StartTransaction; the connector then holds the transaction the server assigned."""
        moment = utc_now() if timestamp is None else timestamp
        result = await self.call(
            call.StartTransaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=meter_start,
                timestamp=format_timestamp(moment),
                reservation_id=reservation_id,
            ),
            suppress=False,
        )
        connector = self.connectors.get(connector_id)
        if connector is not None:
            connector.transaction_id = result.transaction_id
            connector.id_tag = id_tag
            connector.transaction_started = (
                parse_timestamp(moment) if isinstance(moment, str) else moment
            )
            connector.meter_start = meter_start
            if reservation_id is not None and connector.reservation is not None:
                self._drop_reservation(connector)
        return result

    async def meter_values(
        self,
        connector_id: int = 1,
        transaction_id: int | None = None,
        *,
        meter_value: Sequence[Mapping[str, Any]],
    ) -> Any:
        """MeterValues with a raw ``meter_value`` list (snake_case or camelCase keys)."""
        return await self.call(
            call.MeterValues(
                connector_id=connector_id,
                meter_value=list(meter_value),
                transaction_id=transaction_id,
            ),
            suppress=False,
        )

    async def stop_transaction(
        self,
        transaction_id: int,
        meter_stop: int,
        timestamp: datetime | str | None = None,
        id_tag: str | None = None,
        reason: str | None = "Local",
        transaction_data: Sequence[Mapping[str, Any]] | None = None,
    ) -> Any:
        """StopTransaction; the connector holding the transaction is released."""
        try:
            return await self.call(
                call.StopTransaction(
                    meter_stop=meter_stop,
                    timestamp=format_timestamp(utc_now() if timestamp is None else timestamp),
                    transaction_id=transaction_id,
                    reason=reason,
                    id_tag=id_tag,
                    transaction_data=None if transaction_data is None else list(transaction_data),
                ),
                suppress=False,
            )
        finally:
            for connector in self.connectors.values():
                if connector.transaction_id == transaction_id:
                    connector.clear_transaction()
                    self.profiles.end_transaction(connector.connector_id)

    async def data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> Any:
        return await self.call(
            call.DataTransfer(vendor_id=vendor_id, message_id=message_id, data=data),
            suppress=False,
        )

    async def firmware_status(self, status: str) -> Any:
        self.firmware_state = status
        self.firmware_statuses.append(status)
        return await self.call(call.FirmwareStatusNotification(status=status), suppress=False)

    async def diagnostics_status(self, status: str) -> Any:
        self.diagnostics_state = status
        return await self.call(call.DiagnosticsStatusNotification(status=status), suppress=False)

    async def announce(self, *, include_station: bool = False) -> None:
        """A StatusNotification with the current status of every connector (and of 0)."""
        if include_station:
            await self.status(0, self.station_status, self.station_error_code)
        for connector in self.connectors.values():
            await self.status(connector.connector_id, connector.status, connector.error_code)

    # --- a whole charging session -------------------------------------------------------

    async def run_session(
        self,
        connector_id: int = 1,
        *,
        id_tag: str,
        duration: float | None = 60,
        meter_interval: float | None = 10,
        power_w: float = 11_000,
        meter_start: int | None = None,
        stop_reason: str = "Local",
        authorize: bool = True,
        charging_profile: Mapping[str, Any] | None = None,
        begin_end_meter_values: bool = True,
        ev_soc: float | None = None,
    ) -> SessionReport:
        """Charge an EV on a connector, the way a charger reports it.

        StatusNotification Preparing, Authorize, StartTransaction, StatusNotification
        Charging, MeterValues (Transaction.Begin, then Sample.Periodic every
        ``meter_interval`` seconds, then Transaction.End), StopTransaction with
        transactionData (the begin and end samples of ``StopTxnSampledData``),
        StatusNotification Finishing, then Available.

        ``duration`` seconds of charging (None: until a RemoteStop, Reset or unlock);
        ``meter_interval`` None uses MeterValueSampleInterval, 0 sends no periodic
        samples. Power is ``power_w``, capped by charging profiles and ``max_power_w``.
        The connector's energy register continues from the previous session unless
        ``meter_start`` sets it. When the id tag is refused, the connector goes back
        to Available and the report has no transaction id. ``charging_profile`` (a
        TxProfile, snake_case) is installed for the transaction.
        """
        return await self._run_session(
            connector_id,
            id_tag=id_tag,
            duration=duration,
            meter_interval=meter_interval,
            power_w=power_w,
            meter_start=meter_start,
            stop_reason=stop_reason,
            authorize=authorize,
            charging_profile=charging_profile,
            begin_end_meter_values=begin_end_meter_values,
            ev_soc=ev_soc,
            claimed=False,
        )

    def _connector(self, connector_id: int) -> ConnectorState:
        try:
            return self.connectors[connector_id]
        except KeyError:
            raise ValueError(f"{self.id} has no connector {connector_id}") from None

    async def _run_session(
        self,
        connector_id: int,
        *,
        id_tag: str,
        duration: float | None,
        meter_interval: float | None,
        power_w: float,
        meter_start: int | None,
        stop_reason: str,
        authorize: bool,
        charging_profile: Mapping[str, Any] | None,
        begin_end_meter_values: bool,
        ev_soc: float | None,
        claimed: bool,
    ) -> SessionReport:
        connector = self._connector(connector_id)
        if connector.session_active or connector.transaction_id is not None:
            raise ConnectorBusyError(f"connector {connector_id} already has a transaction")
        if connector.claimed and not claimed:
            raise ConnectorBusyError(f"connector {connector_id} is about to start a remote session")
        if not connector.operative:
            raise ConnectorBusyError(f"connector {connector_id} is Unavailable")
        reservation = connector.reservation
        if reservation is not None and reservation.id_tag != id_tag:
            raise ConnectorBusyError(f"connector {connector_id} is reserved for another id tag")

        connector.claimed = False
        connector.session_active = True
        connector.stop_reason = None
        connector.wake.clear()
        connector.idle.clear()
        meter = connector.meter
        if meter_start is not None:
            meter.energy_wh = float(meter_start)
        interval = (
            float(self.config.get_int("MeterValueSampleInterval", 60))
            if meter_interval is None
            else float(meter_interval)
        )
        sampled = self.config.get_list("MeterValuesSampledData")
        stop_txn = self.config.get_list("StopTxnSampledData")
        report = SessionReport(
            transaction_id=None,
            id_tag_status="",
            meter_start=meter.register_wh,
            meter_stop=meter.register_wh,
            connector_id=connector_id,
            id_tag=id_tag,
        )
        try:
            await self.status(connector_id, "Preparing")
            if authorize:
                info = await self.authorize(id_tag)
                report.id_tag_status = str(info.get("status"))
                if report.id_tag_status != "Accepted":
                    await self._release(connector)
                    return report
            meter.plug_in(self.ev_initial_soc if ev_soc is None else ev_soc, self.ev_battery_wh)
            started_at = utc_now()
            reservation_id = reservation.reservation_id if reservation is not None else None
            result = await self.start_transaction(
                connector_id,
                id_tag=id_tag,
                meter_start=report.meter_start,
                timestamp=started_at,
                reservation_id=reservation_id,
            )
            transaction_id = int(result.transaction_id)
            report.transaction_id = transaction_id
            report.id_tag_status = str(result.id_tag_info.get("status"))
            report.started_at = started_at
            if charging_profile is not None:
                profile = {**plain_numbers(dict(charging_profile))}
                profile.setdefault("charging_profile_purpose", "TxProfile")
                self.profiles.install(
                    connector_id,
                    profile,
                    connectors=len(self.connectors),
                    transaction_id=transaction_id,
                )
            begin = meter.sample(started_at)
            if report.id_tag_status != "Accepted" and self.config.get_bool(
                "StopTransactionOnInvalidId", True
            ):
                reason = "DeAuthorized"
            else:
                await self.status(connector_id, self._update_power(connector, power_w))
                if begin_end_meter_values:
                    await self._send_samples(connector, begin, "Transaction.Begin", sampled, report)
                stopped_by = await self._charge(
                    connector, report, duration, interval, power_w, sampled
                )
                reason = stopped_by or stop_reason
            stopped_at = utc_now()
            end = meter.sample(stopped_at)
            if begin_end_meter_values and reason != "DeAuthorized":
                await self._send_samples(connector, end, "Transaction.End", sampled, report)
            transaction_data = [
                entry
                for entry in (
                    meter_value(begin, stop_txn, "Transaction.Begin"),
                    meter_value(end, stop_txn, "Transaction.End"),
                )
                if entry["sampled_value"]
            ]
            meter.set_power(0.0)
            await self.stop_transaction(
                transaction_id,
                end.energy_wh,
                stopped_at,
                id_tag=id_tag if reason == "Local" else None,
                reason=reason,
                transaction_data=transaction_data or None,
            )
            report.sampled_values_sent += sum(len(e["sampled_value"]) for e in transaction_data)
            report.meter_stop = end.energy_wh
            report.stopped_at = stopped_at
            report.stop_reason = reason
            await self.status(connector_id, "Finishing")
            meter.unplug()
            await self._release(connector)
            return report
        finally:
            meter.power_w = 0.0
            if (
                report.transaction_id is not None
                and connector.transaction_id == report.transaction_id
            ):
                connector.clear_transaction()  # the session failed half-way
            connector.session_active = False
            connector.stop_reason = None
            connector.idle.set()
            self.sessions.append(report)

    def _update_power(self, connector: ConnectorState, requested_w: float) -> str:
        """Apply charging profile limits to the power; returns the status that follows."""
        meter = connector.meter
        limit = self.profiles.limit_w(
            connector.connector_id,
            utc_now(),
            transaction_id=connector.transaction_id,
            transaction_start=connector.transaction_started,
            voltage=meter.voltage_v,
        )
        offered = self.max_power_w if limit is None else min(limit, self.max_power_w)
        actual = meter.set_power(requested_w, offered)
        if actual > 0:
            return "Charging"
        return "SuspendedEV" if meter.ev_full or requested_w <= 0 else "SuspendedEVSE"

    async def _charge(
        self,
        connector: ConnectorState,
        report: SessionReport,
        duration: float | None,
        interval: float,
        power_w: float,
        measurands: Sequence[str],
    ) -> str | None:
        """Meter the charging until the duration ends (None) or a stop is requested (its reason)."""
        loop = asyncio.get_running_loop()
        meter = connector.meter
        start = last = loop.time()
        deadline = math.inf if duration is None else start + max(0.0, duration)
        ticks = 0

        def next_tick(now: float) -> float:
            nonlocal ticks
            if interval <= 0:
                return math.inf
            ticks = max(ticks + 1, math.floor((now - start) / interval + 1e-9) + 1)
            moment = start + ticks * interval
            return math.inf if moment >= deadline - 1e-6 else moment

        tick = next_tick(start)
        while True:
            now = loop.time()
            wake_at = min(deadline, tick)
            if connector.stop_reason is None and wake_at > now:
                await wait_event(connector.wake, wake_at - now)
            connector.wake.clear()
            now = loop.time()
            meter.advance(now - last)
            last = now
            if connector.stop_reason is not None:
                return connector.stop_reason
            if now >= deadline:
                return None
            if now >= tick:
                tick = next_tick(now)
                await self._send_samples(
                    connector, meter.sample(), "Sample.Periodic", measurands, report
                )
            status = self._update_power(connector, power_w)
            if status != connector.status and connector.status in _CHARGING_STATES:
                await self.status(connector.connector_id, status)

    async def _send_samples(
        self,
        connector: ConnectorState,
        sample: MeterSample,
        context: str,
        measurands: Sequence[str],
        report: SessionReport | None = None,
    ) -> None:
        entry = meter_value(sample, measurands, context)
        if not entry["sampled_value"]:
            return
        await self.meter_values(
            connector.connector_id, connector.transaction_id, meter_value=[entry]
        )
        if report is not None:
            report.meter_values_sent += 1
            report.sampled_values_sent += len(entry["sampled_value"])

    def _idle_status(self, connector: ConnectorState) -> str:
        if not connector.operative:
            return "Unavailable"
        return "Reserved" if connector.reservation is not None else "Available"

    async def _release(self, connector: ConnectorState) -> None:
        """The EV has left: apply a scheduled availability change, report the idle status."""
        if connector.pending_availability is not None:
            connector.operative = connector.pending_availability == "Operative"
            connector.pending_availability = None
        await self.status(connector.connector_id, self._idle_status(connector))

    async def stop_all(self, reason: str = "Local") -> None:
        """Stops every transaction that runs, as a charger does before it shuts down."""
        for connector in list(self.connectors.values()):
            await self._stop_connector(connector, reason)

    async def _stop_connector(self, connector: ConnectorState, reason: str) -> None:
        """Stop whatever transaction runs on the connector and wait until it has stopped."""
        if connector.session_active:
            connector.stop_reason = reason
            connector.wake.set()
            await connector.idle.wait()
        elif connector.transaction_id is not None:
            # started with the low-level API: nobody is metering, stop it here
            meter = connector.meter
            meter.set_power(0.0)
            await self.stop_transaction(connector.transaction_id, meter.register_wh, reason=reason)
            await self.status(connector.connector_id, "Finishing")
            await self._release(connector)

    # --- calls from the Central System ---------------------------------------------------
    #
    # The library runs an @on handler inside its receive loop, so a handler must not
    # await a call of its own (the answer could never be read). Work that sends
    # messages is deferred: the @on handler registers it under the call's unique id
    # and the @after handler (run once the answer is sent) spawns it as a task.

    def _defer(self, unique_id: str, action: str, job: Job) -> None:
        self._deferred[unique_id] = (action, job)

    def _run_deferred(self, unique_id: str) -> None:
        entry = self._deferred.pop(unique_id, None)
        if entry is not None and not self._closed:
            action, job = entry
            self._tasks.spawn(job(), name=f"{self.id}:{action}")

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        call_unique_id: str = "",
        **_: Any,
    ) -> Any:
        connector = self._remote_start_connector(connector_id, id_tag)
        profile = None if charging_profile is None else plain_numbers(charging_profile)
        if connector is None or (
            profile is not None and profile.get("charging_profile_purpose") != "TxProfile"
        ):
            return call_result.RemoteStartTransaction(status="Rejected")
        connector.claimed = True
        self._defer(
            call_unique_id,
            "RemoteStartTransaction",
            lambda: self._remote_session(connector, id_tag, profile),
        )
        return call_result.RemoteStartTransaction(status="Accepted")

    @after(Action.remote_start_transaction)
    def after_remote_start_transaction(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    def _remote_start_connector(
        self, connector_id: int | None, id_tag: str
    ) -> ConnectorState | None:
        if connector_id is not None:
            candidates = [self.connectors[connector_id]] if connector_id in self.connectors else []
        else:
            # prefer a connector reserved for this id tag, else the first free one
            candidates = sorted(
                self.connectors.values(),
                key=lambda c: (c.reservation is None, c.connector_id),
            )
        for connector in candidates:
            if (
                connector.operative
                and not connector.busy
                and connector.status != "Faulted"
                and (connector.reservation is None or connector.reservation.id_tag == id_tag)
            ):
                return connector
        return None

    async def _remote_session(
        self, connector: ConnectorState, id_tag: str, profile: dict[str, Any] | None
    ) -> None:
        try:
            await self._run_session(
                connector.connector_id,
                id_tag=id_tag,
                duration=self.remote_session_duration,
                meter_interval=self.remote_meter_interval,
                power_w=self.power_w,
                meter_start=None,
                stop_reason="Local",
                authorize=self.config.get_bool("AuthorizeRemoteTxRequests", True),
                charging_profile=profile,
                begin_end_meter_values=True,
                ev_soc=None,
                claimed=True,
            )
        finally:
            connector.claimed = False

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(
        self, transaction_id: int, call_unique_id: str = "", **_: Any
    ) -> Any:
        connector = next(
            (c for c in self.connectors.values() if c.transaction_id == transaction_id), None
        )
        if connector is None:
            return call_result.RemoteStopTransaction(status="Rejected")
        self._defer(
            call_unique_id,
            "RemoteStopTransaction",
            lambda: self._stop_connector(connector, "Remote"),
        )
        return call_result.RemoteStopTransaction(status="Accepted")

    @after(Action.remote_stop_transaction)
    def after_remote_stop_transaction(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    @on(Action.reset)
    def on_reset(self, type: str, call_unique_id: str = "", **_: Any) -> Any:
        self.resets.append(type)
        self._defer(call_unique_id, "Reset", lambda: self._reset(type))
        return call_result.Reset(status="Accepted")

    @after(Action.reset)
    def after_reset(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    async def _reset(self, kind: str) -> None:
        reason = "HardReset" if kind == "Hard" else "SoftReset"
        await asyncio.gather(*(self._stop_connector(c, reason) for c in self.connectors.values()))
        if not self.reboot_on_reset:
            return
        # A simulated reboot on the same connection: boot again, then report the connectors.
        self._stop_heartbeat()
        self.accepted.clear()
        self.registration_status = None
        await asyncio.sleep(self.reboot_delay)
        result = await self._send_boot()
        if result.status != "Accepted":
            self._ensure_boot_retry()
            await self.accepted.wait()
        for connector in self.connectors.values():
            connector.status = self._idle_status(connector)
        await self.announce(include_station=True)

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id: int, call_unique_id: str = "", **_: Any) -> Any:
        connector = self.connectors.get(connector_id)
        if connector is None:
            return call_result.UnlockConnector(status="NotSupported")
        if connector.session_active or connector.transaction_id is not None:
            self._defer(
                call_unique_id,
                "UnlockConnector",
                lambda: self._stop_connector(connector, "UnlockCommand"),
            )
        return call_result.UnlockConnector(status="Unlocked")

    @after(Action.unlock_connector)
    def after_unlock_connector(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    @on(Action.change_availability)
    def on_change_availability(
        self, connector_id: int, type: str, call_unique_id: str = "", **_: Any
    ) -> Any:
        if connector_id == 0:
            targets = list(self.connectors.values())
        elif connector_id in self.connectors:
            targets = [self.connectors[connector_id]]
        else:
            return call_result.ChangeAvailability(status="Rejected")
        operative = type == "Operative"
        scheduled = False
        changed: list[ConnectorState] = []
        for connector in targets:
            if connector.busy:
                connector.pending_availability = type
                scheduled = True
            elif connector.operative != operative:
                connector.operative = operative
                changed.append(connector)
        station = None
        if connector_id == 0 and not scheduled:
            station = "Available" if operative else "Unavailable"

        async def announce() -> None:
            if station is not None:
                await self.status(0, station)
            for connector in changed:
                await self.status(connector.connector_id, self._idle_status(connector))

        if changed or station is not None:
            self._defer(call_unique_id, "ChangeAvailability", announce)
        return call_result.ChangeAvailability(status="Scheduled" if scheduled else "Accepted")

    @after(Action.change_availability)
    def after_change_availability(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        known, unknown = self.config.report(key)
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        status = self.config.change(key, value)
        if status in ("Accepted", "RebootRequired"):
            if key == "HeartbeatInterval":
                self._set_heartbeat_interval(float(self.config.get_int(key, 0)))
            elif key == "AuthorizationKey":
                self.password = authorization_key_password(self.config.get(key))
            elif key == "AuthorizationCacheEnabled" and not self.config.get_bool(key):
                self.auth_cache.clear()
        return call_result.ChangeConfiguration(status=status)

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> Any:
        self.auth_cache.clear()
        return call_result.ClearCache(status="Accepted")

    @on(Action.trigger_message)
    def on_trigger_message(
        self,
        requested_message: str,
        connector_id: int | None = None,
        call_unique_id: str = "",
        **_: Any,
    ) -> Any:
        if connector_id is not None and not 0 <= connector_id <= len(self.connectors):
            return call_result.TriggerMessage(status="Rejected")
        jobs: dict[str, Job] = {
            "BootNotification": self._triggered_boot,
            "Heartbeat": self.heartbeat,
            "StatusNotification": lambda: self._triggered_status(connector_id),
            "MeterValues": lambda: self._triggered_meter_values(connector_id),
            "FirmwareStatusNotification": self._triggered_firmware_status,
            "DiagnosticsStatusNotification": self._triggered_diagnostics_status,
        }
        job = jobs.get(requested_message)
        if job is None:
            return call_result.TriggerMessage(status="NotImplemented")
        self._defer(call_unique_id, f"TriggerMessage:{requested_message}", job)
        return call_result.TriggerMessage(status="Accepted")

    @after(Action.trigger_message)
    def after_trigger_message(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    async def _triggered_boot(self) -> None:
        result = await self._send_boot()
        if result.status != "Accepted":
            self._ensure_boot_retry()

    async def _triggered_status(self, connector_id: int | None) -> None:
        if connector_id is None:
            await self.announce(include_station=True)
        elif connector_id == 0:
            await self.status(0, self.station_status, self.station_error_code)
        else:
            connector = self.connectors[connector_id]
            await self.status(connector_id, connector.status, connector.error_code)

    async def _triggered_meter_values(self, connector_id: int | None) -> None:
        measurands = self.config.get_list("MeterValuesSampledData")
        wanted = [connector_id] if connector_id else list(self.connectors)
        for number in wanted:
            connector = self.connectors[number]
            await self._send_samples(connector, connector.meter.sample(), "Trigger", measurands)

    async def _triggered_firmware_status(self) -> None:
        busy = self.firmware_state in ("Downloading", "Downloaded", "Installing")
        await self.firmware_status(self.firmware_state if busy else "Idle")

    async def _triggered_diagnostics_status(self) -> None:
        busy = self.diagnostics_state == "Uploading"
        await self.diagnostics_status(self.diagnostics_state if busy else "Idle")

    @on(Action.data_transfer)
    def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None, **_: Any
    ) -> Any:
        """Answered by ``data_transfer_handler`` if set; else our vendor id echoes the data."""
        if self.data_transfer_handler is not None:
            status, reply = self.data_transfer_handler(vendor_id, message_id, data)
        elif vendor_id == self.vendor:
            status, reply = "Accepted", data
        else:
            status, reply = "UnknownVendorId", None
        return call_result.DataTransfer(status=status, data=reply)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> Any:
        return call_result.GetLocalListVersion(list_version=self.local_list_version)

    @on(Action.send_local_list)
    def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> Any:
        if not self.config.get_bool("LocalAuthListEnabled", True):
            return call_result.SendLocalList(status="NotSupported")
        entries = local_authorization_list or []
        if len(entries) > self.config.get_int("SendLocalListMaxLength", 100):
            return call_result.SendLocalList(status="Failed")
        if update_type == "Full":
            updated = {e["id_tag"]: e["id_tag_info"] for e in entries if e.get("id_tag_info")}
        else:
            if list_version <= self.local_list_version:
                return call_result.SendLocalList(status="VersionMismatch")
            updated = dict(self.local_list)
            for entry in entries:
                if entry.get("id_tag_info"):
                    updated[entry["id_tag"]] = entry["id_tag_info"]
                else:
                    updated.pop(entry["id_tag"], None)
        if len(updated) > self.config.get_int("LocalAuthListMaxLength", 1000):
            return call_result.SendLocalList(status="Failed")
        self.local_list = updated
        self.local_list_version = list_version
        return call_result.SendLocalList(status="Accepted")

    @on(Action.reserve_now)
    def on_reserve_now(
        self,
        connector_id: int,
        expiry_date: str,
        id_tag: str,
        reservation_id: int,
        parent_id_tag: str | None = None,
        call_unique_id: str = "",
        **_: Any,
    ) -> Any:
        connector = self.connectors.get(connector_id)
        if connector is None:  # connector 0: ReserveConnectorZeroSupported is false
            return call_result.ReserveNow(status="Rejected")
        try:
            expiry = parse_timestamp(expiry_date)
        except ValueError:
            return call_result.ReserveNow(status="Rejected")
        if connector.status == "Faulted":
            return call_result.ReserveNow(status="Faulted")
        if not connector.operative:
            return call_result.ReserveNow(status="Unavailable")
        current = connector.reservation
        if connector.busy or (current is not None and current.reservation_id != reservation_id):
            return call_result.ReserveNow(status="Occupied")
        if expiry <= utc_now():
            return call_result.ReserveNow(status="Rejected")
        for other in self.connectors.values():  # the same reservation id replaces the old one
            if other.reservation is not None and other.reservation.reservation_id == reservation_id:
                self._drop_reservation(other)
        reservation = Reservation(reservation_id, id_tag, expiry, parent_id_tag)
        connector.reservation = reservation
        reservation.timer = self._tasks.spawn(
            self._expire_reservation(connector, reservation), name=f"{self.id}:reservation"
        )
        self._defer(call_unique_id, "ReserveNow", lambda: self.status(connector_id, "Reserved"))
        return call_result.ReserveNow(status="Accepted")

    @after(Action.reserve_now)
    def after_reserve_now(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    def _drop_reservation(self, connector: ConnectorState) -> None:
        reservation, connector.reservation = connector.reservation, None
        if (
            reservation is not None
            and reservation.timer is not None
            and reservation.timer is not asyncio.current_task()
        ):
            reservation.timer.cancel()

    async def _expire_reservation(
        self, connector: ConnectorState, reservation: Reservation
    ) -> None:
        await asyncio.sleep(max(0.0, (reservation.expiry - utc_now()).total_seconds()))
        if connector.reservation is reservation:
            self._drop_reservation(connector)
            if not connector.busy:
                await self.status(connector.connector_id, self._idle_status(connector))

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, call_unique_id: str = "", **_: Any) -> Any:
        connector = next(
            (
                c
                for c in self.connectors.values()
                if c.reservation is not None and c.reservation.reservation_id == reservation_id
            ),
            None,
        )
        if connector is None:
            return call_result.CancelReservation(status="Rejected")
        self._drop_reservation(connector)
        if not connector.busy:
            self._defer(
                call_unique_id,
                "CancelReservation",
                lambda: self.status(connector.connector_id, self._idle_status(connector)),
            )
        return call_result.CancelReservation(status="Accepted")

    @after(Action.cancel_reservation)
    def after_cancel_reservation(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    @on(Action.set_charging_profile)
    def on_set_charging_profile(
        self,
        connector_id: int,
        cs_charging_profiles: dict[str, Any],
        call_unique_id: str = "",
        **_: Any,
    ) -> Any:
        connector = self.connectors.get(connector_id)
        status = self.profiles.install(
            connector_id,
            cs_charging_profiles,
            connectors=len(self.connectors),
            transaction_id=None if connector is None else connector.transaction_id,
        )
        if status == "Accepted":
            self._defer(call_unique_id, "SetChargingProfile", self._wake_sessions)
        return call_result.SetChargingProfile(status=status)

    @after(Action.set_charging_profile)
    def after_set_charging_profile(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        call_unique_id: str = "",
        **_: Any,
    ) -> Any:
        status = self.profiles.clear(
            profile_id=id,
            connector_id=connector_id,
            purpose=charging_profile_purpose,
            stack_level=stack_level,
        )
        if status == "Accepted":
            self._defer(call_unique_id, "ClearChargingProfile", self._wake_sessions)
        return call_result.ClearChargingProfile(status=status)

    @after(Action.clear_charging_profile)
    def after_clear_charging_profile(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    async def _wake_sessions(self) -> None:
        """Running sessions re-evaluate their power limit now."""
        for connector in self.connectors.values():
            if connector.session_active:
                connector.wake.set()

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self,
        connector_id: int,
        duration: int,
        charging_rate_unit: str | None = None,
        **_: Any,
    ) -> Any:
        if connector_id != 0 and connector_id not in self.connectors:
            return call_result.GetCompositeSchedule(status="Rejected")
        connector = self.connectors.get(connector_id)
        meter = (connector or self.connectors[1]).meter
        start = utc_now().replace(microsecond=0)
        schedule = self.profiles.composite(
            connector_id,
            start,
            int(duration),
            unit=charging_rate_unit,
            transaction_id=None if connector is None else connector.transaction_id,
            transaction_start=None if connector is None else connector.transaction_started,
            voltage=meter.voltage_v,
            phases=meter.phases,
            hardware_limit_w=self.max_power_w,
        )
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=format_timestamp(start),
            charging_schedule=schedule,
        )

    @on(Action.update_firmware)
    def on_update_firmware(
        self, location: str, retrieve_date: str, call_unique_id: str = "", **_: Any
    ) -> Any:
        self._defer(
            call_unique_id,
            "UpdateFirmware",
            lambda: self._update_firmware(retrieve_date, location),
        )
        return call_result.UpdateFirmware()

    @after(Action.update_firmware)
    def after_update_firmware(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    async def _update_firmware(self, retrieve_date: str, location: str = "") -> None:
        with suppress(ValueError):
            wait = (parse_timestamp(retrieve_date) - utc_now()).total_seconds()
            await asyncio.sleep(max(0.0, wait))
        if is_http_location(location):
            # a real download; the outcome knob still decides the installation
            await self.firmware_status("Downloading")
            try:
                self.downloads.append(await download(location, ssl_context=self._transfer_ssl()))
            except TransferError as exc:
                _log.info("%s: firmware download failed: %s", self.id, exc)
                await self.firmware_status("DownloadFailed")
                return
            await self.firmware_status("Downloaded")
            await asyncio.sleep(self.firmware_step_delay)
            await self.firmware_status("Installing")
            await asyncio.sleep(self.firmware_step_delay)
            failed = self.firmware_outcome == "InstallationFailed"
            await self.firmware_status("InstallationFailed" if failed else "Installed")
            return
        steps = [("Downloading", "DownloadFailed"), ("Downloaded", None), ("Installing", None)]
        for status, failure in steps:
            await self.firmware_status(status)
            await asyncio.sleep(self.firmware_step_delay)
            if failure is not None and self.firmware_outcome == failure:
                await self.firmware_status(failure)
                return
        await self.firmware_status(
            "InstallationFailed" if self.firmware_outcome == "InstallationFailed" else "Installed"
        )

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location: str, call_unique_id: str = "", **_: Any) -> Any:
        safe_id = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.id)[:64]
        file_name = f"diagnostics-{safe_id}-{utc_now():%Y%m%dT%H%M%S}.log"
        self._defer(
            call_unique_id, "GetDiagnostics", lambda: self._upload_diagnostics(location, file_name)
        )
        return call_result.GetDiagnostics(file_name=file_name)

    @after(Action.get_diagnostics)
    def after_get_diagnostics(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    async def _upload_diagnostics(self, location: str = "", file_name: str = "") -> None:
        await self.diagnostics_status("Uploading")
        if is_http_location(location):
            result = await upload(
                location,
                file_name,
                self.log_text("DiagnosticsLog"),
                ssl_context=self._transfer_ssl(),
            )
            self.uploads.append(result)
            await self.diagnostics_status("Uploaded" if result.ok else "UploadFailed")
            return
        await asyncio.sleep(self.diagnostics_step_delay)
        await self.diagnostics_status(
            "UploadFailed" if self.diagnostics_outcome == "UploadFailed" else "Uploaded"
        )


# --- opening a connection -------------------------------------------------------------------


def _log_receiver_end(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is None or isinstance(exc, ConnectionClosedOK):
        return
    if isinstance(exc, ConnectionClosed):
        _log.warning("%s: connection closed: %s", task.get_name(), exc)
    else:
        _log.error("%s: receive loop failed: %r", task.get_name(), exc, exc_info=exc)


@asynccontextmanager
async def connect16(
    url: str,
    station_id: str,
    *,
    password: str | None = None,
    subprotocols: Sequence[str] = ("ocpp1.6",),
    connectors: int = 1,
    response_timeout: float = 30,
    observer: FrameObserver | None = None,
    cp_class: type[ChargePoint16] = ChargePoint16,
    cp_options: Mapping[str, Any] | None = None,
    **ws_kwargs: Any,
) -> AsyncIterator[ChargePoint16]:
    """Open ``<url>/<station id>`` and yield a started :class:`ChargePoint16`.

    ``url`` is the server's base URL; the station id is appended, percent-encoded.
    With a ``password`` the handshake carries HTTP Basic auth (user = station id).
    ``observer`` sees every frame (see ``simulators.common.format_frame``);
    ``cp_options`` are further ChargePoint16 keywords; ``ws_kwargs`` go to
    ``websockets.asyncio.client.connect`` (compression is off unless given).
    On exit the charge point's tasks are cancelled and the socket is closed.
    """
    headers: Any = ws_kwargs.pop("additional_headers", None)
    if password is not None:
        headers = merge_headers(headers, {"Authorization": basic_auth_header(station_id, password)})
    ws_kwargs.setdefault("compression", None)
    websocket = await connect(
        station_url(url, station_id),
        subprotocols=[Subprotocol(p) for p in subprotocols],
        additional_headers=headers,
        **ws_kwargs,
    )
    try:
        if websocket.subprotocol is None:
            _log.warning("%s: the server agreed on no OCPP subprotocol", station_id)
        connection: Any = websocket
        if observer is not None:
            connection = TracingConnection(websocket, station_id, observer)
        cp = cp_class(
            station_id,
            connection,
            connectors=connectors,
            response_timeout=response_timeout,
            password=password,
            **dict(cp_options or {}),
        )
        cp.websocket = websocket
        receiver = asyncio.create_task(cp.start(), name=f"{station_id}:receive")
        receiver.add_done_callback(_log_receiver_end)
        try:
            yield cp
        finally:
            await cp.aclose()
            await websocket.close()
            if not receiver.done():
                receiver.cancel()
            # its outcome is logged by _log_receiver_end; wait() does not re-raise it
            await asyncio.wait((receiver,))
    finally:
        await websocket.close()
