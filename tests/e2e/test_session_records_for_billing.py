"""What billing reads from the OCPP side, end to end against a real node on
port 0 and its database: samples stored once under retransmission, the
medium as it was at the start, the 2.0.1 charging-state timeline, signed
meter values as sent, the meter's public key, and the rating queue filled
in the transaction that completes a session."""

from __future__ import annotations

import importlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from crm.access import system_principal
from crm.changes import IgnoreChanges
from crm.media import MediumUpdate
from crm.services.media import MediaService
from crm.storage.tree import load_tree
from crm.tables import Contact
from csms.bootstrap import Node
from csms.domain.model import Sample
from csms.domain.stale_sessions import StaleSessionRule
from csms.domain.writes import StoreMeterValues, WriteGroup
from csms.storage.sessions import PiccoloStaleSessionStore
from csms.storage.stations import PiccoloStationAdmin
from csms.tables import (
    ChargingSession,
    MeterValue,
    RatingQueue,
    SessionStateChange,
    Station,
)
from simulators.ocpp16 import connect16
from tests.e2e.command_helpers import operator_api
from tests.e2e.conftest import ocpp_url
from tests.e2e.test_cli import csms
from tests.media_helpers import allow
from tests.world import admin_token, make_entity

T0 = "2026-11-22T10:00:00Z"
T1 = "2026-11-22T10:05:00Z"
T2 = "2026-11-22T10:10:00Z"
T3 = "2026-11-22T10:15:00Z"


class Client:
    """A bare charger: sends frames, returns the answers."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._next = 0

    async def send(self, action: str, payload: dict[str, Any], unique_id: str = "") -> Any:
        """One call; the same ``unique_id`` again is a retransmission."""
        if not unique_id:
            self._next += 1
            unique_id = f"m{self._next}"
        await self.ws.send(json.dumps([2, unique_id, action, payload]))
        answer = json.loads(await self.ws.recv())
        assert answer[:2] == [3, unique_id], answer
        return answer[2]


@asynccontextmanager
async def charger(node: Node, name: str, protocol: str) -> AsyncIterator[Client]:
    await PiccoloStationAdmin().add(name)
    async with connect(f"{ocpp_url(node)}/{name}", subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        client = Client(ws)
        if protocol == "ocpp1.6":
            await client.send(
                "BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "M"}
            )
        else:
            await client.send(
                "BootNotification",
                {"chargingStation": {"vendorName": "Acme", "model": "M"}, "reason": "PowerUp"},
            )
        yield client


async def station_pk(name: str) -> int:
    row = await Station.select(Station.id).where(Station.charge_point_id == name).first().run()
    assert row is not None
    return int(row["id"])


async def contact(entity: int, name: str) -> int:
    now = datetime.now(UTC)
    (row,) = (
        await Contact.insert(
            Contact(owner_entity=entity, kind="person", name=name, created_at=now, updated_at=now)
        )
        .returning(Contact.id)
        .run()
    )
    return int(row["id"])


async def medium_with_contacts(uid: str) -> tuple[int, int, int, int]:
    """A medium whose issuer, owner and bill-to contact are set: its id, issuer,
    bill-to and owner."""
    issuer = await make_entity(f"EMP of {uid}")
    owner, bill_to = await contact(issuer, "Driver"), await contact(issuer, "Fleet")
    await allow(uid, issuer=issuer)
    service = MediaService(changes=IgnoreChanges())
    medium = await service.update_by_uid(
        system_principal(await load_tree()),
        uid,
        MediumUpdate(owner_contact_id=owner, bill_to_contact_id=bill_to),
    )
    return medium.id, issuer, bill_to, owner


async def session_medium(session_id: int) -> tuple[Any, ...]:
    row = (
        await ChargingSession.select(
            ChargingSession.medium_id,
            ChargingSession.issuing_entity_id,
            ChargingSession.bill_to_contact_id,
            ChargingSession.owner_contact_id,
        )
        .where(ChargingSession.id == session_id)
        .first()
        .run()
    )
    assert row is not None
    return tuple(row.values())


async def queued(session_id: int) -> int:
    return int(await RatingQueue.count().where(RatingQueue.session == session_id).run())


def meter_values_16(connector: int, tx: int | None, timestamp: str, *values: dict[str, Any]) -> Any:
    payload: dict[str, Any] = {
        "connectorId": connector,
        "meterValue": [{"timestamp": timestamp, "sampledValue": list(values)}],
    }
    if tx is not None:
        payload["transactionId"] = tx
    return payload


SIGNED = 'OCMF|{"RD":[{"RV":1.234}]}|{"SD":"3045"}'


# -- 1: a retransmitted MeterValues is stored once ------------------------------------


async def test_a_retransmitted_16_meter_values_is_stored_once(node: Node) -> None:
    """A 1.6 MeterValues sent again after a lost answer (same frame, same
    unique id) is answered both times and its samples are stored once; a Raw
    and a SignedData sample of the same register at the same time are two
    samples, and a different reading under the same timestamp (a charger
    whose clock is not set) is kept too."""
    await allow("TAG-MV")
    async with charger(node, "CP-MV", "ocpp1.6") as cp:
        started = await cp.send(
            "StartTransaction",
            {"connectorId": 1, "idTag": "TAG-MV", "meterStart": 1000, "timestamp": T0},
        )
        tx = started["transactionId"]
        payload = meter_values_16(
            1,
            tx,
            T1,
            {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": SIGNED, "format": "SignedData", "measurand": "Energy.Active.Import.Register"},
            {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
        )
        assert await cp.send("MeterValues", payload, unique_id="mv-1") == {}
        assert await cp.send("MeterValues", payload, unique_id="mv-1") == {}
        assert await cp.send("MeterValues", payload) == {}
        other = meter_values_16(1, tx, T1, {"value": "1600", "unit": "Wh"})
        assert await cp.send("MeterValues", other) == {}
    rows = await MeterValue.select().where(MeterValue.session == tx).order_by(MeterValue.id).run()
    assert [(r["value"], r["format"]) for r in rows] == [
        ("1500", "Raw"),
        (SIGNED, "SignedData"),
        ("11000", "Raw"),
        ("1600", "Raw"),
    ]
    assert rows[1]["signed_data"] == SIGNED
    assert all(r["sample_key"] for r in rows)


def signed_value(data: str) -> dict[str, str]:
    return {
        "signedMeterData": data,
        "signingMethod": "ECDSA-secp256r1-SHA256",
        "encodingMethod": "OCMF",
        "publicKey": "3059301306072A8648CE3D020106",
    }


async def test_a_retransmitted_201_meter_values_is_stored_once_with_its_signed_value(
    node: Node,
) -> None:
    """A 2.0.1 MeterValues sent twice is answered twice and stored once; the
    signedMeterValue's data, signing method, encoding method and public key
    are kept in their columns exactly as sent."""
    async with charger(node, "CS-MV", "ocpp2.0.1") as cs:
        payload = {
            "evseId": 1,
            "meterValue": [
                {
                    "timestamp": T1,
                    "sampledValue": [
                        {"value": 1500, "signedMeterValue": signed_value("OCMF|a|b")},
                        {"value": 7.5, "measurand": "Power.Active.Import"},
                    ],
                }
            ],
        }
        assert await cs.send("MeterValues", payload, unique_id="mv-1") == {}
        assert await cs.send("MeterValues", payload, unique_id="mv-1") == {}
    rows = (
        await MeterValue.select()
        .where(MeterValue.station == await station_pk("CS-MV"))
        .order_by(MeterValue.id)
        .run()
    )
    assert [r["value"] for r in rows] == ["1500", "7.5"]
    signed = rows[0]
    assert (
        signed["signed_data"],
        signed["signing_method"],
        signed["encoding_method"],
        signed["public_key"],
    ) == ("OCMF|a|b", "ECDSA-secp256r1-SHA256", "OCMF", "3059301306072A8648CE3D020106")
    assert rows[1]["signed_data"] == ""


async def test_a_batch_with_a_sample_already_stored_fails_no_neighbour(node: Node) -> None:
    """One group-commit batch holding a sample already stored, the same sample
    twice and new samples of another station commits: every group succeeds,
    the repeated samples are skipped and the new ones are stored."""
    admin = PiccoloStationAdmin()
    await admin.add("CP-B1")
    await admin.add("CP-B2")
    one, two = await station_pk("CP-B1"), await station_pk("CP-B2")
    at = datetime(2026, 11, 22, 10, tzinfo=UTC)
    now = datetime.now(UTC)

    def group(station: int, value: str) -> WriteGroup:
        sample = Sample(at, value, unit="Wh", context="Sample.Periodic", location="Outlet")
        return WriteGroup((StoreMeterValues(station, 1, None, (sample,), now),))

    sink = node.writer._sink
    await sink.apply([group(one, "10")])
    results = await sink.apply([group(one, "10"), group(one, "10"), group(two, "10")])
    assert results == [[None], [None], [None]]
    assert await MeterValue.count().where(MeterValue.station == one).run() == 1
    assert await MeterValue.count().where(MeterValue.station == two).run() == 1


# -- 2: the medium as it was at the start ---------------------------------------------


async def test_a_16_session_keeps_the_medium_as_it_was_at_the_start(node: Node) -> None:
    """A 1.6 session records the medium's id, issuing entity, bill-to and owner
    contact at its start; changing the medium later changes nothing on the
    session; an unknown id tag leaves them null. The sessions API and `csms
    session show` show them."""
    medium_id, issuer, bill_to, owner = await medium_with_contacts("TAG-MED")
    await PiccoloStationAdmin().add("CP-MED")
    async with connect16(ocpp_url(node), "CP-MED") as cp:
        await cp.boot(vendor="Acme", model="M")
        report = await cp.run_session(connector_id=1, id_tag="TAG-MED", duration=0.1)
        unknown = await cp.run_session(
            connector_id=1, id_tag="TAG-NOBODY", duration=0.1, authorize=False
        )
    assert await session_medium(report.transaction_id) == (medium_id, issuer, bill_to, owner)
    assert await session_medium(unknown.transaction_id) == (None, None, None, None)

    other = await contact(issuer, "New payer")
    await MediaService(changes=IgnoreChanges()).update_by_uid(
        system_principal(await load_tree()), "TAG-MED", MediumUpdate(bill_to_contact_id=other)
    )
    assert await session_medium(report.transaction_id) == (medium_id, issuer, bill_to, owner)

    root = await make_entity("Root")
    await (
        Station.update({Station.owner_entity: root})
        .where(Station.charge_point_id == "CP-MED")
        .run()
    )
    async with operator_api(node, await admin_token(root)) as api:
        answer = await api.get(f"/sessions/{report.transaction_id}")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["medium_id"], body["issuing_entity_id"]) == (medium_id, issuer)
    assert (body["bill_to_contact_id"], body["owner_contact_id"]) == (bill_to, owner)
    shown = json.loads(csms("session", "show", str(report.transaction_id), "--json").stdout)
    assert shown["session"]["bill_to_contact_id"] == bill_to


async def test_a_201_session_takes_the_medium_when_its_id_token_arrives(node: Node) -> None:
    """A 2.0.1 transaction started without idToken takes the medium when an
    Updated brings one; an Ended for a transaction never seen keeps the
    medium its idToken names."""
    medium_id, issuer, bill_to, owner = await medium_with_contacts("TOK-201")
    facts = (medium_id, issuer, bill_to, owner)
    async with charger(node, "CS-MED", "ocpp2.0.1") as cs:
        await cs.send("TransactionEvent", tx_event("Started", "tx-late", 0, T0))
        token = {"idToken": "TOK-201", "type": "ISO14443"}
        await cs.send("TransactionEvent", tx_event("Updated", "tx-late", 1, T1, idToken=token))
        await cs.send("TransactionEvent", tx_event("Ended", "tx-unseen", 5, T2, idToken=token))
    late = await ChargingSession.select(ChargingSession.id, ChargingSession.charger_transaction_id)
    ids = {r["charger_transaction_id"]: r["id"] for r in late}
    assert await session_medium(ids["tx-late"]) == facts
    assert await session_medium(ids["tx-unseen"]) == facts


# -- 3: the 2.0.1 charging-state timeline ---------------------------------------------


def tx_event(
    event_type: str, tx: str, seq_no: int, timestamp: str, state: str = "", **extra: Any
) -> dict[str, Any]:
    info: dict[str, Any] = {"transactionId": tx}
    if state:
        info["chargingState"] = state
    return {
        "eventType": event_type,
        "timestamp": timestamp,
        "triggerReason": "ChargingStateChanged",
        "seqNo": seq_no,
        "transactionInfo": info,
        "evse": {"id": 1, "connectorId": 1},
        **extra,
    }


async def test_201_charging_states_are_kept_as_a_timeline(node: Node) -> None:
    """Each change of a 2.0.1 session's chargingState is kept with its
    event's time and seqNo in session_state_change; a retransmitted event, an
    event without chargingState and an event repeating the state the session
    is in add no row."""
    async with charger(node, "CS-ST", "ocpp2.0.1") as cs:
        await cs.send("TransactionEvent", tx_event("Started", "tx-st", 0, T0, "EVConnected"))
        charging = tx_event("Updated", "tx-st", 1, T1, "Charging")
        await cs.send("TransactionEvent", charging, unique_id="ev-1")
        await cs.send("TransactionEvent", charging, unique_id="ev-1")
        await cs.send("TransactionEvent", tx_event("Updated", "tx-st", 2, T2, "SuspendedEV"))
        await cs.send("TransactionEvent", tx_event("Updated", "tx-st", 3, T2))
        await cs.send("TransactionEvent", tx_event("Updated", "tx-st", 4, T2, "SuspendedEV"))
        await cs.send("TransactionEvent", tx_event("Ended", "tx-st", 5, T3, "Idle"))
    rows = (
        await SessionStateChange.select(
            SessionStateChange.charging_state,
            SessionStateChange.changed_at,
            SessionStateChange.seq_no,
            SessionStateChange.connector_id,
        )
        .order_by(SessionStateChange.seq_no)
        .run()
    )
    assert [(r["charging_state"], r["seq_no"], r["connector_id"]) for r in rows] == [
        ("EVConnected", 0, 1),
        ("Charging", 1, 1),
        ("SuspendedEV", 2, 1),
        ("Idle", 5, 1),
    ]
    assert rows[1]["changed_at"] == datetime(2026, 11, 22, 10, 5, tzinfo=UTC)


# -- 4: the meter's public key ----------------------------------------------------------


async def test_a_station_meter_public_key_is_set_by_cli_and_api(node: Node) -> None:
    """`csms station set CP --meter-public-key HEX` and PATCH /stations/{id}
    store the meter's public key (colons and spaces dropped); text that is
    not hex is refused by both."""
    await PiccoloStationAdmin().add("CP-KEY")
    done = csms("station", "set", "CP-KEY", "--meter-public-key", "30:59:30 13")
    assert done.returncode == 0, done.stderr
    assert (await PiccoloStationAdmin().get("CP-KEY")).meter_public_key == "30593013"
    refused = csms("station", "set", "CP-KEY", "--meter-public-key", "xyz")
    assert refused.returncode == 1 and "hex" in refused.stderr

    root = await make_entity("Key owner")
    await (
        Station.update({Station.owner_entity: root})
        .where(Station.charge_point_id == "CP-KEY")
        .run()
    )
    pk = await station_pk("CP-KEY")
    async with operator_api(node, await admin_token(root)) as api:
        patched = await api.patch(f"/stations/{pk}", json={"meter_public_key": "AB01ff"})
        assert patched.status_code == 200, patched.text
        assert patched.json()["meter_public_key"] == "AB01ff"
        bad = await api.patch(f"/stations/{pk}", json={"meter_public_key": "ABC"})
        assert bad.status_code == 400, bad.text


# -- 5: the rating queue ------------------------------------------------------------------


async def test_every_16_completion_queues_the_session_once(node: Node) -> None:
    """A 1.6 StopTransaction queues its session for rating, a retransmitted stop
    adds no second row; a stop for a transaction never seen creates one
    session and one row however often it is sent; an open session is not
    queued."""
    await allow("TAG-Q")
    async with charger(node, "CP-Q", "ocpp1.6") as cp:
        started = await cp.send(
            "StartTransaction",
            {"connectorId": 1, "idTag": "TAG-Q", "meterStart": 0, "timestamp": T0},
        )
        tx = started["transactionId"]
        assert await queued(tx) == 0
        stop = {"transactionId": tx, "meterStop": 500, "timestamp": T1}
        await cp.send("StopTransaction", stop, unique_id="stop-1")
        await cp.send("StopTransaction", stop, unique_id="stop-1")
        unseen = {"transactionId": 99_999, "meterStop": 800, "timestamp": T2, "idTag": "TAG-Q"}
        await cp.send("StopTransaction", unseen)
        await cp.send("StopTransaction", unseen)
    assert await queued(tx) == 1
    created = await ChargingSession.select(ChargingSession.id).where(
        ChargingSession.charger_transaction_id == "99999"
    )
    assert len(created) == 1
    assert await queued(created[0]["id"]) == 1
    row = await RatingQueue.select().where(RatingQueue.session == tx).first().run()
    assert row is not None and row["completed_at"] == datetime(2026, 11, 22, 10, 5, tzinfo=UTC)


async def test_every_201_completion_queues_the_session_once(node: Node) -> None:
    """A 2.0.1 Ended queues its session, a repeated Ended adds nothing, and an
    Ended for a transaction never seen queues the session it creates."""
    async with charger(node, "CS-Q", "ocpp2.0.1") as cs:
        await cs.send("TransactionEvent", tx_event("Started", "tx-q", 0, T0))
        ended = tx_event("Ended", "tx-q", 1, T1)
        await cs.send("TransactionEvent", ended)
        await cs.send("TransactionEvent", ended)
        await cs.send("TransactionEvent", tx_event("Ended", "tx-q-unseen", 3, T2))
    rows = await ChargingSession.select(ChargingSession.id, ChargingSession.status)
    assert {r["status"] for r in rows} == {"completed"}
    for r in rows:
        assert await queued(r["id"]) == 1
    assert await RatingQueue.count().run() == 2


async def test_a_session_closed_by_rule_is_queued_and_the_late_stop_adds_no_row(
    node: Node,
) -> None:
    """The stale-session rule queues the session it closes in the same
    transaction; the charger's StopTransaction that replaces the closure
    later keeps one row, now with the charger's stop time."""
    await allow("TAG-STALE")
    async with charger(node, "CP-STALE", "ocpp1.6") as cp:
        first = await cp.send(
            "StartTransaction",
            {"connectorId": 1, "idTag": "TAG-STALE", "meterStart": 0, "timestamp": T0},
        )
        await cp.send(
            "StartTransaction",
            {"connectorId": 1, "idTag": "TAG-STALE", "meterStart": 10, "timestamp": T1},
        )
        rule = StaleSessionRule(PiccoloStaleSessionStore(), inactive_hours=1_000_000)
        closed = await rule.run()
        assert [f.session.session_id for f in closed] == [first["transactionId"]]
        assert await queued(first["transactionId"]) == 1
        await cp.send(
            "StopTransaction",
            {"transactionId": first["transactionId"], "meterStop": 5, "timestamp": T2},
        )
    assert await queued(first["transactionId"]) == 1
    row = await RatingQueue.select().where(RatingQueue.session == first["transactionId"]).first()
    assert row is not None and row["completed_at"] == datetime(2026, 11, 22, 10, 10, tzinfo=UTC)


# -- the migration's data steps -----------------------------------------------------------

_MIGRATION = "csms.piccolo_migrations.csms_2026_12_05t23_00_05_000000"


async def test_the_migration_keys_old_samples_and_queues_completed_sessions(node: Node) -> None:
    """The migration gives old samples their key (splitting a 2.0.1 signed
    value kept as JSON), deletes a station's repeated samples keeping the
    first, and queues every completed session (not the open ones)."""
    migration = importlib.import_module(_MIGRATION)
    await PiccoloStationAdmin().add("CP-OLD")
    pk = await station_pk("CP-OLD")
    now = datetime.now(UTC)
    at = now - timedelta(days=1)
    engine = MeterValue._meta.db
    await engine.run_ddl("DROP INDEX meter_value_sample_key")
    try:
        old_signed = json.dumps(signed_value("OCMF|x|y"))
        for value, signed in (("10", ""), ("10", ""), ("11", old_signed)):
            await MeterValue.insert(
                MeterValue(
                    station=pk,
                    connector_id=1,
                    sampled_at=at,
                    value=value,
                    unit="Wh",
                    signed_data=signed,
                    sample_key=None,
                    received_at=now,
                )
            ).run()
        await migration.key_samples()
    finally:
        await engine.run_ddl(migration.INDEXES["meter_value_sample_key"])
    rows = await MeterValue.select().where(MeterValue.station == pk).order_by(MeterValue.id)
    assert [r["value"] for r in rows] == ["10", "11"]
    assert all(r["sample_key"] for r in rows)
    assert (rows[1]["signed_data"], rows[1]["encoding_method"]) == ("OCMF|x|y", "OCMF")

    for status in ("completed", "active"):
        await ChargingSession.insert(
            ChargingSession(
                station=pk,
                connector_id=1,
                id_tag="OLD",
                status=status,
                started_at=at,
                stopped_at=now if status == "completed" else None,
                created_at=at,
                updated_at=now,
            )
        ).run()
    await migration.queue_completed_sessions()
    queue = await RatingQueue.select(RatingQueue.session.status.as_alias("status")).run()
    assert [r["status"] for r in queue] == ["completed"]
