"""A simulated OCPP 2.0.1 charging station, built on the client side of the ``ocpp`` library.

Usage::

    async with connect201("ws://127.0.0.1:9000/ocpp", "CS-1", password="secret-16-chars!") as cs:
        await cs.boot()
        await cs.announce()                       # StatusNotification per connector
        tx = await cs.start_transaction(1, id_token="TAG1")   # TransactionEvent Started
        ...                                       # Updated events every TxUpdatedInterval
        await cs.stop_transaction(1)              # TransactionEvent Ended

The station owns its connection (unlike :class:`simulators.ocpp16.ChargePoint16`):
it can drop it (:meth:`ChargingStation201.disconnect`), reconnect (after a Reset, a
new BasicAuthPassword, a new network profile, or on its own after a lost
connection), and queue the TransactionEvents made while offline, which are sent
with ``offline: true`` once it is back.

It answers the calls a CSMS makes as a real station would, with the follow-up
messages (StatusNotification after ChangeAvailability, NotifyReport after
GetBaseReport, FirmwareStatusNotification after UpdateFirmware with a real HTTP
download, LogStatusNotification after GetLog with a real HTTP upload ...), and
keeps what it was told in attributes tests can read (``password``,
``security_profile``, ``certificates``, ``local_list``, ``profiles``,
``reservations``, ``received``, ``uploads``, ``downloads`` ...).

Only the simulator's own state is modelled; nothing is imported from the server.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import math
import ssl
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ocpp.exceptions import OccurrenceConstraintViolationError, OCPPError
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint as _LibChargePoint
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from simulators.certificates import CertificateStore, hash_data, load_chain, verify_signature
from simulators.common import (
    BackgroundTasks,
    FrameObserver,
    TracingConnection,
    basic_auth_header,
    format_timestamp,
    parse_timestamp,
    station_url,
    utc_now,
    wait_event,
)
from simulators.meter import MeterModel
from simulators.ocpp16 import ConnectionLostError, ConnectorBusyError, SimulatorError
from simulators.ocpp201_device_model import DeviceModel201
from simulators.ocpp201_stores import ChargingProfiles201, LocalList201, meter_value201
from simulators.transfer import TransferError, download, upload

__all__ = [
    "ChargingStation201",
    "ConnectionLostError",
    "ConnectorBusyError",
    "Evse201",
    "IdTokenRefusedError",
    "ReceivedCall",
    "Reservation201",
    "SimulatorError",
    "Transaction201",
    "connect201",
]

_log = logging.getLogger(__name__)

Job = Callable[[], Coroutine[Any, Any, Any]]
DataTransferHandler = Callable[[str, str | None, Any], tuple[str, Any]]

SUBPROTOCOL = "ocpp2.0.1"


class IdTokenRefusedError(SimulatorError):
    """The id token was not accepted (by Authorize, or offline by the local rules)."""

    def __init__(self, id_token: str, status: str) -> None:
        super().__init__(f"id token {id_token} refused: {status}")
        self.id_token = id_token
        self.status = status


# --- state ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceivedCall:
    """A call the CSMS made to the station (payload snake_case, as handlers get it)."""

    action: str
    payload: dict[str, Any]
    at: datetime


@dataclass(eq=False)
class Transaction201:
    transaction_id: str
    evse_id: int
    connector_id: int
    id_token: dict[str, Any] | None
    started_at: datetime
    meter_start: int
    remote_start_id: int | None = None
    reservation_id: int | None = None
    seq_no: int = 0
    """The seqNo the next TransactionEvent of this transaction gets."""
    charging_state: str = "Charging"
    id_token_status: str | None = None
    """From the Started answer (or Authorize); None until known (offline)."""
    stopped_reason: str | None = None
    ended: bool = False
    started_offline: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    """Every TransactionEvent payload made for this transaction (snake_case)."""
    power_w: float = 11_000.0
    meter_interval: float = 60.0
    stop_requested: tuple[str, str] | None = None
    """(stopped_reason, trigger_reason) asked of the metering task."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[Any] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def meter_stop(self) -> int | None:
        for event in reversed(self.events):
            for value in event.get("meter_value") or []:
                for sv in value.get("sampled_value", []):
                    if sv.get("measurand") == "Energy.Active.Import.Register":
                        return int(sv["value"])
        return None


@dataclass(eq=False)
class Reservation201:
    reservation_id: int
    id_token: dict[str, Any]
    expiry: datetime
    evse_id: int | None
    group_id_token: dict[str, Any] | None = None
    timer: asyncio.Task[Any] | None = None


@dataclass(eq=False)
class Evse201:
    evse_id: int
    meter: MeterModel
    connectors: dict[int, str] = field(default_factory=dict)
    """connector id -> connector status as last reported (Available, Occupied ...)."""
    operative: bool = True
    pending_operative: bool | None = None
    """A ChangeAvailability answered Scheduled, applied when the transaction ends."""
    transaction: Transaction201 | None = None
    reservation: Reservation201 | None = None
    claimed: bool = False
    """A RequestStartTransaction was accepted; its transaction has not started yet."""

    @property
    def busy(self) -> bool:
        return self.claimed or self.transaction is not None


# --- the station -----------------------------------------------------------------------------


class ChargingStation201(_LibChargePoint):
    """An OCPP 2.0.1 charging station with ``evses`` EVSEs of ``connectors_per_evse`` each.

    ``url`` is the CSMS's base URL (the station id is appended). ``password``: HTTP
    Basic auth (security profiles 1 and 2). ``ssl``: the TLS context for ``wss://``
    (trust for the CSMS, and a client certificate for profile 3 if you have one);
    ``ca_certificates``: PEM of roots to trust (used when the station builds its own
    context, e.g. with the certificate it got by CertificateSigned). ``security_profile``
    defaults to 3 (wss, no password), 2 (wss + password), 1 (ws + password) or 0.

    Requests return the library's ``call_result`` dataclasses (snake_case fields).
    A CALLERROR from the CSMS raises the matching ``ocpp.exceptions.OCPPError``; a
    call on a closed connection raises :class:`ConnectionLostError`, except for
    TransactionEvents, which are queued and sent once the station is back.
    """

    def __init__(
        self,
        station_id: str,
        url: str | None = None,
        *,
        password: str | None = None,
        ssl: ssl.SSLContext | None = None,
        ca_certificates: str | None = None,
        security_profile: int | None = None,
        evses: int = 1,
        connectors_per_evse: int = 1,
        response_timeout: float = 30,
        logger: logging.Logger | None = None,
        observer: FrameObserver | None = None,
        variables: Mapping[str, str] | None = None,
        vendor: str = "SimVendor",
        model: str = "Sim-201",
        serial: str | None = None,
        firmware_version: str = "1.0",
        power_w: float = 11_000.0,
        max_power_w: float = 22_000.0,
        voltage_v: float = 230.0,
        phases: int = 3,
        ev_battery_wh: float = 60_000.0,
        ev_initial_soc: float = 20.0,
        meter_interval: float | None = None,
        remote_session_duration: float | None = None,
        auto_reconnect: bool = True,
        reconnect_delay: float = 0.2,
        max_reconnect_delay: float = 10.0,
        boot_on_reconnect: bool = False,
        reboot_delay: float = 0.05,
        step_delay: float = 0.01,
        verify_firmware_signature: bool = True,
        boot_retry_fallback: float = 30.0,
        ws_options: Mapping[str, Any] | None = None,
    ) -> None:
        if evses < 1 or connectors_per_evse < 1:
            raise ValueError("a station has at least one EVSE with one connector")
        kwargs: dict[str, Any] = {"response_timeout": response_timeout}
        if logger is not None:
            kwargs["logger"] = logger
        super().__init__(station_id, None, **kwargs)
        self.url = url
        self.password = password
        self.ssl = ssl
        self.ca_certificates = ca_certificates
        if security_profile is None:
            secure = url is not None and url.startswith("wss")
            security_profile = (2 if password else 3) if secure else (1 if password else 0)
        self.observer = observer
        self.ws_options = dict(ws_options or {})
        self.vendor, self.model, self.serial = vendor, model, serial
        self.firmware_version = firmware_version
        self.device_model = DeviceModel201.build(
            {n: connectors_per_evse for n in range(1, evses + 1)},
            variables,
            vendor=vendor,
            model=model,
        )
        self.device_model.set_value("SecurityCtrlr.Identity", station_id)
        self.device_model.set_value("FirmwareCtrlr.FirmwareVersion", firmware_version)
        self.device_model.set_value("SecurityCtrlr.SecurityProfile", str(security_profile))
        if password:
            self.device_model.set_value("SecurityCtrlr.BasicAuthPassword", password)
        self.evses: dict[int, Evse201] = {
            n: Evse201(
                n,
                MeterModel(voltage_v=voltage_v, phases=phases, battery_wh=ev_battery_wh),
                {c: "Available" for c in range(1, connectors_per_evse + 1)},
            )
            for n in range(1, evses + 1)
        }
        self.power_w = power_w
        self.max_power_w = max_power_w
        self.ev_battery_wh = ev_battery_wh
        self.ev_initial_soc = ev_initial_soc
        self.meter_interval = meter_interval
        self.remote_session_duration = remote_session_duration
        self.auto_reconnect = auto_reconnect
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.boot_on_reconnect = boot_on_reconnect
        self.reboot_delay = reboot_delay
        self.step_delay = step_delay
        self.verify_firmware_signature = verify_firmware_signature
        self.boot_retry_fallback = boot_retry_fallback

        # what tests read
        self.registration_status: str | None = None
        self.boot_result: Any = None
        self.boots: list[str] = []
        """The reason of every BootNotification sent."""
        self.accepted = asyncio.Event()
        self.connected = asyncio.Event()
        self.connections = 0
        self.heartbeat_interval = float(
            self.device_model.get_int("OCPPCommCtrlr.HeartbeatInterval")
        )
        self.server_time: str | None = None
        self.auth_cache: dict[str, dict[str, Any]] = {}
        self.local_list = LocalList201()
        self.profiles = ChargingProfiles201(
            max_stack_level=self.device_model.get_int("SmartChargingCtrlr.ProfileStackLevel", 8),
            max_periods=self.device_model.get_int("SmartChargingCtrlr.PeriodsPerSchedule", 24),
        )
        self.certificates = CertificateStore("ChargingStationCertificate")
        self.reservations: dict[int, Reservation201] = {}
        self.network_profiles: dict[int, dict[str, Any]] = {}
        self.transactions: dict[str, Transaction201] = {}
        self.offline_queue: deque[Any] = deque()
        """TransactionEvent requests waiting to be sent (oldest first)."""
        self.received: list[ReceivedCall] = []
        self.sent: list[tuple[str, dict[str, Any]]] = []
        """(action, payload) of every call the station made (snake_case)."""
        self.resets: list[str] = []
        self.firmware_statuses: list[str] = []
        self.log_statuses: list[str] = []
        self.firmware_state = "Idle"
        self.firmware_request_id: int | None = None
        self.log_state = "Idle"
        self.log_request_id: int | None = None
        self.downloads: list[Any] = []
        """simulators.transfer.Download of every firmware fetched."""
        self.uploads: list[Any] = []
        """simulators.transfer.Upload of every log sent."""
        self.installed_firmware: str | None = None
        self.reports: list[int] = []
        """Request ids of the reports sent."""
        self.security_events: list[str] = []
        self.data_transfer_handler: DataTransferHandler | None = None
        self.websocket: Any = None
        self.connection_url: str | None = None

        self._tasks = BackgroundTasks(
            _log, station_id, quiet=(ConnectionLostError, ConnectionClosed)
        )
        self._deferred: dict[str, tuple[str, Job]] = {}
        self._heartbeat_task: asyncio.Task[Any] | None = None
        self._heartbeat_changed = asyncio.Event()
        self._boot_retry_task: asyncio.Task[Any] | None = None
        self._reconnect_task: asyncio.Task[Any] | None = None
        self._flush_lock = asyncio.Lock()
        self._lost: asyncio.Future[BaseException | None] | None = None
        self._dropping = False
        self._closed = False
        self._event_id = 0
        self._reset_pending: str | None = None

    # --- properties -----------------------------------------------------------------------

    @property
    def station_id(self) -> str:
        return str(self.id)

    @property
    def security_profile(self) -> int:
        return self.device_model.get_int("SecurityCtrlr.SecurityProfile")

    @security_profile.setter
    def security_profile(self, value: int) -> None:
        self.device_model.set_value("SecurityCtrlr.SecurityProfile", str(value))

    @property
    def online(self) -> bool:
        """Connected, and registered (BootNotification Accepted)."""
        return self.connected.is_set() and self.accepted.is_set() and not self.connection_lost

    @property
    def connection_lost(self) -> bool:
        return self._lost is None or self._lost.done()

    def received_calls(self, action: str) -> list[dict[str, Any]]:
        return [c.payload for c in self.received if c.action == action]

    def sent_calls(self, action: str) -> list[dict[str, Any]]:
        return [payload for name, payload in self.sent if name == action]

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds; AssertionError after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() > deadline:
                raise AssertionError(f"{self.id}: condition not met within {timeout} s")
            await asyncio.sleep(0.01)

    # --- connection -----------------------------------------------------------------------

    def _target(self) -> tuple[str, int]:
        """(URL, security profile) to connect to: the first network profile of
        NetworkConfigurationPriority that we hold, else the URL we were given."""
        for slot in self.device_model.get_list("OCPPCommCtrlr.NetworkConfigurationPriority"):
            with suppress(ValueError):
                profile = self.network_profiles.get(int(slot))
                if profile is not None:
                    return str(profile["ocpp_csms_url"]), int(profile["security_profile"])
        if self.url is None:
            raise SimulatorError(f"{self.id}: no CSMS URL")
        return self.url, self.security_profile

    def client_ssl_context(self, profile: int | None = None) -> ssl.SSLContext:
        """The TLS context the station connects with: its own signed certificate at
        security profile 3 once it has one, else ``ssl``, else trust only."""
        trusted = [self.ca_certificates] if self.ca_certificates else []
        if self.ssl is not None:
            for der in self.ssl.get_ca_certs(binary_form=True):
                trusted.append(ssl.DER_cert_to_PEM_cert(der))  # type: ignore[arg-type]
        level = self.security_profile if profile is None else profile
        if level >= 3 and self.certificates.client_chain_pem is not None:
            return self.certificates.client_ssl_context(trusted)
        if self.ssl is not None:
            return self.ssl
        return self.certificates.trust_context(trusted)

    async def connect(self) -> None:
        """Open the websocket (subprotocol ocpp2.0.1) and start receiving."""
        if self.connected.is_set() and not self.connection_lost:
            return
        self._closed = False
        base, profile = self._target()
        target = station_url(base, self.station_id)
        headers: list[tuple[str, str]] = list(self.ws_options.get("additional_headers") or [])
        if self.password and profile < 3:
            headers.append(("Authorization", basic_auth_header(self.station_id, self.password)))
        options = {k: v for k, v in self.ws_options.items() if k != "additional_headers"}
        options.setdefault("compression", None)
        if target.startswith("wss"):
            options["ssl"] = self.client_ssl_context(profile)
        websocket = await connect(
            target,
            subprotocols=[Subprotocol(SUBPROTOCOL)],
            additional_headers=headers or None,
            **options,
        )
        if websocket.subprotocol != SUBPROTOCOL:
            await websocket.close()
            raise SimulatorError(f"{self.id}: the CSMS did not agree on {SUBPROTOCOL}")
        self.websocket = websocket
        self.connection_url = target
        self._connection = (
            TracingConnection(websocket, self.station_id, self.observer)
            if self.observer is not None
            else websocket
        )
        self._response_queue: asyncio.Queue[Any] = asyncio.Queue()
        self._lost = asyncio.get_running_loop().create_future()
        self._dropping = False
        if profile != self.security_profile:
            self.security_profile = profile
        self.connections += 1
        self.connected.set()
        lost = self._lost
        self._tasks.spawn(self._receive(websocket, lost), name=f"{self.id}:receive")

    async def _receive(self, websocket: Any, lost: asyncio.Future[BaseException | None]) -> None:
        reason: BaseException | None = None
        try:
            await super().start()
        except ConnectionClosed as exc:
            reason = exc
        finally:
            if not lost.done():
                lost.set_result(reason)
            if self.websocket is websocket:
                self.connected.clear()
                self._stop_heartbeat()
        if not self._dropping and not self._closed and self.auto_reconnect:
            _log.info("%s: connection lost (%s); reconnecting", self.id, reason)
            self._start_reconnect(boot_reason="Unknown" if self.boot_on_reconnect else None)

    async def start(self) -> None:
        """Not used: :meth:`connect` runs the receive loop as a task."""
        raise SimulatorError("use connect() / connect201()")

    async def disconnect(self, *, reconnect: bool = False) -> None:
        """Close the websocket (the station stays alive: its sessions keep metering and
        queue their TransactionEvents). ``reconnect``: connect again on its own."""
        self._dropping = True
        websocket, lost = self.websocket, self._lost
        self.connected.clear()
        self._stop_heartbeat()
        if websocket is not None:
            await websocket.close()
        if lost is not None:
            await asyncio.shield(lost)
        if reconnect:
            self._start_reconnect(boot_reason=None)

    def _start_reconnect(self, *, boot_reason: str | None) -> None:
        if self._closed or (self._reconnect_task is not None and not self._reconnect_task.done()):
            return
        self._reconnect_task = self._tasks.spawn(
            self.reconnect(boot_reason=boot_reason), name=f"{self.id}:reconnect"
        )

    async def reconnect(self, *, boot_reason: str | None = None) -> None:
        """Connect again (retrying with back-off), boot if ``boot_reason`` is given (or if
        never accepted), report the connectors and send what was queued offline."""
        delay = self.reconnect_delay
        while not self._closed:
            try:
                await self.connect()
                break
            except (OSError, InvalidHandshake, SimulatorError, TimeoutError) as exc:
                _log.info("%s: reconnect failed: %s", self.id, exc)
                await asyncio.sleep(delay)
                delay = min(self.max_reconnect_delay, delay * 2)
        if self._closed:
            return
        if boot_reason is not None or self.registration_status != "Accepted":
            self.accepted.clear()
            result = await self.boot(reason=boot_reason or "PowerUp")
            if result.status != "Accepted":
                await self.accepted.wait()
        else:
            self._ensure_heartbeat()
        await self.announce()
        await self.flush_offline_queue()

    async def aclose(self) -> None:
        """Stop everything the station runs on its own and close the connection."""
        self._closed = True
        self._dropping = True
        self._deferred.clear()
        if self.websocket is not None:
            await self.websocket.close()
        await self._tasks.cancel_all()
        self.connected.clear()

    async def call(
        self,
        payload: Any,
        suppress: bool = True,
        unique_id: str | None = None,
        skip_schema_validation: bool = False,
    ) -> Any:
        """The library's ``call``, failing fast with ConnectionLostError when the socket closes."""
        lost = self._lost
        action = type(payload).__name__
        if lost is None or lost.done() or not self.connected.is_set():
            raise ConnectionLostError(f"{self.id}: not connected, cannot send {action}")
        self.sent.append((action, _plain(payload)))
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
        self.received.append(ReceivedCall(msg.action, _snake(msg.payload), utc_now()))
        return await super()._handle_call(msg)

    # --- registration, heartbeat ----------------------------------------------------------

    async def boot(self, reason: str = "PowerUp", **station: Any) -> Any:
        """BootNotification. Accepted starts the heartbeat loop at the returned interval;
        Pending or Rejected schedules another one after that interval.
        ``station``: further ``chargingStation`` fields (``serial_number``, ``modem``)."""
        self._boot_request = call.BootNotification(
            charging_station={
                "model": self.model,
                "vendor_name": self.vendor,
                "firmware_version": self.firmware_version,
                **({"serial_number": self.serial} if self.serial else {}),
                **station,
            },
            reason=reason,
        )
        result = await self._send_boot()
        if result.status != "Accepted":
            self._ensure_boot_retry()
        return result

    async def _send_boot(self) -> Any:
        self.boots.append(str(self._boot_request.reason))
        result = await self.call(self._boot_request, suppress=False)
        self.boot_result = result
        self.registration_status = str(result.status)
        self.server_time = result.current_time
        if result.status == "Accepted":
            if result.interval > 0:
                self._set_heartbeat_interval(float(result.interval))
            self.accepted.set()
            self._ensure_heartbeat()
            if self.offline_queue:
                self._tasks.spawn(self.flush_offline_queue(), name=f"{self.id}:flush")
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
            if self.registration_status == "Accepted":
                break
            try:
                await self._send_boot()
            except (OCPPError, TimeoutError, ConnectionLostError) as exc:
                _log.warning("%s: BootNotification failed: %s", self.id, exc)

    async def wait_accepted(self, seconds: float | None = None) -> bool:
        return await wait_event(self.accepted, seconds)

    def _set_heartbeat_interval(self, seconds: float) -> None:
        self.heartbeat_interval = seconds
        self.device_model.set_value("OCPPCommCtrlr.HeartbeatInterval", str(int(seconds)))
        self._heartbeat_changed.set()

    def _ensure_heartbeat(self) -> None:
        if self._heartbeat_task is None or self._heartbeat_task.done():
            self._heartbeat_task = self._tasks.spawn(
                self._heartbeat_loop(), name=f"{self.id}:heartbeat"
            )

    def _stop_heartbeat(self) -> None:
        if self._heartbeat_task is not None and self._heartbeat_task is not asyncio.current_task():
            self._heartbeat_task.cancel()
        self._heartbeat_task = None

    async def _heartbeat_loop(self) -> None:
        while True:
            self._heartbeat_changed.clear()
            interval = self.heartbeat_interval
            if await wait_event(self._heartbeat_changed, interval if interval > 0 else None):
                continue
            try:
                await self.heartbeat()
            except (OCPPError, TimeoutError) as exc:
                _log.warning("%s: Heartbeat failed: %s", self.id, exc)

    async def heartbeat(self) -> Any:
        result = await self.call(call.Heartbeat(), suppress=False)
        self.server_time = result.current_time
        return result

    # --- plain requests ---------------------------------------------------------------------

    async def status(
        self, evse_id: int = 1, connector_id: int = 1, status: str = "Available", **extra: Any
    ) -> Any:
        """StatusNotification for one connector (the state is kept even when offline)."""
        evse = self.evses.get(evse_id)
        if evse is not None and connector_id in evse.connectors:
            evse.connectors[connector_id] = status
            self._reflect_availability(evse)
        if not self.online:
            return None  # not queued: the station reports its state again when back
        return await self.call(
            call.StatusNotification(
                timestamp=format_timestamp(extra.pop("timestamp", None)),
                connector_status=status,
                evse_id=evse_id,
                connector_id=connector_id,
                **extra,
            ),
            suppress=False,
        )

    def _reflect_availability(self, evse: Evse201) -> None:
        for connector_id, state in evse.connectors.items():
            self.device_model.set_value(
                "Connector.AvailabilityState",
                state,
                evse_id=evse.evse_id,
                connector_id=connector_id,
            )
            self.device_model.set_value(
                "Connector.Available",
                "false" if state in ("Unavailable", "Faulted") else "true",
                evse_id=evse.evse_id,
                connector_id=connector_id,
            )
        states = set(evse.connectors.values())
        summary = next(
            (s for s in ("Faulted", "Occupied", "Reserved", "Unavailable") if s in states),
            "Available",
        )
        self.device_model.set_value("EVSE.AvailabilityState", summary, evse_id=evse.evse_id)
        self.device_model.set_value(
            "EVSE.Available", "true" if evse.operative else "false", evse_id=evse.evse_id
        )

    def _idle_status(self, evse: Evse201) -> str:
        if not evse.operative:
            return "Unavailable"
        return "Reserved" if evse.reservation is not None else "Available"

    async def _report_evse(self, evse: Evse201, status: str | None = None) -> None:
        for connector_id in evse.connectors:
            await self.status(evse.evse_id, connector_id, status or self._idle_status(evse))

    async def announce(self) -> None:
        """A StatusNotification with the current status of every connector."""
        for evse in self.evses.values():
            for connector_id, state in list(evse.connectors.items()):
                await self.status(evse.evse_id, connector_id, state)

    async def authorize(self, id_token: str, token_type: str = "ISO14443") -> dict[str, Any]:
        """Authorize; returns ``id_token_info`` (a dict). Offline: the local list, the cache
        or OfflineTxForUnknownIdEnabled decide, as a station does."""
        if not self.online:
            return self._offline_authorization(id_token)
        result = await self.call(
            call.Authorize(id_token={"id_token": id_token, "type": token_type}), suppress=False
        )
        info = dict(result.id_token_info)
        self._cache(id_token, info)
        return info

    def _cache(self, id_token: str, info: Mapping[str, Any]) -> None:
        if self.device_model.get_bool("AuthCacheCtrlr.Enabled", True):
            self.auth_cache[id_token] = dict(info)

    def _local_status(self, id_token: str) -> str | None:
        if self.device_model.get_bool("LocalAuthListCtrlr.Enabled", True):
            status = self.local_list.status_of(id_token)
            if status is not None:
                return status
        if (
            self.device_model.get_bool("AuthCacheCtrlr.Enabled", True)
            and id_token in self.auth_cache
        ):
            return str(self.auth_cache[id_token].get("status"))
        return None

    def _offline_authorization(self, id_token: str) -> dict[str, Any]:
        status = None
        if self.device_model.get_bool("AuthCtrlr.LocalAuthorizeOffline", True):
            status = self._local_status(id_token)
        if status is None and self.device_model.get_bool("AuthCtrlr.OfflineTxForUnknownIdEnabled"):
            status = "Accepted"
        return {"status": status or "Unknown"}

    async def meter_values(self, evse_id: int, meter_value: Sequence[Mapping[str, Any]]) -> Any:
        """MeterValues with a raw ``meter_value`` list (snake_case)."""
        return await self.call(
            call.MeterValues(evse_id=evse_id, meter_value=list(meter_value)), suppress=False
        )

    async def send_meter_values(
        self, evse_id: int = 1, context: str = "Sample.Clock", measurands: Sequence[str] = ()
    ) -> Any:
        """MeterValues with a sample of the EVSE's meter (AlignedDataCtrlr.Measurands)."""
        wanted = list(measurands) or self.device_model.get_list("AlignedDataCtrlr.Measurands")
        sample = meter_value201(self.evses[evse_id].meter.sample(), wanted, context)
        return await self.meter_values(evse_id, [sample])

    async def notify_event(
        self,
        component: str | Mapping[str, Any] = "ChargingStation",
        variable: str | Mapping[str, Any] = "Problem",
        actual_value: str = "true",
        *,
        trigger: str = "Delta",
        event_notification_type: str = "HardWiredNotification",
        event_data: Sequence[Mapping[str, Any]] | None = None,
        **extra: Any,
    ) -> Any:
        """NotifyEvent: one event (component, variable, actual value) or raw ``event_data``."""
        if event_data is None:
            self._event_id += 1
            event = {
                "event_id": self._event_id,
                "timestamp": format_timestamp(),
                "trigger": trigger,
                "actual_value": actual_value,
                "event_notification_type": event_notification_type,
                "component": {"name": component} if isinstance(component, str) else component,
                "variable": {"name": variable} if isinstance(variable, str) else variable,
                **extra,
            }
            event_data = [event]
        return await self.call(
            call.NotifyEvent(
                generated_at=format_timestamp(), seq_no=0, event_data=list(event_data)
            ),
            suppress=False,
        )

    async def security_event(self, type: str, tech_info: str | None = None) -> Any:
        """SecurityEventNotification (sent only when online; a real station would queue it)."""
        self.security_events.append(type)
        if not self.online:
            return None
        return await self.call(
            call.SecurityEventNotification(
                type=type, timestamp=format_timestamp(), tech_info=tech_info
            ),
            suppress=False,
        )

    async def sign_certificate(self, certificate_type: str = "ChargingStationCertificate") -> Any:
        """SignCertificate with a new CSR (P-256 key, CN = station id, O = OrganizationName)."""
        organization = self.device_model.get("SecurityCtrlr.OrganizationName") or self.vendor
        csr = self.certificates.new_csr(self.station_id, organization)
        return await self.call(
            call.SignCertificate(csr=csr, certificate_type=certificate_type), suppress=False
        )

    async def data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: Any = None
    ) -> Any:
        return await self.call(
            call.DataTransfer(vendor_id=vendor_id, message_id=message_id, data=data),
            suppress=False,
        )

    async def firmware_status(self, status: str, request_id: int | None = None) -> Any:
        self.firmware_state = status
        self.firmware_statuses.append(status)
        return await self.call(
            call.FirmwareStatusNotification(status=status, request_id=request_id), suppress=False
        )

    async def log_status(self, status: str, request_id: int | None = None) -> Any:
        self.log_state = status
        self.log_statuses.append(status)
        return await self.call(
            call.LogStatusNotification(status=status, request_id=request_id), suppress=False
        )

    # --- transactions -----------------------------------------------------------------------

    async def _transaction_event(
        self,
        tx: Transaction201,
        event_type: str,
        trigger_reason: str,
        *,
        meter_value: Sequence[Mapping[str, Any]] | None = None,
        id_token: Mapping[str, Any] | None = None,
        with_evse: bool = False,
        timestamp: datetime | None = None,
    ) -> Any:
        """Make one TransactionEvent and send it, or queue it while offline."""
        info: dict[str, Any] = {
            "transaction_id": tx.transaction_id,
            "charging_state": tx.charging_state,
        }
        if tx.remote_start_id is not None and event_type == "Started":
            info["remote_start_id"] = tx.remote_start_id
        if tx.stopped_reason is not None and event_type == "Ended":
            info["stopped_reason"] = tx.stopped_reason
        offline = not self.online
        request = call.TransactionEvent(
            event_type=event_type,
            timestamp=format_timestamp(timestamp),
            trigger_reason=trigger_reason,
            seq_no=tx.seq_no,
            transaction_info=info,
            meter_value=list(meter_value) if meter_value else None,
            offline=True if offline else None,
            evse={"id": tx.evse_id, "connector_id": tx.connector_id} if with_evse else None,
            id_token=dict(id_token) if id_token else None,
            reservation_id=tx.reservation_id if event_type == "Started" else None,
        )
        tx.seq_no += 1
        tx.events.append(_plain(request))
        if offline or self.offline_queue:
            self.offline_queue.append(request)
            if not offline:
                self._tasks.spawn(self.flush_offline_queue(), name=f"{self.id}:flush")
            return None
        try:
            result = await self.call(request, suppress=False)
        except ConnectionLostError:
            self.offline_queue.appendleft(request)  # sent again when back
            return None
        self._after_transaction_answer(request, result)
        return result

    def _after_transaction_answer(self, request: Any, result: Any) -> None:
        info = getattr(result, "id_token_info", None)
        tx = self.transactions.get(request.transaction_info["transaction_id"])
        if info and request.id_token:
            self._cache(str(request.id_token["id_token"]), info)
        if info and tx is not None and not tx.ended:
            tx.id_token_status = str(info.get("status"))
            if (
                tx.id_token_status != "Accepted"
                and self.device_model.get_bool("TxCtrlr.StopTxOnInvalidId", True)
                and tx.stop_requested is None
            ):
                tx.stop_requested = ("DeAuthorized", "Deauthorized")
                tx.wake.set()

    async def flush_offline_queue(self) -> None:
        """Send the queued TransactionEvents in order while online."""
        async with self._flush_lock:
            while self.offline_queue and self.online:
                request = self.offline_queue[0]
                try:
                    result = await self.call(request, suppress=False)
                except ConnectionLostError:
                    return
                except (OCPPError, TimeoutError) as exc:
                    _log.warning("%s: queued TransactionEvent refused: %s", self.id, exc)
                    result = None
                if self.offline_queue and self.offline_queue[0] is request:
                    self.offline_queue.popleft()
                if result is not None:
                    self._after_transaction_answer(request, result)

    def _evse(self, evse_id: int) -> Evse201:
        try:
            return self.evses[evse_id]
        except KeyError:
            raise ValueError(f"{self.id} has no EVSE {evse_id}") from None

    async def start_transaction(
        self,
        evse_id: int = 1,
        *,
        id_token: str,
        token_type: str = "ISO14443",
        connector_id: int = 1,
        authorize: bool | None = None,
        remote_start_id: int | None = None,
        trigger_reason: str | None = None,
        power_w: float | None = None,
        meter_interval: float | None = None,
        meter_start: int | None = None,
        ev_soc: float | None = None,
        charging_profile: Mapping[str, Any] | None = None,
        _claimed: bool = False,
    ) -> Transaction201:
        """An EV plugs in and a driver presents ``id_token``: StatusNotification Occupied,
        Authorize (unless the local list pre-authorises it; offline the local rules
        decide), TransactionEvent Started (meter values of TxStartedMeasurands). The
        transaction then sends Updated events every ``meter_interval`` seconds
        (default: SampledDataCtrlr.TxUpdatedInterval) until :meth:`stop_transaction`.

        Raises :class:`IdTokenRefusedError` if the token is refused before a transaction
        starts. If the Started answer refuses it, the transaction ends (DeAuthorized).
        """
        evse = self._evse(evse_id)
        if evse.transaction is not None:
            raise ConnectorBusyError(f"EVSE {evse_id} already has a transaction")
        if evse.claimed and not _claimed:
            raise ConnectorBusyError(f"EVSE {evse_id} is about to start a remote transaction")
        if not evse.operative:
            raise ConnectorBusyError(f"EVSE {evse_id} is Unavailable")
        reservation = evse.reservation
        if reservation is not None and reservation.id_token.get("id_token") != id_token:
            raise ConnectorBusyError(f"EVSE {evse_id} is reserved for another id token")
        token = {"id_token": id_token, "type": token_type}
        evse.claimed = True
        try:
            if authorize is None:
                authorize = remote_start_id is None or self.device_model.get_bool(
                    "AuthCtrlr.AuthorizeRemoteStart", True
                )
            await self.status(evse_id, connector_id, "Occupied")
            status = "Accepted"
            if authorize and self.device_model.get_bool("AuthCtrlr.Enabled", True):
                local = None
                if self.online and self.device_model.get_bool("AuthCtrlr.LocalPreAuthorize"):
                    local = self._local_status(id_token)
                if local == "Accepted":
                    status = local
                else:
                    status = str((await self.authorize(id_token, token_type)).get("status"))
            if status != "Accepted":
                await self.status(evse_id, connector_id, self._idle_status(evse))
                raise IdTokenRefusedError(id_token, status)
            meter = evse.meter
            if meter_start is not None:
                meter.energy_wh = float(meter_start)
            meter.plug_in(self.ev_initial_soc if ev_soc is None else ev_soc, self.ev_battery_wh)
            started = utc_now()
            tx = Transaction201(
                transaction_id=str(uuid.uuid4()),
                evse_id=evse_id,
                connector_id=connector_id,
                id_token=token,
                started_at=started,
                meter_start=meter.register_wh,
                remote_start_id=remote_start_id,
                reservation_id=reservation.reservation_id if reservation is not None else None,
                power_w=self.power_w if power_w is None else power_w,
                meter_interval=self._interval(meter_interval),
                started_offline=not self.online,
            )
            if reservation is not None:
                self._drop_reservation(reservation)
            evse.transaction = tx
            self.transactions[tx.transaction_id] = tx
            if charging_profile is not None:
                profile = {**charging_profile, "transaction_id": tx.transaction_id}
                profile.setdefault("charging_profile_purpose", "TxProfile")
                self.profiles.install(
                    evse_id, profile, evses=self.evses, transaction_of=self._running()
                )
            tx.charging_state = self._update_power(evse, tx)
            begin = meter_value201(
                meter.sample(started),
                self.device_model.get_list("SampledDataCtrlr.TxStartedMeasurands"),
                "Transaction.Begin",
            )
            reason = trigger_reason or (
                "RemoteStart" if remote_start_id is not None else "Authorized"
            )
            await self._transaction_event(
                tx,
                "Started",
                reason,
                meter_value=[begin] if begin["sampled_value"] else None,
                id_token=token,
                with_evse=True,
                timestamp=started,
            )
            tx.task = self._tasks.spawn(self._meter_loop(evse, tx), name=f"{self.id}:tx")
            return tx
        finally:
            evse.claimed = False

    def _interval(self, meter_interval: float | None) -> float:
        if meter_interval is not None:
            return float(meter_interval)
        if self.meter_interval is not None:
            return float(self.meter_interval)
        return float(self.device_model.get_int("SampledDataCtrlr.TxUpdatedInterval", 60))

    def _running(self) -> dict[int, str | None]:
        return {
            n: (e.transaction.transaction_id if e.transaction is not None else None)
            for n, e in self.evses.items()
        }

    def _update_power(self, evse: Evse201, tx: Transaction201) -> str:
        meter = evse.meter
        limit = self.profiles.limit_w(evse.evse_id, voltage=meter.voltage_v, phases=meter.phases)
        offered = self.max_power_w if limit is None else min(limit, self.max_power_w)
        actual = meter.set_power(tx.power_w, offered)
        if actual > 0:
            return "Charging"
        return "SuspendedEV" if meter.ev_full or tx.power_w <= 0 else "SuspendedEVSE"

    async def _meter_loop(self, evse: Evse201, tx: Transaction201) -> None:
        """Meter the transaction; Updated events periodically and on charging state
        changes; on a stop request, the Ended event."""
        loop = asyncio.get_running_loop()
        meter = evse.meter
        start = last = loop.time()
        interval = tx.meter_interval
        ticks = 1
        try:
            while tx.stop_requested is None:
                now = loop.time()
                due = start + ticks * interval if interval > 0 else math.inf
                if due > now:
                    await wait_event(tx.wake, due - now if math.isfinite(due) else None)
                tx.wake.clear()
                now = loop.time()
                meter.advance(now - last)
                last = now
                if tx.stop_requested is not None:
                    break
                state = self._update_power(evse, tx)
                if state != tx.charging_state:
                    tx.charging_state = state
                    await self._transaction_event(tx, "Updated", "ChargingStateChanged")
                if interval > 0 and now >= start + ticks * interval:
                    ticks = math.floor((now - start) / interval) + 1
                    measurands = self.device_model.get_list("SampledDataCtrlr.TxUpdatedMeasurands")
                    value = meter_value201(meter.sample(), measurands, "Sample.Periodic")
                    await self._transaction_event(
                        tx,
                        "Updated",
                        "MeterValuePeriodic",
                        meter_value=[value] if value["sampled_value"] else None,
                    )
            meter.advance(loop.time() - last)
            await self._end(evse, tx, *tx.stop_requested)
        finally:
            meter.power_w = 0.0
            if evse.transaction is tx:
                evse.transaction = None
            tx.ended = True
            tx.done.set()

    async def _end(self, evse: Evse201, tx: Transaction201, reason: str, trigger: str) -> None:
        meter = evse.meter
        meter.set_power(0.0)
        tx.stopped_reason = reason
        tx.charging_state = "EVConnected"
        end = meter_value201(
            meter.sample(),
            self.device_model.get_list("SampledDataCtrlr.TxEndedMeasurands"),
            "Transaction.End",
        )
        local_stop = trigger == "StopAuthorized"
        evse.transaction = None
        tx.ended = True
        self.profiles.end_transaction(evse.evse_id)
        await self._transaction_event(
            tx,
            "Ended",
            trigger,
            meter_value=[end] if end["sampled_value"] else None,
            id_token=tx.id_token if local_stop else None,
        )
        meter.unplug()
        if evse.pending_operative is not None:
            evse.operative = evse.pending_operative
            evse.pending_operative = None
        await self.status(evse.evse_id, tx.connector_id, self._idle_status(evse))
        if self._reset_pending == "OnIdle" and not any(e.busy for e in self.evses.values()):
            self._reset_pending = None
            self._tasks.spawn(self._reboot("Immediate"), name=f"{self.id}:reset")

    async def stop_transaction(
        self, evse_id: int = 1, *, reason: str = "Local", trigger_reason: str | None = None
    ) -> Transaction201:
        """End the EVSE's transaction (TransactionEvent Ended with ``stoppedReason``; the EV
        leaves: StatusNotification Available). Waits until the Ended event is made."""
        evse = self._evse(evse_id)
        tx = evse.transaction
        if tx is None:
            raise SimulatorError(f"EVSE {evse_id} has no transaction")
        await self._request_stop(
            tx, reason, trigger_reason or _TRIGGER_OF_REASON.get(reason, "AbnormalCondition")
        )
        return tx

    async def _request_stop(self, tx: Transaction201, reason: str, trigger: str) -> None:
        if tx.stop_requested is None:
            tx.stop_requested = (reason, trigger)
        tx.wake.set()
        await tx.done.wait()

    async def run_session(
        self,
        evse_id: int = 1,
        *,
        id_token: str,
        duration: float | None = 60,
        reason: str = "Local",
        **options: Any,
    ) -> Transaction201:
        """A whole transaction: start, charge ``duration`` seconds (None: until the CSMS
        stops it), stop. ``options`` go to :meth:`start_transaction`."""
        tx = await self.start_transaction(evse_id, id_token=id_token, **options)
        if duration is None or await wait_event(tx.done, duration):
            await tx.done.wait()
        else:
            await self.stop_transaction(evse_id, reason=reason)
        return tx

    async def stop_all(self, reason: str, trigger: str) -> None:
        await asyncio.gather(
            *(
                self._request_stop(e.transaction, reason, trigger)
                for e in self.evses.values()
                if e.transaction is not None
            )
        )

    # --- deferral (see simulators.ocpp16) ---------------------------------------------------
    #
    # The library runs an @on handler inside its receive loop, so a handler must not await
    # a call of its own. Work that sends messages is registered under the call's unique id
    # and spawned by the @after handler, once the answer is sent.

    def _defer(self, unique_id: str, action: str, job: Job) -> None:
        self._deferred[unique_id] = (action, job)

    def _run_deferred(self, unique_id: str) -> None:
        entry = self._deferred.pop(unique_id, None)
        if entry is not None and not self._closed:
            action, job = entry
            self._tasks.spawn(job(), name=f"{self.id}:{action}")

    # --- remote start / stop ---------------------------------------------------------------

    @on(Action.request_start_transaction)
    def on_request_start_transaction(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        evse_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        call_unique_id: str = "",
        **_: Any,
    ) -> Any:
        evse = self._free_evse(evse_id, id_token)
        if evse is None or (
            charging_profile is not None
            and charging_profile.get("charging_profile_purpose") != "TxProfile"
        ):
            return call_result.RequestStartTransaction(status="Rejected")
        evse.claimed = True
        self._defer(
            call_unique_id,
            "RequestStartTransaction",
            lambda: self._remote_session(evse, id_token, remote_start_id, charging_profile),
        )
        return call_result.RequestStartTransaction(status="Accepted")

    @after(Action.request_start_transaction)
    def after_request_start_transaction(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    def _free_evse(self, evse_id: int | None, id_token: Mapping[str, Any]) -> Evse201 | None:
        if evse_id is not None:
            candidates = [self.evses[evse_id]] if evse_id in self.evses else []
        else:
            candidates = sorted(
                self.evses.values(), key=lambda e: (e.reservation is None, e.evse_id)
            )
        for evse in candidates:
            reserved_for = evse.reservation.id_token.get("id_token") if evse.reservation else None
            if (
                evse.operative
                and not evse.busy
                and "Faulted" not in evse.connectors.values()
                and reserved_for in (None, id_token.get("id_token"))
            ):
                return evse
        return None

    async def _remote_session(
        self,
        evse: Evse201,
        id_token: Mapping[str, Any],
        remote_start_id: int,
        profile: dict[str, Any] | None,
    ) -> None:
        try:
            tx = await self.start_transaction(
                evse.evse_id,
                id_token=str(id_token["id_token"]),
                token_type=str(id_token.get("type", "ISO14443")),
                remote_start_id=remote_start_id,
                charging_profile=profile,
                _claimed=True,
            )
        except IdTokenRefusedError as exc:
            _log.info("%s: remote start refused: %s", self.id, exc)
            return
        finally:
            evse.claimed = False
        if self.remote_session_duration is not None and not await wait_event(
            tx.done, self.remote_session_duration
        ):
            await self._request_stop(tx, "Local", "StopAuthorized")

    @on(Action.request_stop_transaction)
    def on_request_stop_transaction(
        self, transaction_id: str, call_unique_id: str = "", **_: Any
    ) -> Any:
        tx = self.transactions.get(transaction_id)
        if tx is None or tx.ended or tx.stop_requested is not None:
            return call_result.RequestStopTransaction(status="Rejected")
        self._defer(
            call_unique_id,
            "RequestStopTransaction",
            lambda: self._request_stop(tx, "Remote", "RemoteStop"),
        )
        return call_result.RequestStopTransaction(status="Accepted")

    @after(Action.request_stop_transaction)
    def after_request_stop_transaction(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    # --- reset, unlock, availability --------------------------------------------------------

    @on(Action.reset)
    def on_reset(
        self, type: str, evse_id: int | None = None, call_unique_id: str = "", **_: Any
    ) -> Any:
        self.resets.append(type if evse_id is None else f"{type}:{evse_id}")
        if evse_id is not None:
            evse = self.evses.get(evse_id)
            if evse is None:
                return call_result.Reset(status="Rejected")
            if type == "OnIdle" and evse.busy:
                return call_result.Reset(status="Scheduled")
            tx = evse.transaction
            self._defer(
                call_unique_id,
                "Reset",
                lambda: self._reset_evse(evse, tx),
            )
            return call_result.Reset(status="Accepted")
        if type == "OnIdle" and any(e.busy for e in self.evses.values()):
            self._reset_pending = "OnIdle"
            return call_result.Reset(status="Scheduled")
        self._defer(call_unique_id, "Reset", lambda: self._reboot(type))
        return call_result.Reset(status="Accepted")

    @after(Action.reset)
    def after_reset(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    async def _reset_evse(self, evse: Evse201, tx: Transaction201 | None) -> None:
        if tx is not None:
            await self._request_stop(tx, "ImmediateReset", "ResetCommand")
        await self._report_evse(evse)

    async def _reboot(self, kind: str) -> None:
        """Stop the transactions, drop the connection, come back, boot (RemoteReset)."""
        await self.stop_all("ImmediateReset", "ResetCommand")
        await self.disconnect()
        self.registration_status = None
        self.accepted.clear()
        await asyncio.sleep(self.reboot_delay)
        for evse in self.evses.values():
            if evse.pending_operative is not None:
                evse.operative = evse.pending_operative
                evse.pending_operative = None
            for connector_id in evse.connectors:
                evse.connectors[connector_id] = self._idle_status(evse)
        await self.reconnect(boot_reason="RemoteReset")
        await self.security_event("ResetOrReboot", f"{kind} reset requested by the CSMS")

    @on(Action.unlock_connector)
    def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any) -> Any:
        evse = self.evses.get(evse_id)
        if evse is None or connector_id not in evse.connectors:
            return call_result.UnlockConnector(status="UnknownConnector")
        tx = evse.transaction
        if tx is not None and tx.connector_id == connector_id and tx.id_token_status != "Invalid":
            return call_result.UnlockConnector(status="OngoingAuthorizedTransaction")
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.change_availability)
    def on_change_availability(
        self,
        operational_status: str,
        evse: dict[str, Any] | None = None,
        call_unique_id: str = "",
        **_: Any,
    ) -> Any:
        operative = operational_status == "Operative"
        if evse is None or evse.get("id") in (None, 0):
            targets = list(self.evses.values())
        elif evse["id"] in self.evses:
            target = self.evses[evse["id"]]
            if (
                evse.get("connector_id") is not None
                and evse["connector_id"] not in target.connectors
            ):
                return call_result.ChangeAvailability(status="Rejected")
            targets = [target]
        else:
            return call_result.ChangeAvailability(status="Rejected")
        scheduled = False
        changed: list[Evse201] = []
        for target in targets:
            if target.busy and target.operative != operative:
                target.pending_operative = operative
                scheduled = True
            elif target.operative != operative:
                target.operative = operative
                changed.append(target)
        if evse is None or evse.get("id") in (None, 0):
            self.device_model.set_value(
                "ChargingStation.AvailabilityState", "Available" if operative else "Unavailable"
            )

        async def announce() -> None:
            for target in changed:
                await self._report_evse(target)

        if changed:
            self._defer(call_unique_id, "ChangeAvailability", announce)
        return call_result.ChangeAvailability(status="Scheduled" if scheduled else "Accepted")

    @after(Action.change_availability)
    def after_change_availability(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    # --- device model ------------------------------------------------------------------------

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        limit = self.device_model.get_int("DeviceDataCtrlr.ItemsPerMessage[GetVariables]", 50)
        if len(get_variable_data) > limit:
            raise OccurrenceConstraintViolationError(
                description=f"at most {limit} variables per GetVariables"
            )
        return call_result.GetVariables(
            get_variable_result=self.device_model.get_variables(get_variable_data)
        )

    @on(Action.set_variables)
    def on_set_variables(
        self, set_variable_data: list[dict[str, Any]], call_unique_id: str = "", **_: Any
    ) -> Any:
        limit = self.device_model.get_int("DeviceDataCtrlr.ItemsPerMessage[SetVariables]", 50)
        if len(set_variable_data) > limit:
            raise OccurrenceConstraintViolationError(
                description=f"at most {limit} variables per SetVariables"
            )
        results, changed = self.device_model.set_variables(set_variable_data)
        events: list[str] = []
        for variable in changed:
            name = f"{variable.component}.{variable.name}"
            if name == "OCPPCommCtrlr.HeartbeatInterval":
                self._set_heartbeat_interval(float(variable.value))
            elif name == "SecurityCtrlr.BasicAuthPassword":
                self.password = variable.value  # used from the next connection on
                events.append("ReconfigurationOfSecurityParameters")
            elif name == "AuthCacheCtrlr.Enabled" and variable.value == "false":
                self.auth_cache.clear()
        if events:
            self._defer(
                call_unique_id,
                "SetVariables",
                lambda: self._security_events(events),
            )
        return call_result.SetVariables(set_variable_result=results)

    @after(Action.set_variables)
    def after_set_variables(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    async def _security_events(self, types: Sequence[str]) -> None:
        for kind in types:
            await self.security_event(kind)

    @on(Action.get_base_report)
    def on_get_base_report(
        self, request_id: int, report_base: str, call_unique_id: str = "", **_: Any
    ) -> Any:
        data = self.device_model.base_report(report_base)
        if data is None:
            return call_result.GetBaseReport(status="NotSupported")
        if not data:
            return call_result.GetBaseReport(status="EmptyResultSet")
        self._defer(call_unique_id, "GetBaseReport", lambda: self._notify_report(request_id, data))
        return call_result.GetBaseReport(status="Accepted")

    @after(Action.get_base_report)
    def after_get_base_report(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    async def _notify_report(self, request_id: int, data: list[dict[str, Any]]) -> None:
        size = max(1, self.device_model.get_int("DeviceDataCtrlr.ItemsPerMessage[GetReport]", 20))
        parts = [data[i : i + size] for i in range(0, len(data), size)]
        generated = format_timestamp()
        for seq_no, part in enumerate(parts):
            await self.call(
                call.NotifyReport(
                    request_id=request_id,
                    generated_at=generated,
                    seq_no=seq_no,
                    report_data=part,
                    tbc=seq_no < len(parts) - 1,
                ),
                suppress=False,
            )
        self.reports.append(request_id)

    # --- trigger message ----------------------------------------------------------------------

    @on(Action.trigger_message)
    def on_trigger_message(
        self,
        requested_message: str,
        evse: dict[str, Any] | None = None,
        call_unique_id: str = "",
        **_: Any,
    ) -> Any:
        evse_id = None if evse is None else evse.get("id")
        connector_id = None if evse is None else evse.get("connector_id")
        if evse_id is not None and evse_id not in self.evses:
            return call_result.TriggerMessage(status="Rejected")
        jobs: dict[str, Job] = {
            "BootNotification": self._triggered_boot,
            "Heartbeat": self.heartbeat,
            "StatusNotification": lambda: self._triggered_status(evse_id, connector_id),
            "MeterValues": lambda: self._triggered_meter_values(evse_id),
            "TransactionEvent": lambda: self._triggered_transaction_event(evse_id),
            "FirmwareStatusNotification": lambda: self.firmware_status(
                self.firmware_state if self.firmware_state not in _FIRMWARE_DONE else "Idle",
                self.firmware_request_id if self.firmware_state not in _FIRMWARE_DONE else None,
            ),
            "LogStatusNotification": lambda: self.log_status(
                "Uploading" if self.log_state == "Uploading" else "Idle",
                self.log_request_id if self.log_state == "Uploading" else None,
            ),
            "SignChargingStationCertificate": self._triggered_sign,
            "SignV2GCertificate": lambda: self.sign_certificate("V2GCertificate"),
        }
        job = jobs.get(requested_message)
        if job is None:
            return call_result.TriggerMessage(status="NotImplemented")
        if requested_message == "BootNotification" and self.registration_status == "Accepted":
            return call_result.TriggerMessage(status="Rejected")  # F06.FR.17
        if requested_message == "TransactionEvent" and not any(
            e.transaction is not None
            for n, e in self.evses.items()
            if evse_id is None or n == evse_id
        ):
            return call_result.TriggerMessage(status="Rejected")
        self._defer(call_unique_id, f"TriggerMessage:{requested_message}", job)
        return call_result.TriggerMessage(status="Accepted")

    @after(Action.trigger_message)
    def after_trigger_message(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    async def _triggered_boot(self) -> None:
        self._boot_request = call.BootNotification(
            charging_station=self._boot_request.charging_station
            if hasattr(self, "_boot_request")
            else {"model": self.model, "vendor_name": self.vendor},
            reason="Triggered",
        )
        result = await self._send_boot()
        if result.status != "Accepted":
            self._ensure_boot_retry()

    async def _triggered_status(self, evse_id: int | None, connector_id: int | None) -> None:
        for number, evse in self.evses.items():
            if evse_id is not None and number != evse_id:
                continue
            for cid, state in list(evse.connectors.items()):
                if connector_id is None or cid == connector_id:
                    await self.status(number, cid, state)

    async def _triggered_meter_values(self, evse_id: int | None) -> None:
        measurands = self.device_model.get_list("AlignedDataCtrlr.Measurands")
        for number, evse in self.evses.items():
            if evse_id is None or number == evse_id:
                value = meter_value201(evse.meter.sample(), measurands, "Trigger")
                await self.meter_values(number, [value])

    async def _triggered_transaction_event(self, evse_id: int | None) -> None:
        measurands = self.device_model.get_list("SampledDataCtrlr.TxUpdatedMeasurands")
        for number, evse in self.evses.items():
            tx = evse.transaction
            if tx is not None and (evse_id is None or number == evse_id):
                value = meter_value201(evse.meter.sample(), measurands, "Trigger")
                await self._transaction_event(tx, "Updated", "Trigger", meter_value=[value])

    async def _triggered_sign(self) -> None:
        await self.sign_certificate("ChargingStationCertificate")

    # --- authorisation data ----------------------------------------------------------------

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> Any:
        if not self.device_model.get_bool("AuthCacheCtrlr.Enabled", True):
            return call_result.ClearCache(status="Rejected")
        self.auth_cache.clear()
        return call_result.ClearCache(status="Accepted")

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> Any:
        return call_result.GetLocalListVersion(version_number=self.local_list.version)

    @on(Action.send_local_list)
    def on_send_local_list(
        self,
        version_number: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> Any:
        dm = self.device_model
        status = self.local_list.update(
            version_number,
            update_type,
            local_authorization_list,
            items_per_message=dm.get_int("LocalAuthListCtrlr.ItemsPerMessage", 100),
            capacity=dm.get_int("LocalAuthListCtrlr.Storage", 1000),
            enabled=dm.get_bool("LocalAuthListCtrlr.Enabled", True),
        )
        dm.set_value("LocalAuthListCtrlr.Entries", str(len(self.local_list.entries)))
        return call_result.SendLocalList(status=status)

    # --- reservations ----------------------------------------------------------------------

    @on(Action.reserve_now)
    def on_reserve_now(
        self,
        id: int,
        expiry_date_time: str,
        id_token: dict[str, Any],
        evse_id: int | None = None,
        group_id_token: dict[str, Any] | None = None,
        call_unique_id: str = "",
        **_: Any,
    ) -> Any:
        if not self.device_model.get_bool("ReservationCtrlr.Enabled", True):
            return call_result.ReserveNow(status="Rejected")
        try:
            expiry = parse_timestamp(expiry_date_time)
        except ValueError:
            return call_result.ReserveNow(status="Rejected")
        if expiry <= utc_now():
            return call_result.ReserveNow(status="Rejected")
        existing = self.reservations.get(id)
        if evse_id is not None and evse_id != 0:
            evse = self.evses.get(evse_id)
            if evse is None:
                return call_result.ReserveNow(status="Rejected")
            if "Faulted" in evse.connectors.values():
                return call_result.ReserveNow(status="Faulted")
            if not evse.operative:
                return call_result.ReserveNow(status="Unavailable")
            if evse.busy or (evse.reservation is not None and evse.reservation is not existing):
                return call_result.ReserveNow(status="Occupied")
        else:
            free = [
                e
                for e in self.evses.values()
                if e.operative
                and not e.busy
                and (e.reservation is None or e.reservation is existing)
            ]
            if not free:
                return call_result.ReserveNow(status="Occupied")
            evse = free[0]
        if existing is not None:
            self._drop_reservation(existing)
        reservation = Reservation201(id, id_token, expiry, evse.evse_id, group_id_token)
        self.reservations[id] = reservation
        evse.reservation = reservation
        reservation.timer = self._tasks.spawn(
            self._expire_reservation(reservation), name=f"{self.id}:reservation"
        )
        self._defer(call_unique_id, "ReserveNow", lambda: self._report_evse(evse, "Reserved"))
        return call_result.ReserveNow(status="Accepted")

    @after(Action.reserve_now)
    def after_reserve_now(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    def _drop_reservation(self, reservation: Reservation201) -> None:
        self.reservations.pop(reservation.reservation_id, None)
        for evse in self.evses.values():
            if evse.reservation is reservation:
                evse.reservation = None
        if reservation.timer is not None and reservation.timer is not asyncio.current_task():
            reservation.timer.cancel()

    async def _expire_reservation(self, reservation: Reservation201) -> None:
        await asyncio.sleep(max(0.0, (reservation.expiry - utc_now()).total_seconds()))
        if self.reservations.get(reservation.reservation_id) is not reservation:
            return
        evse = self.evses.get(reservation.evse_id or 0)
        self._drop_reservation(reservation)
        await self.call(
            call.ReservationStatusUpdate(
                reservation_id=reservation.reservation_id, reservation_update_status="Expired"
            ),
            suppress=False,
        )
        if evse is not None and not evse.busy:
            await self._report_evse(evse)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, call_unique_id: str = "", **_: Any) -> Any:
        reservation = self.reservations.get(reservation_id)
        if reservation is None:
            return call_result.CancelReservation(status="Rejected")
        evse = self.evses.get(reservation.evse_id or 0)
        self._drop_reservation(reservation)
        if evse is not None and not evse.busy:
            self._defer(call_unique_id, "CancelReservation", lambda: self._report_evse(evse))
        return call_result.CancelReservation(status="Accepted")

    @after(Action.cancel_reservation)
    def after_cancel_reservation(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    # --- smart charging --------------------------------------------------------------------

    @on(Action.set_charging_profile)
    def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], call_unique_id: str = "", **_: Any
    ) -> Any:
        if not self.device_model.get_bool("SmartChargingCtrlr.Enabled", True):
            return call_result.SetChargingProfile(status="Rejected")
        status = self.profiles.install(
            evse_id, charging_profile, evses=self.evses, transaction_of=self._running()
        )
        self.device_model.set_value(
            "SmartChargingCtrlr.Entries[ChargingProfiles]", str(len(self.profiles.installed))
        )
        if status == "Accepted":
            self._defer(call_unique_id, "SetChargingProfile", self._wake_transactions)
        return call_result.SetChargingProfile(status=status)

    @after(Action.set_charging_profile)
    def after_set_charging_profile(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    async def _wake_transactions(self) -> None:
        for evse in self.evses.values():
            if evse.transaction is not None:
                evse.transaction.wake.set()

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        call_unique_id: str = "",
        **_: Any,
    ) -> Any:
        status = self.profiles.clear(charging_profile_id, charging_profile_criteria)
        self.device_model.set_value(
            "SmartChargingCtrlr.Entries[ChargingProfiles]", str(len(self.profiles.installed))
        )
        if status == "Accepted":
            self._defer(call_unique_id, "ClearChargingProfile", self._wake_transactions)
        return call_result.ClearChargingProfile(status=status)

    @after(Action.clear_charging_profile)
    def after_clear_charging_profile(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    @on(Action.get_charging_profiles)
    def on_get_charging_profiles(
        self,
        request_id: int,
        charging_profile: dict[str, Any],
        evse_id: int | None = None,
        call_unique_id: str = "",
        **_: Any,
    ) -> Any:
        found = self.profiles.select(charging_profile, evse_id)
        if not found:
            return call_result.GetChargingProfiles(status="NoProfiles")

        async def report() -> None:
            items = sorted(found.items())
            for n, (number, profiles) in enumerate(items):
                await self.call(
                    call.ReportChargingProfiles(
                        request_id=request_id,
                        charging_limit_source="CSO",
                        charging_profile=profiles,
                        evse_id=number,
                        tbc=n < len(items) - 1,
                    ),
                    suppress=False,
                )

        self._defer(call_unique_id, "GetChargingProfiles", report)
        return call_result.GetChargingProfiles(status="Accepted")

    @after(Action.get_charging_profiles)
    def after_get_charging_profiles(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    # --- firmware and logs -------------------------------------------------------------------

    @on(Action.update_firmware)
    def on_update_firmware(
        self,
        request_id: int,
        firmware: dict[str, Any],
        retries: int | None = None,
        retry_interval: int | None = None,
        call_unique_id: str = "",
        **_: Any,
    ) -> Any:
        certificate = firmware.get("signing_certificate")
        if certificate is not None:
            try:
                load_chain(certificate)
            except ValueError:
                return call_result.UpdateFirmware(status="InvalidCertificate")
        busy = self.firmware_state not in _FIRMWARE_DONE
        self.firmware_request_id = request_id
        self.firmware_state = "DownloadScheduled"
        self._defer(
            call_unique_id,
            "UpdateFirmware",
            lambda: self._update_firmware(request_id, firmware, retries or 0, retry_interval or 0),
        )
        return call_result.UpdateFirmware(status="AcceptedCanceled" if busy else "Accepted")

    @after(Action.update_firmware)
    def after_update_firmware(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    async def _update_firmware(
        self, request_id: int, firmware: Mapping[str, Any], retries: int, retry_interval: int
    ) -> None:
        with suppress(ValueError, KeyError):
            wait = (parse_timestamp(firmware["retrieve_date_time"]) - utc_now()).total_seconds()
            await asyncio.sleep(max(0.0, wait))
        location = str(firmware["location"])
        fetched = None
        for attempt in range(retries + 1):
            await self.firmware_status("Downloading", request_id)
            try:
                fetched = await download(location, ssl_context=self._transfer_ssl())
                break
            except TransferError as exc:
                _log.info("%s: firmware download failed: %s", self.id, exc)
                if attempt < retries:
                    await asyncio.sleep(retry_interval)
        if fetched is None:
            await self.firmware_status("DownloadFailed", request_id)
            return
        self.downloads.append(fetched)
        await self.firmware_status("Downloaded", request_id)
        signature = firmware.get("signature")
        certificate = firmware.get("signing_certificate")
        if signature and certificate and self.verify_firmware_signature:
            try:
                raw = base64.b64decode(signature, validate=True)
            except ValueError:
                raw = b""
            if not verify_signature(certificate, fetched.content, raw):
                await self.firmware_status("InvalidSignature", request_id)
                await self.security_event("InvalidFirmwareSignature")
                return
            await self.firmware_status("SignatureVerified", request_id)
        await asyncio.sleep(self.step_delay)
        await self.firmware_status("Installing", request_id)
        await asyncio.sleep(self.step_delay)
        self.installed_firmware = fetched.sha256
        await self.firmware_status("Installed", request_id)

    def _transfer_ssl(self) -> ssl.SSLContext | None:
        if self.ssl is None and not self.ca_certificates:
            return None
        trusted = [self.ca_certificates] if self.ca_certificates else []
        if self.ssl is not None:
            return self.ssl
        return ssl.create_default_context(cadata="\n".join(trusted))

    @on(Action.get_log)
    def on_get_log(
        self,
        log: dict[str, Any],
        log_type: str,
        request_id: int,
        retries: int | None = None,
        retry_interval: int | None = None,
        call_unique_id: str = "",
        **_: Any,
    ) -> Any:
        busy = self.log_state == "Uploading"
        safe_id = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.station_id)[:64]
        file_name = f"{log_type}-{safe_id}-{utc_now():%Y%m%dT%H%M%S}.log"
        self.log_request_id = request_id
        self._defer(
            call_unique_id,
            "GetLog",
            lambda: self._upload_log(
                str(log["remote_location"]),
                file_name,
                log_type,
                request_id,
                retries or 0,
                retry_interval or 0,
            ),
        )
        return call_result.GetLog(
            status="AcceptedCanceled" if busy else "Accepted", filename=file_name
        )

    @after(Action.get_log)
    def after_get_log(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    def log_text(self, log_type: str = "DiagnosticsLog") -> bytes:
        """The log file the station uploads: its received calls and state."""
        lines = [
            f"# {log_type} of {self.station_id}",
            f"# {self.vendor} {self.model} firmware {self.firmware_version}",
            f"# generated {format_timestamp()}",
        ]
        if log_type == "SecurityLog":
            lines += [f"security event {kind}" for kind in self.security_events]
        lines += [f"{c.at.isoformat()} {c.action}" for c in self.received[-200:]]
        return ("\n".join(lines) + "\n").encode()

    async def _upload_log(
        self,
        location: str,
        file_name: str,
        log_type: str,
        request_id: int,
        retries: int,
        retry_interval: int,
    ) -> None:
        result = None
        for attempt in range(retries + 1):
            await self.log_status("Uploading", request_id)
            result = await upload(
                location, file_name, self.log_text(log_type), ssl_context=self._transfer_ssl()
            )
            self.uploads.append(result)
            if result.ok:
                break
            if attempt < retries:
                await asyncio.sleep(retry_interval)
        assert result is not None
        if result.ok:
            status = "Uploaded"
        elif result.http_status in (401, 403):
            status = "PermissionDenied"
        elif result.error == "unsupported location":
            status = "NotSupportedOperation"
        else:
            status = "UploadFailure"
        await self.log_status(status, request_id)

    # --- certificates ----------------------------------------------------------------------

    @on(Action.certificate_signed)
    def on_certificate_signed(
        self,
        certificate_chain: str,
        certificate_type: str | None = None,
        call_unique_id: str = "",
        **_: Any,
    ) -> Any:
        if self.certificates.accept_signed(certificate_chain):
            return call_result.CertificateSigned(status="Accepted")
        self._defer(
            call_unique_id,
            "CertificateSigned",
            lambda: self.security_event("InvalidChargingStationCertificate"),
        )
        return call_result.CertificateSigned(status="Rejected")

    @after(Action.certificate_signed)
    def after_certificate_signed(self, call_unique_id: str = "", **_: Any) -> None:
        self._run_deferred(call_unique_id)

    @on(Action.install_certificate)
    def on_install_certificate(self, certificate_type: str, certificate: str, **_: Any) -> Any:
        status = self.certificates.install(certificate_type, certificate)
        self.device_model.set_value(
            "SecurityCtrlr.CertificateEntries", str(len(self.certificates.installed))
        )
        return call_result.InstallCertificate(status=status)

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(
        self, certificate_type: list[str] | None = None, **_: Any
    ) -> Any:
        chains = [
            {"certificate_type": c.certificate_type, "certificate_hash_data": c.hash_data}
            for c in self.certificates.ids(certificate_type)
        ]
        if not chains:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(
            status="Accepted", certificate_hash_data_chain=chains
        )

    @on(Action.delete_certificate)
    def on_delete_certificate(self, certificate_hash_data: dict[str, Any], **_: Any) -> Any:
        status = self.certificates.delete(certificate_hash_data)
        self.device_model.set_value(
            "SecurityCtrlr.CertificateEntries", str(len(self.certificates.installed))
        )
        return call_result.DeleteCertificate(status=status)

    # --- network profile, data transfer ----------------------------------------------------

    @on(Action.set_network_profile)
    def on_set_network_profile(
        self, configuration_slot: int, connection_data: dict[str, Any], **_: Any
    ) -> Any:
        if not 0 <= configuration_slot <= 9:
            return call_result.SetNetworkProfile(status="Rejected")
        level = int(connection_data.get("security_profile", 0))
        if level < self.security_profile:
            return call_result.SetNetworkProfile(status="Rejected")  # never downgrade
        url = str(connection_data.get("ocpp_csms_url", ""))
        if not url.startswith(("ws://", "wss://")) or (level >= 2) != url.startswith("wss://"):
            return call_result.SetNetworkProfile(status="Rejected")
        self.network_profiles[configuration_slot] = dict(connection_data)
        return call_result.SetNetworkProfile(status="Accepted")

    @on(Action.data_transfer)
    def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: Any = None, **_: Any
    ) -> Any:
        if self.data_transfer_handler is not None:
            status, reply = self.data_transfer_handler(vendor_id, message_id, data)
        elif vendor_id == self.vendor:
            status, reply = "Accepted", data
        else:
            status, reply = "UnknownVendorId", None
        return call_result.DataTransfer(status=status, data=reply)


_FIRMWARE_DONE = (
    "Idle",
    "Installed",
    "DownloadFailed",
    "InstallationFailed",
    "InvalidSignature",
    "InstallVerificationFailed",
)

_TRIGGER_OF_REASON = {
    "Local": "StopAuthorized",
    "Remote": "RemoteStop",
    "EVDisconnected": "EVCommunicationLost",
    "DeAuthorized": "Deauthorized",
    "ImmediateReset": "ResetCommand",
    "EnergyLimitReached": "EnergyLimitReached",
    "TimeLimitReached": "TimeLimitReached",
}


def _snake(payload: Any) -> dict[str, Any]:
    from ocpp.charge_point import camel_to_snake_case

    return camel_to_snake_case(payload) if isinstance(payload, dict) else {}


def _plain(payload: Any) -> dict[str, Any]:
    from ocpp.charge_point import remove_nones, serialize_as_dict

    return remove_nones(serialize_as_dict(payload))  # type: ignore[no-any-return]


def certificate_hash(pem: str) -> dict[str, str]:
    """The hash data of a PEM certificate (what GetInstalledCertificateIds reports)."""
    return hash_data(load_chain(pem)[0])


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


# --- opening a connection -------------------------------------------------------------------


@asynccontextmanager
async def connect201(
    url: str,
    station_id: str,
    *,
    boot: bool = False,
    **options: Any,
) -> AsyncIterator[ChargingStation201]:
    """Open ``<url>/<station id>`` (subprotocol ocpp2.0.1) and yield a connected
    :class:`ChargingStation201`; ``options`` are its constructor keywords. ``boot``:
    also send BootNotification and report the connectors. On exit the station's
    tasks are cancelled and the socket is closed."""
    station = ChargingStation201(station_id, url, **options)
    try:
        await station.connect()
        if boot:
            await station.boot()
            await station.announce()
        yield station
    finally:
        await station.aclose()
