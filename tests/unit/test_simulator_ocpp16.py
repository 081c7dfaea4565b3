"""The OCPP 1.6J charge-point simulator against a tiny fake Central System.

The fake is an ``ocpp.v16.ChargePoint`` subclass with ``@on`` handlers behind a
``websockets`` server on 127.0.0.1 (port 0). It records every request it gets,
and tests use it to send server-initiated calls to the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.routing import on
from ocpp.v16 import ChargePoint as OcppChargePoint
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from simulators.common import format_timestamp
from simulators.ocpp16 import ChargePoint16, ConnectionLostError, SessionReport, connect16
from tests.fake_csms201 import running_file_server
from tests.fake_side import KeepsReadingAfterALostAnswer

# --- the fake Central System ---------------------------------------------------------------


@dataclass
class Request:
    station_id: str
    action: str
    payload: dict[str, Any]


@dataclass
class Handshake:
    path: str
    authorization: str | None
    subprotocol: str | None


@dataclass
class FakeCentralSystem:
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    handshakes: list[Handshake] = field(default_factory=list)
    stations: dict[str, CentralSystemSide] = field(default_factory=dict)
    boot_answers: list[tuple[str, int]] = field(default_factory=list)
    """(status, interval) for the next BootNotifications; then Accepted/300."""
    tag_status: dict[str, str] = field(default_factory=dict)
    next_transaction_id: int = 100
    refuse_data_transfer: bool = False

    async def handler(self, websocket: ServerConnection) -> None:
        assert websocket.request is not None
        path = websocket.request.path
        self.handshakes.append(
            Handshake(path, websocket.request.headers.get("Authorization"), websocket.subprotocol)
        )
        station_id = unquote(path.rsplit("/", 1)[-1])
        side = CentralSystemSide(station_id, websocket, self)
        self.stations[station_id] = side
        with contextlib.suppress(ConnectionClosed):
            await side.start()

    def actions(self) -> list[str]:
        return [r.action for r in self.requests]

    def payloads(self, action: str) -> list[dict[str, Any]]:
        return [r.payload for r in self.requests if r.action == action]

    def statuses(self, connector_id: int | None = None) -> list[str]:
        return [
            p["status"]
            for p in self.payloads("StatusNotification")
            if connector_id is None or p["connector_id"] == connector_id
        ]

    async def wait_for(self, action: str, count: int = 1, within: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + within
        while len(self.payloads(action)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} {action}, got {self.actions()}")
            await asyncio.sleep(0.01)
        return self.payloads(action)

    async def wait_until(self, predicate: Any, within: float = 5.0) -> None:
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met; requests: {self.actions()}")
            await asyncio.sleep(0.01)

    async def station(self, station_id: str, within: float = 5.0) -> CentralSystemSide:
        await self.wait_until(lambda: station_id in self.stations, within)
        return self.stations[station_id]


def _now() -> str:
    return format_timestamp(datetime.now(UTC))


class CentralSystemSide(KeepsReadingAfterALostAnswer, OcppChargePoint):
    """The server's end of one connection."""

    def __init__(self, station_id: str, connection: Any, server: FakeCentralSystem) -> None:
        super().__init__(station_id, connection, response_timeout=5)
        self.server = server

    def _record(self, action: str, payload: dict[str, Any]) -> None:
        self.server.requests.append(Request(self.id, action, payload))

    @on(Action.boot_notification)
    def on_boot_notification(self, **payload: Any) -> Any:
        self._record("BootNotification", payload)
        status, interval = (
            self.server.boot_answers.pop(0) if self.server.boot_answers else ("Accepted", 300)
        )
        return call_result.BootNotification(current_time=_now(), interval=interval, status=status)

    @on(Action.heartbeat)
    def on_heartbeat(self, **payload: Any) -> Any:
        self._record("Heartbeat", payload)
        return call_result.Heartbeat(current_time=_now())

    @on(Action.status_notification)
    def on_status_notification(self, **payload: Any) -> Any:
        self._record("StatusNotification", payload)
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, **payload: Any) -> Any:
        self._record("Authorize", payload)
        status = self.server.tag_status.get(payload["id_tag"], "Accepted")
        return call_result.Authorize(id_tag_info={"status": status})

    @on(Action.start_transaction)
    def on_start_transaction(self, **payload: Any) -> Any:
        self._record("StartTransaction", payload)
        self.server.next_transaction_id += 1
        status = self.server.tag_status.get(payload["id_tag"], "Accepted")
        return call_result.StartTransaction(
            transaction_id=self.server.next_transaction_id, id_tag_info={"status": status}
        )

    @on(Action.meter_values)
    def on_meter_values(self, **payload: Any) -> Any:
        self._record("MeterValues", payload)
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    def on_stop_transaction(self, **payload: Any) -> Any:
        self._record("StopTransaction", payload)
        return call_result.StopTransaction(id_tag_info={"status": "Accepted"})

    @on(Action.data_transfer)
    def on_data_transfer(self, **payload: Any) -> Any:
        self._record("DataTransfer", payload)
        if self.server.refuse_data_transfer:
            raise OcppNotImplemented(description="no vendor extensions here")
        return call_result.DataTransfer(status="Accepted", data=f"echo:{payload.get('data')}")

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, **payload: Any) -> Any:
        self._record("FirmwareStatusNotification", payload)
        return call_result.FirmwareStatusNotification()

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(self, **payload: Any) -> Any:
        self._record("DiagnosticsStatusNotification", payload)
        return call_result.DiagnosticsStatusNotification()

    @on(Action.security_event_notification)
    def on_security_event_notification(self, **payload: Any) -> Any:
        self._record("SecurityEventNotification", payload)
        return call_result.SecurityEventNotification()

    @on(Action.sign_certificate)
    def on_sign_certificate(self, **payload: Any) -> Any:
        self._record("SignCertificate", payload)
        return call_result.SignCertificate(status="Accepted")

    @on(Action.log_status_notification)
    def on_log_status_notification(self, **payload: Any) -> Any:
        self._record("LogStatusNotification", payload)
        return call_result.LogStatusNotification()

    @on(Action.signed_firmware_status_notification)
    def on_signed_firmware_status_notification(self, **payload: Any) -> Any:
        self._record("SignedFirmwareStatusNotification", payload)
        return call_result.SignedFirmwareStatusNotification()


@pytest.fixture
async def csms() -> AsyncIterator[FakeCentralSystem]:
    fake = FakeCentralSystem()
    async with serve(
        fake.handler,
        "127.0.0.1",
        0,
        subprotocols=[Subprotocol("ocpp1.6")],
        compression=None,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        fake.url = f"ws://127.0.0.1:{port}/ocpp"
        yield fake


def _energy_values(meter_values: list[dict[str, Any]]) -> list[int]:
    """The Energy.Active.Import.Register readings in MeterValues payloads, in order."""
    readings = []
    for payload in meter_values:
        for entry in payload["meter_value"]:
            for sv in entry["sampled_value"]:
                if sv.get("measurand") == "Energy.Active.Import.Register":
                    readings.append(int(sv["value"]))
    return readings


def _contexts(meter_values: list[dict[str, Any]]) -> list[str]:
    return [
        entry["sampled_value"][0]["context"]
        for payload in meter_values
        for entry in payload["meter_value"]
    ]


# --- connecting and booting ----------------------------------------------------------------


async def test_boot_accepted_returns_the_servers_answer(csms: FakeCentralSystem) -> None:
    """An accepted BootNotification returns status, interval and current time of the server."""
    async with connect16(csms.url, "CP-1") as cp:
        result = await cp.boot(vendor="SimVendor", model="Sim-1", serial="SN1", firmware="1.0")
    assert result.status == "Accepted"
    assert result.interval == 300
    assert result.current_time
    assert cp.registration_status == "Accepted"
    (boot,) = csms.payloads("BootNotification")
    assert boot == {
        "charge_point_vendor": "SimVendor",
        "charge_point_model": "Sim-1",
        "charge_point_serial_number": "SN1",
        "firmware_version": "1.0",
    }


async def test_station_id_is_url_encoded_last_path_segment(csms: FakeCentralSystem) -> None:
    """The station id is appended to the base URL as one percent-encoded path segment."""
    async with connect16(csms.url + "/", "CP 1/a") as cp:
        await cp.heartbeat()
    assert csms.handshakes[0].path == "/ocpp/CP%201%2Fa"
    assert csms.requests[0].station_id == "CP 1/a"


async def test_subprotocol_ocpp16_is_negotiated(csms: FakeCentralSystem) -> None:
    """The handshake offers ocpp1.6 and the connection uses it."""
    async with connect16(csms.url, "CP-1") as cp:
        assert cp.websocket.subprotocol == "ocpp1.6"
    assert csms.handshakes[0].subprotocol == "ocpp1.6"


async def test_basic_auth_header_is_sent_with_a_password(csms: FakeCentralSystem) -> None:
    """With a password the handshake carries HTTP Basic auth, user = station id."""
    async with connect16(csms.url, "CP-7", password="s3cret") as cp:
        await cp.heartbeat()
    # base64("CP-7:s3cret")
    assert csms.handshakes[0].authorization == "Basic Q1AtNzpzM2NyZXQ="


async def test_no_auth_header_without_a_password(csms: FakeCentralSystem) -> None:
    """Without a password no Authorization header is sent."""
    async with connect16(csms.url, "CP-1") as cp:
        await cp.heartbeat()
    assert csms.handshakes[0].authorization is None


async def test_heartbeat_loop_runs_at_the_boot_interval(csms: FakeCentralSystem) -> None:
    """After an accepted boot the charge point sends Heartbeats at the returned interval."""
    csms.boot_answers.append(("Accepted", 1))
    async with connect16(csms.url, "CP-1") as cp:
        await cp.boot()
        assert cp.heartbeat_interval == 1
        await csms.wait_for("Heartbeat", 2, within=3.5)
    assert csms.actions()[:3] == ["BootNotification", "Heartbeat", "Heartbeat"]


async def test_pending_boot_is_retried_after_the_interval(csms: FakeCentralSystem) -> None:
    """A Pending boot is sent again after the interval, until it is accepted."""
    csms.boot_answers.append(("Pending", 1))
    async with connect16(csms.url, "CP-1") as cp:
        first = await cp.boot()
        assert first.status == "Pending"
        assert await cp.wait_accepted(3.0)
    assert csms.actions()[:2] == ["BootNotification", "BootNotification"]


async def test_change_configuration_heartbeat_interval_reschedules_heartbeats(
    csms: FakeCentralSystem,
) -> None:
    """ChangeConfiguration of HeartbeatInterval makes the heartbeat loop use the new value."""
    async with connect16(csms.url, "CP-1") as cp:
        await cp.boot()  # interval 300: no heartbeat during this test otherwise
        server = await csms.station("CP-1")
        answer = await server.call(call.ChangeConfiguration(key="HeartbeatInterval", value="1"))
        assert answer.status == "Accepted"
        await csms.wait_for("Heartbeat", 1, within=2.5)
        assert cp.heartbeat_interval == 1


async def test_call_error_from_the_server_raises(csms: FakeCentralSystem) -> None:
    """A CALLERROR answer raises the matching OCPPError instead of returning None."""
    csms.refuse_data_transfer = True
    async with connect16(csms.url, "CP-1") as cp:
        with pytest.raises(OcppNotImplemented):
            await cp.data_transfer("Acme", message_id="x", data="1")


async def test_data_transfer_returns_the_servers_answer(csms: FakeCentralSystem) -> None:
    """DataTransfer returns status and data of the server."""
    async with connect16(csms.url, "CP-1") as cp:
        result = await cp.data_transfer("Acme", message_id="ping", data="42")
    assert (result.status, result.data) == ("Accepted", "echo:42")
    assert csms.payloads("DataTransfer") == [
        {"vendor_id": "Acme", "message_id": "ping", "data": "42"}
    ]


async def test_pending_call_fails_fast_when_the_connection_drops(
    csms: FakeCentralSystem,
) -> None:
    """A call waiting for its answer raises ConnectionLostError as soon as the socket closes."""

    release = asyncio.Event()

    async def never_answer(**payload: Any) -> Any:
        await release.wait()
        return call_result.Heartbeat(current_time=_now())

    async with connect16(csms.url, "CP-1", response_timeout=30) as cp:
        server = await csms.station("CP-1")
        server.route_map["Heartbeat"]["_on_action"] = never_answer
        pending = asyncio.ensure_future(cp.heartbeat())
        await asyncio.sleep(0.1)
        await server._connection.close()
        started = time.monotonic()
        with pytest.raises(ConnectionLostError):
            await pending
        assert time.monotonic() - started < 2
        release.set()


# --- a whole session -----------------------------------------------------------------------


async def test_run_session_sends_the_calls_of_a_session_in_order(csms: FakeCentralSystem) -> None:
    """A session: Preparing, Authorize, Start, Charging, MeterValues, Stop, Finishing, Available."""
    async with connect16(csms.url, "CP-1") as cp:
        await cp.boot()
        await cp.run_session(
            connector_id=1, id_tag="TAG1", duration=0.35, meter_interval=0.1, power_w=11000
        )
    actions = [a for a in csms.actions() if a not in ("BootNotification", "Heartbeat")]
    assert actions[:5] == [
        "StatusNotification",
        "Authorize",
        "StartTransaction",
        "StatusNotification",
        "MeterValues",
    ]
    assert actions[-3:] == ["StopTransaction", "StatusNotification", "StatusNotification"]
    assert set(actions[4:-3]) == {"MeterValues"}
    assert csms.statuses(1) == ["Preparing", "Charging", "Finishing", "Available"]
    contexts = _contexts(csms.payloads("MeterValues"))
    assert contexts[0] == "Transaction.Begin"
    assert contexts[-1] == "Transaction.End"
    # ticks at 0.1, 0.2, 0.3 s (one may be skipped on a slow machine)
    assert contexts[1:-1] in (["Sample.Periodic"] * 3, ["Sample.Periodic"] * 2)


async def test_run_session_meter_values_are_consistent(csms: FakeCentralSystem) -> None:
    """Energy readings never decrease, start at meterStart, end at meterStop ~ power * duration."""
    power, duration = 180_000.0, 0.5  # 180 kW (a DC charger) for 0.5 s = 25 Wh
    async with connect16(csms.url, "CP-1", cp_options={"max_power_w": 350_000}) as cp:
        await cp.boot()
        report = await cp.run_session(
            connector_id=1,
            id_tag="TAG1",
            duration=duration,
            meter_interval=0.1,
            power_w=power,
            meter_start=1000,
        )
    (start,) = csms.payloads("StartTransaction")
    (stop,) = csms.payloads("StopTransaction")
    readings = _energy_values(csms.payloads("MeterValues"))
    assert readings == sorted(readings)
    assert readings[0] == start["meter_start"] == 1000
    assert readings[-1] == stop["meter_stop"] == report.meter_stop
    expected = power * duration / 3600
    assert expected - 1 <= report.meter_stop - 1000 <= expected * 1.5
    assert stop["transaction_id"] == csms.next_transaction_id
    assert stop["reason"] == "Local"
    begin, end = stop["transaction_data"]
    assert begin["sampled_value"][0]["context"] == "Transaction.Begin"
    assert end["sampled_value"][0]["context"] == "Transaction.End"
    assert int(begin["sampled_value"][0]["value"]) == 1000
    assert int(end["sampled_value"][0]["value"]) == report.meter_stop


async def test_periodic_meter_values_carry_all_measurands(csms: FakeCentralSystem) -> None:
    """A periodic sample has energy (Wh), power (W), current and voltage per phase, and SoC."""
    async with connect16(csms.url, "CP-1") as cp:
        await cp.boot()
        await cp.run_session(
            connector_id=1, id_tag="TAG1", duration=0.25, meter_interval=0.1, power_w=11040
        )
    periodic = next(
        entry["sampled_value"]
        for payload in csms.payloads("MeterValues")
        for entry in payload["meter_value"]
        if entry["sampled_value"][0]["context"] == "Sample.Periodic"
    )
    by_key = {(sv["measurand"], sv.get("phase")): sv for sv in periodic}
    assert by_key[("Energy.Active.Import.Register", None)]["unit"] == "Wh"
    assert float(by_key[("Power.Active.Import", None)]["value"]) == 11040
    assert by_key[("Power.Active.Import", None)]["unit"] == "W"
    for phase in ("L1", "L2", "L3"):
        assert float(by_key[("Current.Import", phase)]["value"]) == pytest.approx(16.0)
        assert by_key[("Current.Import", phase)]["unit"] == "A"
    assert {by_key[("Voltage", p)]["unit"] for p in ("L1-N", "L2-N", "L3-N")} == {"V"}
    assert by_key[("SoC", None)]["unit"] == "Percent"
    assert by_key[("SoC", None)]["location"] == "EV"


async def test_session_report_counts_what_was_sent(csms: FakeCentralSystem) -> None:
    """The report's counters match the MeterValues and sampled values the server received."""
    async with connect16(csms.url, "CP-1") as cp:
        await cp.boot()
        report = await cp.run_session(
            connector_id=1, id_tag="TAG1", duration=0.3, meter_interval=0.1, power_w=7000
        )
    meter_values = csms.payloads("MeterValues")
    (stop,) = csms.payloads("StopTransaction")
    sampled = sum(len(e["sampled_value"]) for p in meter_values for e in p["meter_value"])
    sampled += sum(len(e["sampled_value"]) for e in stop["transaction_data"])
    assert isinstance(report, SessionReport)
    assert report.transaction_id == csms.next_transaction_id
    assert report.id_tag_status == "Accepted"
    assert report.meter_values_sent == len(meter_values)
    assert report.sampled_values_sent == sampled
    assert report.started_at is not None and report.stopped_at is not None
    assert report.started_at <= report.stopped_at


async def test_consecutive_sessions_continue_the_energy_register(csms: FakeCentralSystem) -> None:
    """A second session starts where the register of the first one stopped."""
    async with connect16(csms.url, "CP-1") as cp:
        await cp.boot()
        first = await cp.run_session(
            connector_id=1, id_tag="TAG1", duration=0.2, meter_interval=0, power_w=72_000
        )
        second = await cp.run_session(
            connector_id=1, id_tag="TAG1", duration=0.2, meter_interval=0, power_w=72_000
        )
    assert first.meter_stop > first.meter_start
    assert second.meter_start == first.meter_stop
    assert second.meter_stop > second.meter_start
    starts = [p["meter_start"] for p in csms.payloads("StartTransaction")]
    assert starts == [first.meter_start, first.meter_stop]


async def test_refused_id_tag_ends_the_session_before_a_transaction(
    csms: FakeCentralSystem,
) -> None:
    """An id tag the server refuses at Authorize starts no transaction; the connector is freed."""
    csms.tag_status["BAD"] = "Blocked"
    async with connect16(csms.url, "CP-1") as cp:
        await cp.boot()
        report = await cp.run_session(connector_id=1, id_tag="BAD", duration=1)
    assert report.transaction_id is None
    assert report.id_tag_status == "Blocked"
    assert "StartTransaction" not in csms.actions()
    assert csms.statuses(1) == ["Preparing", "Available"]


# --- calls from the server -----------------------------------------------------------------


async def test_remote_start_starts_a_session_and_remote_stop_ends_it(
    csms: FakeCentralSystem,
) -> None:
    """RemoteStartTransaction is Accepted and starts a session; RemoteStop stops it (Remote)."""
    async with connect16(
        csms.url, "CP-1", cp_options={"remote_meter_interval": 0.05, "power_w": 7400}
    ) as cp:
        await cp.boot()
        server = await csms.station("CP-1")
        answer = await server.call(call.RemoteStartTransaction(id_tag="TAG9", connector_id=1))
        assert answer.status == "Accepted"
        (start,) = await csms.wait_for("StartTransaction")
        assert (start["connector_id"], start["id_tag"]) == (1, "TAG9")
        await csms.wait_for("MeterValues", 2)
        transaction_id = cp.connectors[1].transaction_id
        assert transaction_id is not None
        stop_answer = await server.call(call.RemoteStopTransaction(transaction_id=transaction_id))
        assert stop_answer.status == "Accepted"
        (stop,) = await csms.wait_for("StopTransaction")
        await csms.wait_until(lambda: csms.statuses(1)[-1] == "Available")
    assert stop["reason"] == "Remote"
    assert stop["transaction_id"] == transaction_id
    assert csms.statuses(1) == ["Preparing", "Charging", "Finishing", "Available"]
    assert cp.sessions[-1].stop_reason == "Remote"


async def test_remote_start_on_a_busy_connector_is_rejected(csms: FakeCentralSystem) -> None:
    """A second RemoteStartTransaction for a connector already charging is Rejected."""
    async with connect16(csms.url, "CP-1") as cp:
        await cp.boot()
        server = await csms.station("CP-1")
        first = await server.call(call.RemoteStartTransaction(id_tag="A", connector_id=1))
        second = await server.call(call.RemoteStartTransaction(id_tag="B", connector_id=1))
        unknown = await server.call(call.RemoteStartTransaction(id_tag="C", connector_id=5))
    assert (first.status, second.status, unknown.status) == ("Accepted", "Rejected", "Rejected")


async def test_remote_stop_of_an_unknown_transaction_is_rejected(csms: FakeCentralSystem) -> None:
    """RemoteStopTransaction for a transaction the charge point does not have is Rejected."""
    async with connect16(csms.url, "CP-1") as cp:
        await cp.boot()
        server = await csms.station("CP-1")
        answer = await server.call(call.RemoteStopTransaction(transaction_id=4242))
    assert answer.status == "Rejected"


async def test_get_configuration_reports_keys_and_unknown_keys(csms: FakeCentralSystem) -> None:
    """GetConfiguration returns known keys with readonly flags and lists unknown ones."""
    async with connect16(csms.url, "CP-1", connectors=2) as cp:
        server = await csms.station("CP-1")
        answer = await server.call(
            call.GetConfiguration(key=["HeartbeatInterval", "NumberOfConnectors", "Nope"])
        )
        everything = await server.call(call.GetConfiguration())
        assert cp.config.get("NumberOfConnectors") == "2"
    assert answer.configuration_key == [
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
        {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
    ]
    assert answer.unknown_key == ["Nope"]
    keys = {entry["key"]: entry for entry in everything.configuration_key}
    assert {"MeterValueSampleInterval", "MeterValuesSampledData", "SecurityProfile"} <= set(keys)
    assert "value" not in keys["AuthorizationKey"]  # write-only


async def test_change_configuration_validates_like_a_charger(csms: FakeCentralSystem) -> None:
    """ChangeConfiguration answers Accepted, Rejected (read-only/invalid) or NotSupported."""
    async with connect16(csms.url, "CP-1") as cp:
        server = await csms.station("CP-1")

        async def change(key: str, value: str) -> str:
            answer = await server.call(call.ChangeConfiguration(key=key, value=value))
            return str(answer.status)

        assert await change("MeterValueSampleInterval", "15") == "Accepted"
        assert await change("NumberOfConnectors", "4") == "Rejected"
        assert await change("HeartbeatInterval", "soon") == "Rejected"
        assert await change("MeterValuesSampledData", "Energy.Active.Import.Register,Bogus") == (
            "Rejected"
        )
        assert await change("NoSuchKey", "1") == "NotSupported"
        assert await change("AuthorizationKey", "0123456789abcdef") == "Accepted"
        assert await change("SecurityProfile", "1") == "Accepted"
        assert await change("SecurityProfile", "0") == "Rejected"  # never downgrade
        assert cp.config.get("MeterValueSampleInterval") == "15"
        assert cp.password == "0123456789abcdef"


async def test_trigger_message_sends_the_requested_message(csms: FakeCentralSystem) -> None:
    """TriggerMessage is Accepted and the requested StatusNotification / MeterValues follow."""
    async with connect16(csms.url, "CP-1", connectors=2) as cp:
        server = await csms.station("CP-1")
        answer = await server.call(
            call.TriggerMessage(requested_message="StatusNotification", connector_id=2)
        )
        assert answer.status == "Accepted"
        (status,) = await csms.wait_for("StatusNotification")
        meter = await server.call(call.TriggerMessage(requested_message="MeterValues"))
        assert meter.status == "Accepted"
        triggered = await csms.wait_for("MeterValues", 2)
        assert cp.connectors[2].status == "Available"
    assert (status["connector_id"], status["status"]) == (2, "Available")
    assert {p["connector_id"] for p in triggered} == {1, 2}
    assert set(_contexts(triggered)) == {"Trigger"}


async def test_reserve_now_and_cancel_reservation(csms: FakeCentralSystem) -> None:
    """ReserveNow makes the connector Reserved; CancelReservation makes it Available again."""
    expiry = format_timestamp(datetime.now(UTC) + timedelta(minutes=5))
    async with connect16(csms.url, "CP-1") as cp:
        server = await csms.station("CP-1")
        reserved = await server.call(
            call.ReserveNow(connector_id=1, expiry_date=expiry, id_tag="TAG1", reservation_id=7)
        )
        other = await server.call(
            call.ReserveNow(connector_id=1, expiry_date=expiry, id_tag="TAG2", reservation_id=8)
        )
        await csms.wait_until(lambda: csms.statuses(1) == ["Reserved"])
        cancelled = await server.call(call.CancelReservation(reservation_id=7))
        unknown = await server.call(call.CancelReservation(reservation_id=99))
        await csms.wait_until(lambda: csms.statuses(1) == ["Reserved", "Available"])
        assert cp.connectors[1].reservation is None
    assert (reserved.status, other.status) == ("Accepted", "Occupied")
    assert (cancelled.status, unknown.status) == ("Accepted", "Rejected")


async def test_session_on_a_reserved_connector_uses_the_reservation(
    csms: FakeCentralSystem,
) -> None:
    """StartTransaction carries the reservation id when the reserved id tag charges."""
    expiry = format_timestamp(datetime.now(UTC) + timedelta(minutes=5))
    async with connect16(csms.url, "CP-1") as cp:
        await cp.boot()
        server = await csms.station("CP-1")
        await server.call(
            call.ReserveNow(connector_id=1, expiry_date=expiry, id_tag="TAG1", reservation_id=7)
        )
        await csms.wait_for("StatusNotification")
        await cp.run_session(connector_id=1, id_tag="TAG1", duration=0.1, meter_interval=0)
        assert cp.connectors[1].reservation is None
    (start,) = csms.payloads("StartTransaction")
    assert start["reservation_id"] == 7


async def test_change_availability_of_an_idle_connector(csms: FakeCentralSystem) -> None:
    """ChangeAvailability Inoperative makes an idle connector Unavailable (and back)."""
    async with connect16(csms.url, "CP-1") as cp:
        server = await csms.station("CP-1")
        down = await server.call(call.ChangeAvailability(connector_id=1, type="Inoperative"))
        await csms.wait_until(lambda: csms.statuses(1) == ["Unavailable"])
        refused = await server.call(call.RemoteStartTransaction(id_tag="T", connector_id=1))
        up = await server.call(call.ChangeAvailability(connector_id=1, type="Operative"))
        await csms.wait_until(lambda: csms.statuses(1) == ["Unavailable", "Available"])
        assert cp.connectors[1].operative
    assert (down.status, refused.status, up.status) == ("Accepted", "Rejected", "Accepted")


async def test_change_availability_during_a_transaction_is_scheduled(
    csms: FakeCentralSystem,
) -> None:
    """ChangeAvailability during a transaction is Scheduled and applied when it ends."""
    async with connect16(csms.url, "CP-1") as cp:
        await cp.boot()
        server = await csms.station("CP-1")
        session = asyncio.ensure_future(
            cp.run_session(connector_id=1, id_tag="T", duration=0.4, meter_interval=0)
        )
        await csms.wait_for("StartTransaction")
        answer = await server.call(call.ChangeAvailability(connector_id=1, type="Inoperative"))
        await session
    assert answer.status == "Scheduled"
    assert csms.statuses(1)[-2:] == ["Finishing", "Unavailable"]


async def test_unlock_connector_stops_the_transaction(csms: FakeCentralSystem) -> None:
    """UnlockConnector during a session answers Unlocked and stops it with UnlockCommand."""
    async with connect16(csms.url, "CP-1") as cp:
        await cp.boot()
        server = await csms.station("CP-1")
        session = asyncio.ensure_future(
            cp.run_session(connector_id=1, id_tag="T", duration=None, meter_interval=0)
        )
        await csms.wait_for("StartTransaction")
        answer = await server.call(call.UnlockConnector(connector_id=1))
        report = await session
    assert answer.status == "Unlocked"
    assert report.stop_reason == "UnlockCommand"
    assert csms.payloads("StopTransaction")[0]["reason"] == "UnlockCommand"


async def test_reset_stops_transactions_and_boots_again(csms: FakeCentralSystem) -> None:
    """Reset is Accepted, stops the running transaction (SoftReset) and boots again."""
    async with connect16(csms.url, "CP-1") as cp:
        await cp.boot()
        server = await csms.station("CP-1")
        session = asyncio.ensure_future(
            cp.run_session(connector_id=1, id_tag="T", duration=None, meter_interval=0)
        )
        await csms.wait_for("StartTransaction")
        answer = await server.call(call.Reset(type="Soft"))
        report = await session
        await csms.wait_for("BootNotification", 2)
        await csms.wait_until(lambda: csms.statuses(0) == ["Available"])
    assert answer.status == "Accepted"
    assert report.stop_reason == "SoftReset"
    assert cp.resets == ["Soft"]


async def test_set_charging_profile_caps_the_power(csms: FakeCentralSystem) -> None:
    """A TxDefaultProfile of 3.7 kW caps a session that asks for 11 kW; the composite shows it."""
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 3700.0}],
        },
    }
    async with connect16(csms.url, "CP-1") as cp:
        await cp.boot()
        server = await csms.station("CP-1")
        answer = await server.call(
            call.SetChargingProfile(connector_id=1, cs_charging_profiles=profile)
        )
        composite = await server.call(
            call.GetCompositeSchedule(connector_id=1, duration=600, charging_rate_unit="W")
        )
        await cp.run_session(
            connector_id=1, id_tag="T", duration=0.2, meter_interval=0.1, power_w=11000
        )
        cleared = await server.call(call.ClearChargingProfile(id=1))
    assert answer.status == "Accepted"
    assert composite.status == "Accepted"
    assert composite.charging_schedule["charging_schedule_period"][0]["limit"] == 3700
    powers = {
        float(sv["value"])
        for payload in csms.payloads("MeterValues")
        for entry in payload["meter_value"]
        for sv in entry["sampled_value"]
        if sv["measurand"] == "Power.Active.Import" and sv["context"] == "Sample.Periodic"
    }
    assert powers == {3700.0}
    assert cleared.status == "Accepted"


async def test_tx_profile_without_a_transaction_is_rejected(csms: FakeCentralSystem) -> None:
    """SetChargingProfile with a TxProfile on a connector without a transaction is Rejected."""
    profile = {
        "chargingProfileId": 2,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
        },
    }
    async with connect16(csms.url, "CP-1"):
        server = await csms.station("CP-1")
        answer = await server.call(
            call.SetChargingProfile(connector_id=1, cs_charging_profiles=profile)
        )
    assert answer.status == "Rejected"


async def test_local_list_version_follows_send_local_list(csms: FakeCentralSystem) -> None:
    """SendLocalList Full then Differential updates the list and GetLocalListVersion."""
    async with connect16(csms.url, "CP-1") as cp:
        server = await csms.station("CP-1")
        full = await server.call(
            call.SendLocalList(
                list_version=3,
                update_type="Full",
                local_authorization_list=[
                    {"idTag": "A", "idTagInfo": {"status": "Accepted"}},
                    {"idTag": "B", "idTagInfo": {"status": "Blocked"}},
                ],
            )
        )
        stale = await server.call(call.SendLocalList(list_version=2, update_type="Differential"))
        diff = await server.call(
            call.SendLocalList(
                list_version=4,
                update_type="Differential",
                local_authorization_list=[{"idTag": "B"}],
            )
        )
        version = await server.call(call.GetLocalListVersion())
        assert set(cp.local_list) == {"A"}
    assert (full.status, stale.status, diff.status) == ("Accepted", "VersionMismatch", "Accepted")
    assert version.list_version == 4


async def test_update_firmware_reports_its_progress(csms: FakeCentralSystem) -> None:
    """UpdateFirmware is answered, the file is fetched over HTTP, then Downloading,
    Downloaded, Installing, Installed follow."""
    with running_file_server() as files:
        files.files["sim-2.0.bin"] = b"image" * 10
        location = f"{files.base}/files/sim-2.0.bin"
        async with connect16(csms.url, "CP-1", cp_options={"firmware_step_delay": 0.01}) as cp:
            server = await csms.station("CP-1")
            await server.call(call.UpdateFirmware(location=location, retrieve_date=_now()))
            notes = await csms.wait_for("FirmwareStatusNotification", 4)
    assert [n["status"] for n in notes] == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert cp.downloads[0].content == b"image" * 10


async def test_update_firmware_from_a_missing_location_fails(csms: FakeCentralSystem) -> None:
    """A firmware location that answers 404: Downloading, then DownloadFailed."""
    with running_file_server() as files:
        async with connect16(csms.url, "CP-1"):
            server = await csms.station("CP-1")
            await server.call(
                call.UpdateFirmware(location=f"{files.base}/files/none", retrieve_date=_now())
            )
            notes = await csms.wait_for("FirmwareStatusNotification", 2)
    assert [n["status"] for n in notes] == ["Downloading", "DownloadFailed"]


async def test_get_diagnostics_uploads_to_an_http_location(csms: FakeCentralSystem) -> None:
    """GetDiagnostics with an http location POSTs the file (multipart field "file") under
    the name it answered, then Uploading and Uploaded."""
    with running_file_server() as files:
        async with connect16(csms.url, "CP-1"):
            server = await csms.station("CP-1")
            answer = await server.call(call.GetDiagnostics(location=f"{files.base}/upload"))
            notes = await csms.wait_for("DiagnosticsStatusNotification", 2)
    assert [n["status"] for n in notes] == ["Uploading", "Uploaded"]
    assert (files.uploads[0].field, files.uploads[0].file_name) == ("file", answer.file_name)


async def test_get_diagnostics_names_a_file_and_uploads_it(csms: FakeCentralSystem) -> None:
    """GetDiagnostics returns a file name, then Uploading and Uploaded are reported."""
    async with connect16(csms.url, "CP-1", cp_options={"diagnostics_step_delay": 0.01}):
        server = await csms.station("CP-1")
        answer = await server.call(call.GetDiagnostics(location="ftp://diag.example/"))
        notes = await csms.wait_for("DiagnosticsStatusNotification", 2)
    assert answer.file_name.startswith("diagnostics-CP-1-")
    assert [n["status"] for n in notes] == ["Uploading", "Uploaded"]


async def test_server_data_transfer_is_answered(csms: FakeCentralSystem) -> None:
    """A DataTransfer to our vendor id is Accepted (data echoed); another vendor is unknown."""
    async with connect16(csms.url, "CP-1") as cp:
        await cp.boot(vendor="SimVendor")
        server = await csms.station("CP-1")
        ours = await server.call(call.DataTransfer(vendor_id="SimVendor", data="hi"))
        theirs = await server.call(call.DataTransfer(vendor_id="Other"))
    assert (ours.status, ours.data) == ("Accepted", "hi")
    assert theirs.status == "UnknownVendorId"


async def test_closing_cancels_a_running_session(csms: FakeCentralSystem) -> None:
    """Leaving connect16 cancels sessions started by the server and closes the socket cleanly."""
    async with connect16(csms.url, "CP-1") as cp:
        await cp.boot()
        server = await csms.station("CP-1")
        await server.call(call.RemoteStartTransaction(id_tag="T", connector_id=1))
        await csms.wait_for("StartTransaction")
    assert len(cp._tasks) == 0
    assert cp.websocket.close_code == 1000


def test_charge_point_is_an_ocpp_library_charge_point() -> None:
    """ChargePoint16 is a subclass of ocpp.v16.ChargePoint."""
    assert issubclass(ChargePoint16, OcppChargePoint)


# --- the command line ----------------------------------------------------------------------


async def _run_cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulators",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_cli_session_runs_end_to_end(csms: FakeCentralSystem) -> None:
    """`cp16 ... session` boots, charges, prints step lines and a JSON summary, exits 0."""
    code, out, err = await _run_cli(
        "cp16",
        "--url",
        csms.url,
        "--id",
        "CLI-1",
        "--password",
        "pw",
        "session",
        "--id-tag",
        "TAG1",
        "--duration",
        "0.3",
        "--meter-interval",
        "0.1",
        "--sessions",
        "2",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["ok"] is True
    assert summary["boot"]["status"] == "Accepted"
    first, second = summary["sessions"]
    assert first["transaction_id"] == 101 and second["transaction_id"] == 102
    assert second["meter_start"] == first["meter_stop"]
    assert "BootNotification.req" in err and "StopTransaction.conf" in err
    assert csms.handshakes[0].path == "/ocpp/CLI-1"
    assert csms.handshakes[0].authorization is not None
    assert csms.statuses(1)[0] == "Available"
    assert csms.actions().count("StopTransaction") == 2


async def test_cli_exits_nonzero_when_the_boot_is_rejected(csms: FakeCentralSystem) -> None:
    """`cp16 ... session` exits 3 with ok=false when the server rejects the boot."""
    csms.boot_answers.append(("Rejected", 60))
    code, out, _ = await _run_cli(
        "cp16", "--url", csms.url, "--id", "CLI-2", "-q", "session", "--id-tag", "T"
    )
    assert code == 3
    summary = json.loads(out)
    assert summary["ok"] is False
    assert summary["boot"]["status"] == "Rejected"
    assert "StartTransaction" not in csms.actions()


async def test_cli_idle_boots_reports_available_and_heartbeats(csms: FakeCentralSystem) -> None:
    """`cp16 ... idle` sends boot, Available per connector and a Heartbeat, then exits 0."""
    code, out, err = await _run_cli(
        "cp16", "--url", csms.url, "--id", "CLI-3", "--connectors", "2", "idle", "--duration", "0.3"
    )
    assert code == 0, err
    assert json.loads(out)["ok"] is True
    assert csms.actions() == [
        "BootNotification",
        "StatusNotification",
        "StatusNotification",
        "Heartbeat",
    ]
    assert [p["connector_id"] for p in csms.payloads("StatusNotification")] == [1, 2]


async def test_cli_fails_when_no_server_listens() -> None:
    """`cp16` exits 1 with an error in the summary when the connection is refused."""
    code, out, _ = await _run_cli(
        "cp16", "--url", "ws://127.0.0.1:9/ocpp", "--id", "X", "-q", "idle", "--duration", "1"
    )
    assert code == 1
    assert json.loads(out)["error"]
