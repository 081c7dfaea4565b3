"""Rating with the in-memory queue, directory and tariffs (billing.rating.rater)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from billing.ports import CompletedSession, MeterSample, StateAt
from billing.rating.audiences import Communities
from billing.rating.rater import IN_FLIGHT, Rater
from billing.storage.memory import SimulatedCrash

from .world import (
    BERLIN,
    EPOCH,
    World,
    add_tariff,
    component,
    energy_tariff,
    ocpi,
    pipeline_world,
    session,
)

OCTOBER_5 = datetime(2026, 10, 5, 10, tzinfo=UTC)


@pytest.fixture
async def world() -> World:
    return await pipeline_world()


def detail(world: World, session_id: int, audience: str) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.json.decode(world.cdr(session_id, audience).detail)
    return result


async def test_a_session_is_rated_once_per_audience(world: World) -> None:
    """A session at the sub-CPO's station by the EMP's card is priced for the
    owner -> EMP, the EMP -> its customer and the parent -> the sub-CPO; each
    CDR names seller, buyer and tariff version; rating again adds nothing."""
    session_id = world.charge(world.station_a, OCTOBER_5)
    assert await world.rater.rate_all() == 1
    assert await world.queue.pending() == 0
    rows = world.cdrs.of_session(session_id)
    assert set(rows) == {"emp", "customer", "sub_cpo"}
    emp, customer, sub = (rows[a].record for a in ("emp", "customer", "sub_cpo"))
    assert all(r.status == "rated" and r.error == "" for r in (emp, customer, sub))
    assert (emp.seller_entity_id, emp.buyer_entity_id, emp.buyer_contact_id) == (2, 4, 204)
    assert (customer.seller_entity_id, customer.buyer_contact_id) == (4, world.customer)
    assert (sub.seller_entity_id, sub.buyer_entity_id) == (1, 2)
    assert emp.total_net_e4 == 50_000  # 10 kWh x 0.40 + 1.00
    assert emp.total_gross_e4 == 59_500  # 19 % VAT
    assert customer.total_net_e4 == 69_000  # 10 x 0.59 + 1.00
    assert sub.total_net_e4 == 20_000  # 10 x 0.20
    assert emp.energy_wh == 10_000 and emp.charging_seconds == 3600
    assert emp.currency == "EUR" and emp.tariff_version_id is not None
    assert await world.rater.rate_all() == 0
    assert len(world.cdrs.rows) == 3


async def test_a_session_queued_again_gets_no_second_cdr(world: World) -> None:
    """A session that reaches the queue again after being rated keeps its
    first CDRs: one per (session, audience)."""
    session_id = world.charge(world.station_a, OCTOBER_5)
    await world.rater.rate_all()
    first = {a: row.id for a, row in world.cdrs.of_session(session_id).items()}
    world.queue.put(_again(world, session_id))
    assert await world.rater.rate_all() == 1
    assert {a: row.id for a, row in world.cdrs.of_session(session_id).items()} == first
    assert len(world.cdrs.rows) == 3


def _again(world: World, session_id: int) -> CompletedSession:
    return session(
        session_id,
        station_id=world.station_a,
        owner=world.sub_cpo,
        started_at=OCTOBER_5,
        bill_to=world.customer,
    )


async def test_a_crash_between_taking_and_recording_rates_again_once(world: World) -> None:
    """The rater dies after next_batch, before record: nothing is stored and
    the sessions stay queued; the next rater rates them, once per audience."""
    first = world.charge(world.station_a, OCTOBER_5)
    second = world.charge(world.station_b, OCTOBER_5 + timedelta(hours=2))
    world.queue.crash_before_record()
    with pytest.raises(SimulatedCrash):
        await world.rater.rate_all()
    assert world.cdrs.rows == {}
    assert await world.queue.pending() == 2
    restarted = Rater(world.queue, world.directory, world.tariffs)
    assert await restarted.rate_all() == 2
    assert set(world.cdrs.of_session(first)) == {"emp", "customer", "sub_cpo"}
    assert set(world.cdrs.of_session(second)) == {"emp", "customer"}
    assert len(world.cdrs.rows) == 5
    assert await restarted.rate_all() == 0


async def test_a_session_completed_anew_while_rated_is_rated_again(world: World) -> None:
    """The session is queued again (a new stop) after its batch was taken
    and before it is recorded: recording removes only the revision taken,
    the next rating prices the new stop."""
    session_id = world.charge(world.station_a, OCTOBER_5, energy_wh=10_000)
    (taken,) = await world.queue.next_batch(10)
    entities = await world.directory.entities()
    communities = Communities(entities, await world.directory.community_partners())
    cdrs = await world.rater.rate_session(taken, entities, communities)
    world.queue.put(
        msgspec.structs.replace(taken, meter_stop_wh=(taken.meter_stop_wh or 0) + 10_000)
    )
    await world.queue.record(cdrs, [taken])
    assert await world.queue.pending() == 1
    assert await world.rater.rate_all() == 1
    assert await world.queue.pending() == 0
    emp = world.cdrs.of_session(session_id)["emp"].record
    assert emp.energy_wh == 20_000


async def test_two_raters_on_the_same_batch_keep_one_cdr_each(world: World) -> None:
    """Two raters that took the same batch both record it: the second one's
    CDRs are ignored, the first ones stay."""
    session_id = world.charge(world.station_a, OCTOBER_5)
    other = Rater(world.queue, world.directory, world.tariffs)
    taken = await world.queue.next_batch(10)
    await world.rater.rate_all()
    kept = {a: row.id for a, row in world.cdrs.of_session(session_id).items()}
    entities = await world.directory.entities()
    late = await other.rate_session(
        taken[0], entities, Communities(entities, await world.directory.community_partners())
    )
    assert await world.queue.record(late, taken) == 3  # offered, not stored
    assert {a: row.id for a, row in world.cdrs.of_session(session_id).items()} == kept
    assert len(world.cdrs.rows) == 3


async def test_the_version_valid_at_the_start_prices_the_session(world: World) -> None:
    """A version valid from mid-session does not apply to it; one valid from
    before its start does."""
    lonely = 6
    tariff = await add_tariff(
        world.tariffs, lonely, energy_tariff("L", per_kwh="0.40", flat=None), audience="emp"
    )
    world.directory.add_entity(
        msgspec.structs.replace(
            (await world.directory.entities())[world.cpo_b], id=lonely, name="L"
        )
    )
    start = OCTOBER_5
    mid = await world.tariffs.add_version(
        tariff,
        start + timedelta(minutes=30),
        json.dumps(energy_tariff("L", per_kwh="0.90", flat=None)),
        None,
    )
    world.queue.put(session(1, station_id=21, owner=lonely, started_at=start))
    world.queue.put(session(2, station_id=21, owner=lonely, started_at=start + timedelta(hours=1)))
    await Rater(world.queue, world.directory, world.tariffs).rate_all()
    before, after = world.cdr(1, "emp"), world.cdr(2, "emp")
    assert before.total_net_e4 == 40_000  # 10 kWh x 0.40: the first version
    assert before.tariff_version_id != mid.id
    assert after.total_net_e4 == 90_000  # 10 kWh x 0.90: started after mid
    assert after.tariff_version_id == mid.id


async def test_no_applicable_tariff_is_an_error_cdr_with_the_reason(world: World) -> None:
    """A station owner without an emp tariff: an error CDR naming the entity
    and audience, while the other audiences are priced."""
    world.directory.add_entity(
        msgspec.structs.replace(
            (await world.directory.entities())[world.cpo_b], id=6, name="No tariff"
        )
    )
    world.queue.put(session(1, station_id=21, owner=6, bill_to=world.customer))
    await world.rater.rate_all()
    emp = world.cdr(1, "emp")
    assert emp.status == "error"
    assert "no tariff applies" in emp.error and "entity 6" in emp.error
    assert emp.total_net_e4 == 0 and emp.tariff_version_id is None
    assert world.cdr(1, "customer").status == "rated"


async def test_a_time_of_day_tariff_splits_at_the_local_boundary(world: World) -> None:
    """0.30/kWh before 18:00 and 0.50 from 18:00 Berlin time: a session from
    17:00 to 19:00 local (winter, UTC+1) with energy flowing evenly costs
    10 kWh x 0.30 + 10 kWh x 0.50."""
    await add_tariff(
        world.tariffs,
        3,
        ocpi(
            "TOD",
            {
                "price_components": [component("ENERGY", "0.30")],
                "restrictions": {"start_time": "00:00", "end_time": "18:00"},
            },
            {
                "price_components": [component("ENERGY", "0.50")],
                "restrictions": {"start_time": "18:00", "end_time": "00:00"},
            },
        ),
        audience="emp",
        station=world.station_b,
    )
    start = datetime(2026, 1, 15, 16, tzinfo=UTC)  # 17:00 in Berlin
    world.queue.put(
        session(
            1, station_id=world.station_b, owner=3, started_at=start, minutes=120, energy_wh=20_000
        )
    )
    await world.rater.rate_all()
    cdr = world.cdr(1, "emp")
    assert cdr.total_net_e4 == 80_000  # 3.00 + 5.00
    found = detail(world, 1, "emp")
    starts = [p["start_date_time"] for p in found["charging_periods"]]
    assert starts == ["2026-01-15T16:00:00Z", "2026-01-15T17:00:00Z"]
    supplied = {(Decimal(s["price"]), Decimal(s["volume"])) for s in found["supplied"]}
    assert supplied == {(Decimal("0.30"), Decimal(10)), (Decimal("0.50"), Decimal(10))}


async def test_charging_and_parking_come_from_the_states(world: World) -> None:
    """Charging for an hour, then SuspendedEV for half an hour: 3600 s
    charging, 1800 s parking, the parking priced with PARKING_TIME."""
    await add_tariff(
        world.tariffs,
        3,
        ocpi(
            "PARK",
            {
                "price_components": [
                    component("ENERGY", "0.30"),
                    component("PARKING_TIME", "6.00"),
                ]
            },
        ),
        audience="emp",
        station=world.station_b,
    )
    start = OCTOBER_5
    states = (
        StateAt(at=start, state="Charging"),
        StateAt(at=start + timedelta(hours=1), state="SuspendedEV"),
    )
    world.queue.put(session(1, station_id=world.station_b, owner=3, minutes=90, states=states))
    await world.rater.rate_all()
    cdr = world.cdr(1, "emp")
    assert (cdr.charging_seconds, cdr.parking_seconds) == (3600, 1800)
    found = detail(world, 1, "emp")
    kinds = [[d["type"] for d in p["dimensions"]] for p in found["charging_periods"]]
    assert kinds == [["ENERGY", "TIME"], ["ENERGY", "PARKING_TIME"]]
    assert Decimal(str(found["total_parking_cost"]["excl_vat"])) == Decimal("3.00")
    assert cdr.total_net_e4 == 60_000  # 10 kWh x 0.30 + 0.5 h x 6.00


async def test_step_sizes_round_the_billed_volume_up(world: World) -> None:
    """ENERGY in steps of 1 kWh and TIME in steps of 15 min: 10.2 kWh in
    50 min are billed as 11 kWh and 1 h."""
    await add_tariff(
        world.tariffs,
        3,
        ocpi(
            "STEP",
            {
                "price_components": [
                    component("ENERGY", "0.30", step=1000),
                    component("TIME", "2.40", step=900),
                ]
            },
        ),
        audience="emp",
        station=world.station_b,
    )
    world.queue.put(session(1, station_id=world.station_b, owner=3, minutes=50, energy_wh=10_200))
    await world.rater.rate_all()
    found = detail(world, 1, "emp")
    billed = {s["dimension"]: (s["volume"], s["billed_volume"]) for s in found["supplied"]}
    assert billed["ENERGY"] == ("10.2000", "11.0000")
    assert Decimal(billed["TIME"][1]) == Decimal(1)
    assert world.cdr(1, "emp").total_net_e4 == 57_000  # 11 x 0.30 + 1 h x 2.40


async def test_one_failing_session_does_not_stop_the_batch(world: World) -> None:
    """A session whose pricing raises (its station's time zone is unknown)
    gets an error CDR saying rating failed; the batch's other sessions are
    rated and the queue is emptied."""
    world.queue.put(
        session(1, station_id=world.station_b, owner=3, time_zone="Nowhere/Atlantis"),
        session(2, station_id=world.station_b, owner=3),
    )
    assert await world.rater.rate_all() == 2
    failed = world.cdr(1, "emp")
    assert failed.status == "error" and failed.error.startswith("rating failed")
    assert world.cdr(2, "emp").status == "rated"
    assert await world.queue.pending() == 0


# -- signed meter values -------------------------------------------------------------------


def _der_hex(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        .hex()
    )


def _ocmf(key: ec.EllipticCurvePrivateKey, begin_kwh: float, end_kwh: float) -> str:
    payload = {
        "FV": "1.0",
        "GI": "ABL SBC-301",
        "GS": "808829900001",
        "GV": "1.4p3",
        "PG": "T1",
        "MV": "Phoenix Contact",
        "MM": "EEM-350-D-MCB",
        "MS": "BQ27400330016",
        "MF": "1.0.8",
        "IS": True,
        "IL": "VERIFIED",
        "IF": ["RFID_PLAIN"],
        "IT": "ISO14443",
        "ID": "1F2D3A4F5506C7",
        "RD": [
            {
                "TM": "2026-10-05T12:00:00,000+0200 S",
                "TX": "B",
                "RV": begin_kwh,
                "RI": "01-00:B8.08.00.FF",
                "RU": "kWh",
                "RT": "AC",
                "EF": "",
                "ST": "G",
            },
            {"TM": "2026-10-05T13:00:00,000+0200 S", "TX": "E", "RV": end_kwh, "ST": "G"},
        ],
    }
    text = json.dumps(payload, separators=(",", ":"))
    signature = key.sign(text.encode(), ec.ECDSA(hashes.SHA256()))
    sig = json.dumps({"SA": "ECDSA-secp256r1-SHA256", "SD": signature.hex()})
    return f"OCMF|{text}|{sig}"


async def test_signed_values_are_verified_with_the_station_key(world: World) -> None:
    """A signed OCMF record from a station whose meter key is known is
    verified and shown in the CDR detail with its readings; the same record
    without a key is unknown (None), a changed one fails (False). Energy
    still comes from the registers."""
    key = ec.generate_private_key(ec.SECP256R1())
    record = _ocmf(key, 1000.0, 1010.0)
    tampered = record.replace('"RV":1010.0', '"RV":1011.0')
    assert tampered != record

    def signed(text: str) -> MeterSample:
        return MeterSample(
            at=OCTOBER_5 + timedelta(hours=1),
            measurand="Energy.Active.Import.Register",
            value=text,
            context="Transaction.End",
            format="SignedData",
            signed_data=text,
        )

    key_hex = _der_hex(key)
    for session_id, text, station_key in (
        (1, record, key_hex),
        (2, record, ""),
        (3, tampered, key_hex),
    ):
        world.queue.put(
            session(
                session_id,
                station_id=world.station_b,
                owner=3,
                extra_samples=(signed(text),),
                meter_public_key=station_key,
            )
        )
    await world.rater.rate_all()
    verified, unknown, failed = (detail(world, i, "emp")["signed_meter_values"] for i in (1, 2, 3))
    assert [v["verified"] for v in verified] == [True]
    assert verified[0]["format"] == "OCMF"
    assert verified[0]["meter_serial"] == "BQ27400330016"
    readings = verified[0]["readings"]
    assert [Decimal(r["value"]) for r in readings] == [Decimal(1000), Decimal(1010)]
    assert readings[0]["at"] == "2026-10-05T10:00:00Z"  # 12:00+02:00
    assert verified[0]["context"] == "Transaction.End"
    assert unknown[0]["verified"] is None and "no public key" in unknown[0]["reason"]
    assert failed[0]["verified"] is False
    assert world.cdr(1, "emp").energy_wh == 10_000
    assert world.cdr(1, "emp").total_net_e4 == 30_000


def test_world_uses_berlin() -> None:
    """The sessions of these tests are at stations in Berlin."""
    assert session(1).time_zone == BERLIN
    assert EPOCH < OCTOBER_5


class _LoggedQueue:
    """The world's queue, logging reads and records in the order they happen;
    ``fail_read`` makes that read (counted from 1) raise."""

    def __init__(self, queue: Any, fail_read: int = 0) -> None:
        self._queue = queue
        self._fail_read = fail_read
        self.log: list[tuple[str, Any]] = []

    async def next_batch(self, limit: int, *, after: int = 0) -> list[CompletedSession]:
        reads = sum(1 for event, _ in self.log if event == "read") + 1
        self.log.append(("read", after))
        if reads == self._fail_read:
            raise RuntimeError("the database went away")
        found: list[CompletedSession] = await self._queue.next_batch(limit, after=after)
        return found

    async def record(self, cdrs: list[Any], taken: list[CompletedSession]) -> int:
        self.log.append(("record", sorted(s.id for s in taken)))
        done: int = await self._queue.record(cdrs, taken)
        return done

    async def pending(self) -> int:
        found: int = await self._queue.pending()
        return found


async def test_rate_all_reads_the_next_batch_while_one_is_priced(world: World) -> None:
    """Rating the queue is pipelined: the next batches are read (each after
    the last queue position of the one before) before the first is
    recorded, never more than IN_FLIGHT ahead of the records; batches are
    recorded whole and in queue order, each session once."""
    ids = [world.charge(world.station_a, OCTOBER_5 + timedelta(hours=n)) for n in range(9)]
    logged = _LoggedQueue(world.queue)
    rater = Rater(logged, world.directory, world.tariffs, batch_size=2)  # type: ignore[arg-type]
    assert await rater.rate_all() == 9
    records = [ids_ for event, ids_ in logged.log if event == "record"]
    assert records == [sorted(ids[n : n + 2]) for n in range(0, 9, 2)]
    events = [event for event, _ in logged.log]
    assert events[:2] == ["read", "read"]
    for index, event in enumerate(events):
        if event == "read":  # this read's batch waits for all but IN_FLIGHT to be recorded
            ahead = events[:index].count("read") - events[:index].count("record")
            assert ahead <= IN_FLIGHT
    afters = [after for event, after in logged.log if event == "read"]
    assert afters[0] == 0 and afters == sorted(afters) and len(set(afters)) == len(afters)
    assert await world.queue.pending() == 0
    assert all(set(world.cdrs.of_session(i)) == {"emp", "customer", "sub_cpo"} for i in ids)


async def test_a_failed_read_still_records_the_batch_being_priced(world: World) -> None:
    """When reading the next batch fails, the batch already being priced is
    recorded before the error surfaces; the rest stays queued for the next
    round, which rates it."""
    ids = [world.charge(world.station_a, OCTOBER_5 + timedelta(hours=n)) for n in range(4)]
    logged = _LoggedQueue(world.queue, fail_read=2)
    rater = Rater(logged, world.directory, world.tariffs, batch_size=2)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="went away"):
        await rater.rate_all()
    assert [ids_ for event, ids_ in logged.log if event == "record"] == [sorted(ids[0:2])]
    assert await world.queue.pending() == 2
    assert await Rater(world.queue, world.directory, world.tariffs).rate_all() == 2
    assert await world.queue.pending() == 0
