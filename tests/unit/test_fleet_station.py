"""One fleet station against a scripted CSMS on 127.0.0.1: boot retries, server calls,
remote sessions. The scripted server is a few lines of websockets, not the product."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from simulators.fleet.link import CommandRejected
from simulators.fleet.metrics import FleetMetrics
from simulators.fleet.scenario import parse_scenario
from simulators.fleet.station import SimulatedStation, StationSettings
from simulators.fleet.v16 import Ocpp16Encoding


class ScriptedCsms:
    """Answers a station's calls like a CSMS and lets a test send calls to it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.internal_errors: dict[str, int] = {}
        """Action -> how many of its next calls get CALLERROR InternalError."""
        self.answers: dict[str, Any] = {}
        self.boots = 0
        self.socket: ServerConnection | None = None
        self.changed = asyncio.Event()

    async def handle(self, socket: ServerConnection) -> None:
        self.socket = socket
        async for raw in socket:
            frame = json.loads(raw)
            if frame[0] == 2:
                _, unique_id, action, payload = frame
                self.calls.append((action, payload))
                if self.internal_errors.get(action, 0) > 0:
                    self.internal_errors[action] -= 1
                    await socket.send(json.dumps([4, unique_id, "InternalError", "db down", {}]))
                else:
                    await socket.send(json.dumps([3, unique_id, self._answer(action)]))
            else:
                self.answers[frame[1]] = frame
            self.changed.set()

    def _answer(self, action: str) -> dict[str, Any]:
        now = "2026-11-23T20:00:00.000Z"
        if action == "BootNotification":
            self.boots += 1
            status = "Pending" if self.boots == 1 else "Accepted"
            return {
                "status": status,
                "interval": 1 if status == "Pending" else 300,
                "currentTime": now,
            }
        if action in ("Authorize", "StartTransaction"):
            answer: dict[str, Any] = {"idTagInfo": {"status": "Accepted"}}
            if action == "StartTransaction":
                answer["transactionId"] = 42
            return answer
        return {"currentTime": now} if action == "Heartbeat" else {}

    async def call(self, unique_id: str, action: str, payload: dict[str, Any]) -> Any:
        assert self.socket is not None
        await self.socket.send(json.dumps([2, unique_id, action, payload]))
        await self.wait(lambda: unique_id in self.answers)
        return self.answers[unique_id]

    async def wait(self, condition: Any, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self.changed.clear()
                await self.changed.wait()

    def actions(self) -> list[str]:
        return [action for action, _ in self.calls]


def _station(url: str, metrics: FleetMetrics) -> SimulatedStation:
    scenario = parse_scenario(
        {
            "sessions": {"charging_fraction": 0.0, "meter_interval_seconds": 0.2},
            "delivery": {"retry_interval_seconds": 0.1},
        },
        name="remote-only",
    )
    settings = StationSettings(url, 2, scenario, Ocpp16Encoding())
    return SimulatedStation(1, "CP-1", ["T-1", "T-2"], None, settings, metrics, random.Random(1))


@pytest.fixture
async def csms() -> AsyncIterator[tuple[ScriptedCsms, str]]:
    scripted = ScriptedCsms()
    async with serve(scripted.handle, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:
        port = server.sockets[0].getsockname()[1]
        yield scripted, f"ws://127.0.0.1:{port}/ocpp"


async def test_a_pending_boot_is_retried_after_the_interval_then_statuses_follow(
    csms: tuple[ScriptedCsms, str],
) -> None:
    """Pending with interval 1: BootNotification again after about a second; once accepted,
    StatusNotification for connector 0 and each connector."""
    server, url = csms
    station = _station(url, FleetMetrics(asyncio.get_running_loop().time()))
    task = asyncio.create_task(station.run())
    try:
        await server.wait(lambda: server.actions().count("StatusNotification") >= 3, timeout=6)
    finally:
        station.request_stop()
        await task
    assert server.actions()[:2] == ["BootNotification", "BootNotification"]
    statuses = [p["connectorId"] for a, p in server.calls if a == "StatusNotification"]
    assert statuses[:3] == [0, 1, 2]


async def test_unknown_server_calls_get_not_implemented_over_the_socket(
    csms: tuple[ScriptedCsms, str],
) -> None:
    """An action the station does not implement gets CALLERROR NotImplemented, and the
    socket stays usable: a GetConfiguration right after is answered."""
    server, url = csms
    station = _station(url, FleetMetrics(asyncio.get_running_loop().time()))
    task = asyncio.create_task(station.run())
    try:
        await server.wait(lambda: server.boots >= 2, timeout=6)
        unknown = await server.call("a", "DataTransfer", {"vendorId": "x"})
        assert unknown[:3] == [4, "a", "NotImplemented"]
        configuration = await server.call("b", "GetConfiguration", {"key": ["NumberOfConnectors"]})
        assert configuration[2]["configurationKey"] == [
            {"key": "NumberOfConnectors", "readonly": True, "value": "2"}
        ]
    finally:
        station.request_stop()
        await task


async def test_a_remote_start_runs_a_session_until_the_remote_stop(
    csms: tuple[ScriptedCsms, str],
) -> None:
    """RemoteStartTransaction starts a session on the connector asked for, without Authorize;
    RemoteStopTransaction ends it with reason Remote; meter values carry the server's id."""
    server, url = csms
    station = _station(url, FleetMetrics(asyncio.get_running_loop().time()))
    task = asyncio.create_task(station.run())
    try:
        await server.wait(lambda: server.boots >= 2, timeout=6)
        started = await server.call(
            "c", "RemoteStartTransaction", {"idTag": "REMOTE", "connectorId": 2}
        )
        assert started[2] == {"status": "Accepted"}
        await server.wait(lambda: "MeterValues" in server.actions())
        stopped = await server.call("d", "RemoteStopTransaction", {"transactionId": 42})
        assert stopped[2] == {"status": "Accepted"}
        await server.wait(lambda: "StopTransaction" in server.actions())
    finally:
        station.request_stop()
        await task
    assert "Authorize" not in server.actions()
    start = next(p for a, p in server.calls if a == "StartTransaction")
    assert (start["idTag"], start["connectorId"]) == ("REMOTE", 2)
    stop = next(p for a, p in server.calls if a == "StopTransaction")
    assert (stop["transactionId"], stop["reason"]) == (42, "Remote")
    meter = next(p for a, p in server.calls if a == "MeterValues")
    assert meter["transactionId"] == 42


def test_commands_are_answered_from_the_stations_state() -> None:
    """Configuration changes, availability, triggers and unlocks answer what a 1.6 charger
    answers; malformed payloads get FormationViolation."""
    station = _station("ws://127.0.0.1:1/ocpp", FleetMetrics(0.0))
    answer = station.answer_server_call
    assert answer("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}) == {
        "status": "Accepted"
    }
    assert station.heartbeat_interval == 120
    assert answer("ChangeConfiguration", {"key": "NumberOfConnectors", "value": "9"}) == {
        "status": "Rejected"
    }
    assert answer("ChangeConfiguration", {"key": "Nope", "value": "1"}) == {
        "status": "NotSupported"
    }
    assert answer("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}) == {
        "status": "Accepted"
    }
    assert answer("RemoteStartTransaction", {"idTag": "X", "connectorId": 1}) == {
        "status": "Rejected"  # connector 1 is inoperative now
    }
    assert answer("RemoteStopTransaction", {"transactionId": 5}) == {"status": "Rejected"}
    assert answer("TriggerMessage", {"requestedMessage": "DiagnosticsStatusNotification"}) == {
        "status": "NotImplemented"
    }
    assert answer("UnlockConnector", {"connectorId": 9}) == {"status": "NotSupported"}
    assert answer("ClearCache", {}) == {"status": "Accepted"}
    assert answer("Reset", {"type": "Soft"}) == {"status": "Accepted"}
    with pytest.raises(CommandRejected) as malformed:
        answer("Reset", {"type": "Sideways"})
    assert malformed.value.code == "FormationViolation"


async def test_a_failing_command_handler_answers_internal_error_and_keeps_the_socket(
    csms: tuple[ScriptedCsms, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug while answering a server call gives CALLERROR InternalError; the station stays
    connected and answers the next call."""
    server, url = csms
    station = _station(url, FleetMetrics(asyncio.get_running_loop().time()))

    def broken(command: object) -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(station.run())
    try:
        await server.wait(lambda: server.boots >= 2, timeout=6)
        monkeypatch.setattr(station, "obey", broken)
        failed = await server.call("x", "ClearCache", {})
        assert failed[:3] == [4, "x", "InternalError"]
        monkeypatch.undo()
        assert (await server.call("y", "ClearCache", {}))[2] == {"status": "Accepted"}
    finally:
        station.request_stop()
        await task
    assert station.metrics.disconnects["server"] == 0


async def test_transaction_messages_answered_with_internal_error_are_resent_in_order(
    csms: tuple[ScriptedCsms, str],
) -> None:
    """InternalError to StartTransaction and to a MeterValues: both are sent again, the start
    unchanged (so the server can recognise it), nothing overtakes them, and the accounting
    counts each once while flagging the meter rows the server may hold twice."""
    server, url = csms
    server.internal_errors = {"StartTransaction": 1, "MeterValues": 1}
    metrics = FleetMetrics(asyncio.get_running_loop().time())
    station = _station(url, metrics)
    task = asyncio.create_task(station.run())
    try:
        await server.wait(lambda: server.boots >= 2, timeout=6)
        await server.call("a", "RemoteStartTransaction", {"idTag": "R", "connectorId": 1})
        await server.wait(lambda: server.actions().count("MeterValues") >= 3)
    finally:
        station.request_stop()
        await task
    transaction_calls = [
        (a, p)
        for a, p in server.calls
        if a in ("StartTransaction", "MeterValues", "StopTransaction")
    ]
    first_start, second_start = transaction_calls[0], transaction_calls[1]
    assert first_start == second_start and first_start[0] == "StartTransaction"
    meter_calls = [p for a, p in transaction_calls[2:] if a == "MeterValues"]
    assert meter_calls[0] == meter_calls[1]  # the one that failed, sent again as it was
    timestamps = [p["meterValue"][0]["timestamp"] for p in meter_calls]
    assert timestamps == sorted(timestamps)
    assert transaction_calls[-1][0] == "StopTransaction"
    accounting = metrics.accounting
    assert accounting.transaction_ids == {42}
    rows_per_report = sum(len(mv["sampledValue"]) for mv in meter_calls[0]["meterValue"])
    stop_rows = sum(len(mv["sampledValue"]) for mv in transaction_calls[-1][1]["transactionData"])
    assert accounting.meter_values_accepted == rows_per_report * (len(meter_calls) - 1) + stop_rows
    assert accounting.maybe_duplicated_rows == rows_per_report
    assert dict(metrics.call_errors) == {
        ("InternalError", "StartTransaction"): 1,
        ("InternalError", "MeterValues"): 1,
    }
