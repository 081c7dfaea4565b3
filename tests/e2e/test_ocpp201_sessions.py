"""OCPP 2.0.1 sessions end to end: the 2.0.1 simulator (and a bare client for
exact frames) against a real node and database, stored as the same
charging_session / meter_value rows as 1.6."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from csms.bootstrap import Node
from csms.storage.sessions import PiccoloSessionQueries
from csms.storage.stations import PiccoloStationAdmin
from csms.tables import (
    ChargingSession,
    ConnectorStatusChange,
    MeterValue,
    OcppMessage,
    SessionStateChange,
    Station,
    StationEvent,
)
from simulators.ocpp201 import connect201
from tests.e2e.conftest import ocpp_url
from tests.media_helpers import allow
from tests.world import admin_token, bearer, make_entity

T0 = "2026-11-22T10:00:00Z"
T1 = "2026-11-22T10:05:00Z"
T2 = "2026-11-22T10:30:00Z"


def exact(number: str) -> str:
    """A JSON number written with exactly this text."""
    return f"#number:{number}"


class CallFailed(Exception):
    pass


class Client201:
    """A bare 2.0.1 charging station: sends calls, returns the answers."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._next = 0

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        self._next += 1
        unique_id = f"m{self._next}"
        frame = json.dumps([2, unique_id, action, payload])
        # exact("1.50") puts the number's text into the JSON as it is.
        await self.ws.send(re.sub(r'"#number:([^"]+)"', r"\1", frame))
        answer = json.loads(await self.ws.recv())
        if answer[0] == 4:
            raise CallFailed(answer)
        assert answer[:2] == [3, unique_id]
        return answer[2]  # type: ignore[no-any-return]

    async def boot(self) -> dict[str, Any]:
        return await self.call(
            "BootNotification",
            {
                "chargingStation": {
                    "vendorName": "Acme",
                    "model": "AC-22",
                    "serialNumber": "SN-201",
                    "firmwareVersion": "2.0.1-a",
                },
                "reason": "PowerUp",
            },
        )

    async def event(
        self,
        event_type: str,
        tx: str,
        seq_no: int,
        timestamp: str = T0,
        *,
        trigger: str = "Authorized",
        meter: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        info = {"transactionId": tx, **extra.pop("info", {})}
        payload = {
            "eventType": event_type,
            "timestamp": timestamp,
            "triggerReason": trigger,
            "seqNo": seq_no,
            "transactionInfo": info,
            "evse": {"id": 1, "connectorId": 1},
            **extra,
        }
        if meter:
            payload["meterValue"] = meter
        return await self.call("TransactionEvent", payload)


@asynccontextmanager
async def station201(node: Node, name: str) -> AsyncIterator[Client201]:
    async with connect(f"{ocpp_url(node)}/{name}", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "ocpp2.0.1"
        yield Client201(ws)


def energy(value: Any, timestamp: str, context: str, unit: str = "Wh", **more: Any) -> Any:
    return {
        "timestamp": timestamp,
        "sampledValue": [
            {
                "value": value,
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "unitOfMeasure": {"unit": unit, **more},
            }
        ],
    }


def id_token(tag: str) -> dict[str, str]:
    return {"idToken": tag, "type": "ISO14443"}


async def test_simulated_station_session_is_stored_like_a_16_session(node: Node) -> None:
    """The 2.0.1 simulator boots, reports its connector, authorises and runs a
    transaction (Started, periodic Updated with meter values, Ended): one
    completed session like a 1.6 one, with the charger's transactionId, the
    EVSE as connector, the meter start and stop in Wh and every sampled value
    it sent."""
    await PiccoloStationAdmin().add("CS-SIM")
    await allow("TAG-SIM")
    async with connect201(ocpp_url(node), "CS-SIM", boot=True, vendor="Acme") as cs:
        tx = await cs.run_session(1, id_token="TAG-SIM", duration=0.6, meter_interval=0.1)
    assert tx.id_token_status == "Accepted"
    updates = [e for e in tx.events if e["event_type"] == "Updated"]
    assert updates, "the simulator sent no periodic Updated event"

    session = await PiccoloSessionQueries().find_by_charger_transaction("CS-SIM", tx.transaction_id)
    assert session.status == "completed" and session.closed_by == "charger"
    assert session.connector_id == tx.evse_id == 1
    assert session.id_tag == "TAG-SIM" and session.start_auth_status == "Accepted"
    assert session.meter_start_wh == tx.meter_start
    assert session.meter_stop_wh == tx.meter_stop
    assert session.energy_wh is not None and session.energy_wh > 0
    assert session.stop_reason == "Local"
    sent = sum(
        len(value["sampled_value"]) for e in tx.events for value in e.get("meter_value") or []
    )
    stored = await MeterValue.count().where(MeterValue.session == session.transaction_id).run()
    assert stored == sent > 0
    statuses = [
        row["status"]
        for row in await ConnectorStatusChange.select(ConnectorStatusChange.status)
        .order_by(ConnectorStatusChange.id)
        .run()
    ]
    assert statuses[-2:] == ["Occupied", "Available"]
    station = await PiccoloStationAdmin().get("CS-SIM")
    assert station.vendor == "Acme"


async def test_simulated_offline_events_are_flushed_into_the_session(node: Node) -> None:
    """The simulator loses its connection during a transaction and ends it
    offline; after reconnecting it sends the queued events with offline=true:
    the same session is completed, and each event's offline flag is kept."""
    await PiccoloStationAdmin().add("CS-Q")
    await allow("TAG-Q")
    async with connect201(ocpp_url(node), "CS-Q", boot=True, auto_reconnect=False) as cs:
        tx = await cs.start_transaction(1, id_token="TAG-Q", meter_interval=3600)
        await cs.disconnect()
        await cs.stop_transaction(1)
        assert cs.offline_queue, "the Ended event was not queued"
        await cs.reconnect()
        await cs.wait_until(lambda: not cs.offline_queue)
    session = await PiccoloSessionQueries().find_by_charger_transaction("CS-Q", tx.transaction_id)
    assert session.status == "completed" and session.closed_by == "charger"
    assert not session.started_offline
    assert session.meter_stop_wh == tx.meter_stop
    rows = await ChargingSession.select().where(ChargingSession.id == session.transaction_id).run()
    assert rows[0]["last_seq_no"] == tx.seq_no - 1
    events = (
        await StationEvent.select(StationEvent.data)
        .where(StationEvent.kind == "transaction_event")
        .order_by(StationEvent.id)
        .run()
    )
    assert [(_data(e)["event_type"], _data(e)["offline"]) for e in events] == [
        ("Started", False),
        ("Ended", True),
    ]


async def test_exact_frames_are_stored_with_exact_values(node: Node) -> None:
    """Boot, status, authorise, TransactionEvent Started / Updated / Ended sent
    as exact frames: the session has start and stop readings in Wh (kWh
    converted), every sampled value keeps its exact JSON text (1.50 stays
    1.50), the stop reason is the charger's."""
    await PiccoloStationAdmin().add("CS-1")
    await allow("TAG-201")
    async with station201(node, "CS-1") as cs:
        boot = await cs.boot()
        assert boot["status"] == "Accepted"
        assert boot["interval"] == node.settings.heartbeat_interval
        await cs.call(
            "StatusNotification",
            {"timestamp": T0, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
        )
        auth = await cs.call("Authorize", {"idToken": id_token("TAG-201")})
        assert auth["idTokenInfo"]["status"] == "Accepted"
        started = await cs.event(
            "Started",
            "tx-201-a",
            0,
            idToken=id_token("TAG-201"),
            meter=[energy(1000, T0, "Transaction.Begin")],
            info={"chargingState": "Charging"},
        )
        assert started["idTokenInfo"]["status"] == "Accepted"
        await cs.event(
            "Updated",
            "tx-201-a",
            1,
            T1,
            trigger="MeterValuePeriodic",
            meter=[
                {
                    "timestamp": T1,
                    "sampledValue": [
                        {"value": exact("1.50"), "unitOfMeasure": {"unit": "kWh"}},
                        {"value": 7200.0, "measurand": "Power.Active.Import"},
                    ],
                }
            ],
        )
        await cs.event(
            "Ended",
            "tx-201-a",
            2,
            T2,
            trigger="EVCommunicationLost",
            meter=[energy(12.5, T2, "Transaction.End", unit="kWh")],
            info={"stoppedReason": "EVDisconnected", "chargingState": "Idle"},
        )
    session = await PiccoloSessionQueries().find_by_charger_transaction("CS-1", "tx-201-a")
    assert session.status == "completed" and session.closed_by == "charger"
    assert session.connector_id == 1
    assert session.id_tag == "TAG-201" and session.start_auth_status == "Accepted"
    assert session.meter_start_wh == 1000 and session.meter_stop_wh == 12500
    assert session.energy_wh == 11500
    assert session.stop_reason == "EVDisconnected"
    assert not session.started_offline
    values = await PiccoloSessionQueries().meter_values(session.transaction_id)
    assert [(v.value, v.unit, v.measurand) for v in values] == [
        ("1000", "Wh", "Energy.Active.Import.Register"),
        ("1.50", "kWh", "Energy.Active.Import.Register"),
        ("7200.0", "", "Power.Active.Import"),
        ("12.5", "kWh", "Energy.Active.Import.Register"),
    ]
    station = await PiccoloStationAdmin().get("CS-1")
    assert (station.vendor, station.model, station.serial_number) == ("Acme", "AC-22", "SN-201")
    assert {c.connector_id: c.status for c in station.connectors}[1] == "Occupied"


async def test_multiplier_scales_the_register(node: Node) -> None:
    """unitOfMeasure multiplier counts: 15 kWh x 10^-1 is 1,500 Wh."""
    await PiccoloStationAdmin().add("CS-MUL")
    async with station201(node, "CS-MUL") as cs:
        await cs.boot()
        await cs.event(
            "Started", "tx-m", 0, meter=[energy(15, T0, "Transaction.Begin", "kWh", multiplier=-1)]
        )
    session = await PiccoloSessionQueries().find_by_charger_transaction("CS-MUL", "tx-m")
    assert session.meter_start_wh == 1500


async def test_retransmitted_events_are_the_same_session(node: Node) -> None:
    """A Started sent twice and an Updated sent twice (same seqNo) leave one
    session and each meter value once."""
    await PiccoloStationAdmin().add("CS-RE")
    async with station201(node, "CS-RE") as cs:
        await cs.boot()
        for _ in range(2):
            await cs.event("Started", "tx-re", 0, meter=[energy(10, T0, "Transaction.Begin")])
        for _ in range(2):
            await cs.event(
                "Updated",
                "tx-re",
                1,
                T1,
                trigger="MeterValuePeriodic",
                meter=[energy(20, T1, "Sample.Periodic")],
            )
    rows = (
        await ChargingSession.select()
        .where(ChargingSession.charger_transaction_id == "tx-re")
        .run()
    )
    assert len(rows) == 1
    assert rows[0]["last_seq_no"] == 1
    assert await MeterValue.count().where(MeterValue.session == rows[0]["id"]).run() == 2


async def test_a_periodic_reading_is_no_station_event(node: Node) -> None:
    """An Updated that only reports a reading (MeterValuePeriodic, no
    idToken) keeps its reading, its new chargingState and its frame in the
    message log, but is no station event; the Started, a ChargingStateChanged
    Updated and the Ended are."""
    await PiccoloStationAdmin().add("CS-EV")
    async with station201(node, "CS-EV") as cs:
        await cs.boot()
        await cs.event("Started", "tx-ev", 0, meter=[energy(10, T0, "Transaction.Begin")])
        await cs.event(
            "Updated",
            "tx-ev",
            1,
            T1,
            trigger="MeterValuePeriodic",
            info={"chargingState": "Charging"},
            meter=[energy(20, T1, "Sample.Periodic")],
        )
        await cs.event(
            "Updated",
            "tx-ev",
            2,
            T1,
            trigger="ChargingStateChanged",
            info={"chargingState": "SuspendedEV"},
        )
        await cs.event("Ended", "tx-ev", 3, T2, trigger="EVDeparted")
    session = await PiccoloSessionQueries().find_by_charger_transaction("CS-EV", "tx-ev")
    events = (
        await StationEvent.select(StationEvent.data)
        .where(StationEvent.kind == "transaction_event")
        .order_by(StationEvent.id)
        .run()
    )
    assert [(_data(e)["event_type"], _data(e)["seq_no"]) for e in events] == [
        ("Started", 0),
        ("Updated", 2),
        ("Ended", 3),
    ]
    readings = (
        await MeterValue.select(MeterValue.value)
        .where(MeterValue.session == session.transaction_id)
        .order_by(MeterValue.sampled_at)
        .run()
    )
    assert [r["value"] for r in readings] == ["10", "20"]
    states = (
        await SessionStateChange.select(
            SessionStateChange.charging_state, SessionStateChange.seq_no
        )
        .where(SessionStateChange.session == session.transaction_id)
        .order_by(SessionStateChange.seq_no)
        .run()
    )
    assert [(s["charging_state"], s["seq_no"]) for s in states] == [
        ("Charging", 1),
        ("SuspendedEV", 2),
    ]
    logged = (
        await OcppMessage.select(OcppMessage.payload)
        .where(OcppMessage.action == "TransactionEvent", OcppMessage.direction == "in")
        .run()
    )
    assert sum('"MeterValuePeriodic"' in m["payload"] for m in logged) == 1


async def test_offline_queued_events_create_the_session(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    """Events queued while offline arrive after the fact: an Updated for a
    transaction never seen creates it (started_offline, started at its
    Transaction.Begin reading), the Ended completes it, and a gap in seqNo is
    logged."""
    await PiccoloStationAdmin().add("CS-OFF")
    caplog.set_level(logging.WARNING, logger="csms.domain.runtime")
    async with station201(node, "CS-OFF") as cs:
        await cs.boot()
        await cs.event(
            "Updated",
            "tx-off",
            1,
            T1,
            trigger="MeterValuePeriodic",
            offline=True,
            idToken=id_token("TAG-OFF"),
            meter=[energy(500, T0, "Transaction.Begin"), energy(900, T1, "Sample.Periodic")],
        )
        await cs.event(
            "Ended",
            "tx-off",
            3,
            T2,
            trigger="StopAuthorized",
            offline=True,
            meter=[energy(1700, T2, "Transaction.End")],
        )
    session = await PiccoloSessionQueries().find_by_charger_transaction("CS-OFF", "tx-off")
    assert session.started_offline
    assert session.status == "completed" and session.stop_reason == "Local"
    assert (session.meter_start_wh, session.meter_stop_wh) == (500, 1700)
    assert session.started_at is not None and session.started_at.isoformat().startswith(
        "2026-11-22T10:00"
    )
    assert session.id_tag == "TAG-OFF" and session.start_auth_status == "Invalid"
    assert "seqNo gap, 3 after 1" in caplog.text
    events = (
        await StationEvent.select(StationEvent.data)
        .where(StationEvent.kind == "transaction_event")
        .run()
    )
    assert [_data(e)["offline"] for e in events] == [True, True]


def _data(row: dict[str, Any]) -> dict[str, Any]:
    data = row["data"]
    return json.loads(data) if isinstance(data, str) else data  # type: ignore[no-any-return]


async def test_id_token_given_later_authorises_the_session(node: Node) -> None:
    """A Started without idToken (cable plugged in first) opens a session
    without an identifier; the Updated that brings the idToken sets it and is
    answered with its idTokenInfo."""
    await PiccoloStationAdmin().add("CS-LATE")
    await allow("TAG-LATE")
    async with station201(node, "CS-LATE") as cs:
        await cs.boot()
        started = await cs.event("Started", "tx-late", 0, trigger="CablePluggedIn")
        assert "idTokenInfo" not in started
        before = await PiccoloSessionQueries().find_by_charger_transaction("CS-LATE", "tx-late")
        assert before.id_tag == "" and before.status == "active"
        updated = await cs.event("Updated", "tx-late", 1, T1, idToken=id_token("TAG-LATE"))
        assert updated["idTokenInfo"]["status"] == "Accepted"
    after = await PiccoloSessionQueries().find_by_charger_transaction("CS-LATE", "tx-late")
    assert after.id_tag == "TAG-LATE" and after.start_auth_status == "Accepted"


async def test_charger_offering_both_versions_gets_201(node: Node) -> None:
    """A charger offering ocpp1.6 and ocpp2.0.1 is served as 2.0.1."""
    await PiccoloStationAdmin().add("CS-BOTH")
    async with connect(
        f"{ocpp_url(node)}/CS-BOTH",
        subprotocols=["ocpp1.6", "ocpp2.0.1"],  # type: ignore[list-item]
    ) as ws:
        assert ws.subprotocol == "ocpp2.0.1"
    row = (
        await Station.select(Station.protocol)
        .where(Station.charge_point_id == "CS-BOTH")
        .first()
        .run()
    )
    assert row is not None


async def test_device_model_is_readable_over_rest(node: Node) -> None:
    """A NotifyReport in two parts fills the device model; the REST endpoint
    lists it (filter by component), and a later report updates a value in
    place."""
    owner = await make_entity("Operator 201")
    await PiccoloStationAdmin().add("CS-DM")
    await (
        Station.update({Station.owner_entity: owner})
        .where(Station.charge_point_id == "CS-DM")
        .run()
    )
    station_pk = (
        await Station.select(Station.id).where(Station.charge_point_id == "CS-DM").first().run()
    )["id"]  # type: ignore[index]

    def item(component: str, variable: str, value: str, evse: int | None = None) -> dict[str, Any]:
        comp: dict[str, Any] = {"name": component}
        if evse is not None:
            comp["evse"] = {"id": evse}
        return {
            "component": comp,
            "variable": {"name": variable},
            "variableAttribute": [{"type": "Actual", "value": value, "mutability": "ReadWrite"}],
            "variableCharacteristics": {"dataType": "integer", "supportsMonitoring": False},
        }

    async with station201(node, "CS-DM") as cs:
        await cs.boot()
        await cs.call(
            "NotifyReport",
            {
                "requestId": 7,
                "generatedAt": T0,
                "seqNo": 0,
                "tbc": True,
                "reportData": [
                    item("OCPPCommCtrlr", "HeartbeatInterval", "300"),
                    item("EVSE", "Power", "22000", evse=1),
                ],
            },
        )
        await cs.call(
            "NotifyReport",
            {
                "requestId": 7,
                "generatedAt": T0,
                "seqNo": 1,
                "reportData": [item("OCPPCommCtrlr", "HeartbeatInterval", "600")],
            },
        )
    token = await admin_token(owner)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{node.http_port}") as client:
        everything = await client.get(
            f"/api/v1/stations/{station_pk}/variables", headers=bearer(token)
        )
        filtered = await client.get(
            f"/api/v1/stations/{station_pk}/variables",
            params={"component": "EVSE"},
            headers=bearer(token),
        )
        missing = await client.get("/api/v1/stations/999999/variables", headers=bearer(token))
    assert everything.status_code == 200, everything.text
    body = everything.json()
    assert body["total"] == 2
    by_name = {(v["component"], v["variable"]): v for v in body["items"]}
    assert by_name[("OCPPCommCtrlr", "HeartbeatInterval")]["value"] == "600"
    assert by_name[("EVSE", "Power")]["evse_id"] == 1
    assert by_name[("EVSE", "Power")]["data_type"] == "integer"
    assert [v["variable"] for v in filtered.json()["items"]] == ["Power"]
    assert missing.status_code == 404
