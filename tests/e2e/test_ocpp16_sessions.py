"""OCPP 1.6J sessions end to end: the simulator against a real node and database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from crm.media import MediumStatus
from csms.bootstrap import Node
from csms.storage.sessions import PiccoloSessionQueries
from csms.storage.stations import PiccoloStationAdmin
from csms.tables import ChargingSession, ConnectorStatusChange, MeterValue, OcppMessage
from simulators.ocpp16 import connect16
from tests.e2e.conftest import ocpp_url
from tests.media_helpers import allow, set_status


async def _wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_full_session_is_stored_with_its_meter_values(node: Node) -> None:
    """A whole session (boot, status, authorise, start, periodic meter values,
    stop with transaction data) ends up in the database, every distinct sampled
    value included once, and the session's energy matches the meter readings."""
    await PiccoloStationAdmin().add("CP-1")
    await allow("TAG-1")
    async with connect16(ocpp_url(node), "CP-1") as cp:
        boot = await cp.boot(vendor="Acme", model="Fast-22", serial="SN-9", firmware="1.2.3")
        assert boot.status == "Accepted"
        assert boot.interval == node.settings.heartbeat_interval
        report = await cp.run_session(
            connector_id=1, id_tag="TAG-1", duration=0.6, meter_interval=0.1, power_w=11000
        )
    assert report.id_tag_status == "Accepted"

    session = await PiccoloSessionQueries().get(report.transaction_id)
    assert session.status == "completed"
    assert session.closed_by == "charger"
    assert session.charge_point_id == "CP-1"
    assert session.id_tag == "TAG-1"
    assert session.meter_start_wh == report.meter_start
    assert session.meter_stop_wh == report.meter_stop
    assert session.energy_wh == report.meter_stop - report.meter_start > 0

    stored = await MeterValue.count().where(MeterValue.session == report.transaction_id).run()
    # The stop's transactionData repeats the energy register of the
    # Transaction.Begin and .End MeterValues: the same two samples, kept once.
    assert stored == report.sampled_values_sent - 2
    station = await PiccoloStationAdmin().get("CP-1")
    assert (station.vendor, station.model, station.serial_number) == ("Acme", "Fast-22", "SN-9")
    assert station.firmware_version == "1.2.3"
    assert station.last_boot_at is not None
    statuses = [
        row["status"]
        for row in await ConnectorStatusChange.select(ConnectorStatusChange.status)
        .where(ConnectorStatusChange.connector_id == 1)
        .order_by(ConnectorStatusChange.id)
        .run()
    ]
    assert statuses[-3:] == ["Charging", "Finishing", "Available"]
    assert {c.connector_id: c.status for c in station.connectors}[1] == "Available"


async def test_every_call_is_in_the_message_log(node: Node) -> None:
    """Each call a charger makes and the answer it got are logged (heartbeats
    only move the last-seen time)."""
    await PiccoloStationAdmin().add("CP-LOG")
    async with connect16(ocpp_url(node), "CP-LOG") as cp:
        await cp.boot(vendor="Acme", model="M")
        await cp.status(connector_id=1, status="Available")
        await cp.heartbeat()

    async def logged() -> bool:
        return await OcppMessage.count().run() == 4

    await _wait_for(logged)
    rows = await OcppMessage.select().order_by(OcppMessage.id).run()
    assert [(r["direction"], r["action"]) for r in rows] == [
        ("in", "BootNotification"),
        ("out", "BootNotification"),
        ("in", "StatusNotification"),
        ("out", "StatusNotification"),
    ]
    assert '"chargePointVendor":"Acme"' in rows[0]["payload"].replace(" ", "")


async def test_retransmitted_start_transaction_is_one_session(node: Node) -> None:
    """A StartTransaction sent again after a lost answer (same connector, tag,
    timestamp and meter reading) gets the same transaction id: one session."""
    await PiccoloStationAdmin().add("CP-2")
    await allow("TAG-2")
    started = datetime.now(UTC).replace(microsecond=0)
    async with connect16(ocpp_url(node), "CP-2") as cp:
        await cp.boot(vendor="Acme", model="M")
        first = await cp.start_transaction(
            connector_id=1, id_tag="TAG-2", meter_start=1000, timestamp=started
        )
        again = await cp.start_transaction(
            connector_id=1, id_tag="TAG-2", meter_start=1000, timestamp=started
        )
        other = await cp.start_transaction(
            connector_id=1, id_tag="TAG-2", meter_start=1500, timestamp=started + timedelta(1)
        )
    assert first.transaction_id == again.transaction_id
    assert other.transaction_id != first.transaction_id
    assert await ChargingSession.count().run() == 2


async def test_stop_for_an_unknown_transaction_is_recorded(node: Node) -> None:
    """A StopTransaction for a transaction the system never saw (its start was
    lost) is recorded as a session, its start taken from the transaction data."""
    await PiccoloStationAdmin().add("CP-3")
    await allow("TAG-3")
    begin = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    end = begin + timedelta(minutes=50)
    async with connect16(ocpp_url(node), "CP-3") as cp:
        await cp.boot(vendor="Acme", model="M")
        answer = await cp.stop_transaction(
            transaction_id=987654,
            meter_stop=25_500,
            timestamp=end,
            id_tag="TAG-3",
            reason="EVDisconnected",
            transaction_data=[
                {
                    "timestamp": begin.isoformat(),
                    "sampledValue": [
                        {
                            "value": "20.5",
                            "unit": "kWh",
                            "context": "Transaction.Begin",
                            "measurand": "Energy.Active.Import.Register",
                        }
                    ],
                },
                {
                    "timestamp": end.isoformat(),
                    "sampledValue": [{"value": "25500", "context": "Transaction.End"}],
                },
            ],
        )
    assert answer.id_tag_info["status"] == "Accepted"
    sessions = await PiccoloSessionQueries().list_all(charge_point_id="CP-3")
    assert len(sessions) == 1
    session = sessions[0]
    assert session.started_offline is True
    assert session.status == "completed"
    assert session.meter_start_wh == 20_500
    assert session.meter_stop_wh == 25_500
    assert session.started_at == begin
    assert session.stopped_at == end
    assert session.stop_reason == "EVDisconnected"
    values = await PiccoloSessionQueries().meter_values(session.transaction_id)
    assert [v.value for v in values] == ["20.5", "25500"]


async def test_meter_values_outside_a_transaction_are_kept(node: Node) -> None:
    """Meter values without a transaction (clock-aligned station data) are
    stored with their station and connector, all fields as sent."""
    await PiccoloStationAdmin().add("CP-4")
    now = datetime.now(UTC).replace(microsecond=0)
    async with connect16(ocpp_url(node), "CP-4") as cp:
        await cp.boot(vendor="Acme", model="M")
        await cp.meter_values(
            connector_id=0,
            meter_value=[
                {
                    "timestamp": now.isoformat(),
                    "sampledValue": [
                        {
                            "value": "230.1",
                            "measurand": "Voltage",
                            "phase": "L1-N",
                            "unit": "V",
                            "context": "Sample.Clock",
                            "location": "Inlet",
                        },
                        {"value": "123456", "format": "SignedData", "context": "Sample.Clock"},
                    ],
                }
            ],
        )
    rows = await MeterValue.select().order_by(MeterValue.id).run()
    assert len(rows) == 2
    voltage, signed = rows
    assert voltage["session"] is None
    assert (voltage["measurand"], voltage["phase"], voltage["unit"]) == ("Voltage", "L1-N", "V")
    assert (voltage["context"], voltage["location"], voltage["value"]) == (
        "Sample.Clock",
        "Inlet",
        "230.1",
    )
    assert signed["format"] == "SignedData"
    assert signed["signed_data"] == "123456"


async def test_authorize_answers_follow_the_tag_list(node: Node) -> None:
    """Authorize answers Accepted, Blocked, Expired or Invalid from the id tag
    list, and a block takes effect on the next Authorize without a restart."""
    await PiccoloStationAdmin().add("CP-5")
    await allow("GOOD", group_uid="FLEET")
    await allow("OLD", valid_until=datetime.now(UTC) - timedelta(days=1))
    async with connect16(ocpp_url(node), "CP-5") as cp:
        await cp.boot(vendor="Acme", model="M")
        good = await cp.authorize("GOOD")
        assert good["status"] == "Accepted"
        assert good["parent_id_tag"] == "FLEET"
        assert (await cp.authorize("OLD"))["status"] == "Expired"
        assert (await cp.authorize("NOBODY"))["status"] == "Invalid"
        await set_status("GOOD", MediumStatus.BLOCKED, changes=node.api.crm_changes)
        assert (await cp.authorize("GOOD"))["status"] == "Blocked"


async def test_a_tag_charging_elsewhere_gets_concurrent_tx(node: Node) -> None:
    """While a tag charges at one connected station, starting with it at
    another station is answered ConcurrentTx."""
    await PiccoloStationAdmin().add("CP-A")
    await PiccoloStationAdmin().add("CP-B")
    await allow("TAG-X")
    async with connect16(ocpp_url(node), "CP-A") as a, connect16(ocpp_url(node), "CP-B") as b:
        await a.boot(vendor="Acme", model="M")
        await b.boot(vendor="Acme", model="M")
        first = await a.start_transaction(connector_id=1, id_tag="TAG-X", meter_start=0)
        assert first.id_tag_info["status"] == "Accepted"
        assert (await b.authorize("TAG-X"))["status"] == "ConcurrentTx"
        second = await b.start_transaction(connector_id=1, id_tag="TAG-X", meter_start=0)
        assert second.id_tag_info["status"] == "ConcurrentTx"
        await a.stop_transaction(first.transaction_id, meter_stop=100)
        assert (await b.authorize("TAG-X"))["status"] == "Accepted"


async def test_notifications_are_recorded_as_station_events(node: Node) -> None:
    """DataTransfer, FirmwareStatusNotification and DiagnosticsStatusNotification
    are stored in the station's event log."""
    await PiccoloStationAdmin().add("CP-6")
    async with connect16(ocpp_url(node), "CP-6") as cp:
        await cp.boot(vendor="Acme", model="M")
        answer = await cp.data_transfer("com.acme", message_id="Temp", data="41C")
        assert answer.status == "UnknownVendorId"
        await cp.firmware_status("Installed")
        await cp.diagnostics_status("Uploaded")
    events = await PiccoloStationAdmin().events("CP-6")
    kinds = [e.kind for e in events]
    assert {"boot", "data_transfer", "firmware_status", "diagnostics_status"} <= set(kinds)
    transfer = next(e for e in events if e.kind == "data_transfer")
    assert transfer.data == {"vendor_id": "com.acme", "message_id": "Temp", "data": "41C"}
