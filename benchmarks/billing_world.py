"""The generated world of the billing benchmark (``benchmarks/billing.py``).

Everything is written with bulk SQL (sqlite3 ``executemany``; asyncpg
``copy_records_to_table`` on PostgreSQL) into a freshly migrated database,
with explicit ids, so that generating a million sessions takes a minute or
two and none of it is counted as rating or billing.

The world:

- an entity tree: a root operator; station-owning CPOs (kind
  ``subsidiary``: a ``cpo`` with a parent is a sub-CPO to billing) with
  sub-CPOs (kind ``cpo``) below them; EMPs (kind ``emp``, may act as sub-EMP)
  with sub-EMPs below them, half of which may act as sub-EMP themselves
  (the others' customers are invoiced by their parent EMP); every entity
  with its master contact, in Europe/Berlin (DE) or Europe/Lisbon (PT);
- media issued by EMPs and sub-EMPs (skewed: a few EMPs issue most), 70%
  with a bill-to contact of their own (private customers);
- stations owned by the CPOs and sub-CPOs, in their owner's time zone (one
  in ten in the other one);
- tariffs of several shapes (energy, time, parking, flat fees, time-of-day
  and weekday restrictions, step sizes, min/max price) with two versions each
  (the second valid from the middle of the first month), assigned for
  ``emp`` by every station owner (plus a counterparty-specific one for the
  biggest EMP), for ``customer`` by every entity that may act as sub-EMP,
  and for ``sub_cpo`` by every CPO with sub-CPOs; every CPO counts one EMP
  as a community partner (its own media are not invoiced by station);
- completed sessions, chronological per station, over two months: 4-8
  energy-register samples every 15 minutes (``meter_value`` rows), 30% with
  a parking tail after charging, 80% OCPP 1.6 (half of them with
  connector states) and 20% OCPP 2.0.1 (with charging states), each with
  its ``rating_queue`` row (in completion order).

``World`` keeps what the consistency checks need: the CDRs each session
must get (one per audience that applies).
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

# The sessions' span: two months in every entity's time zone.
SPAN_START = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)
SPAN_END = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
PERIODS = ("2026-10", "2026-11")
SECOND_VERSION_FROM = datetime(2026, 10, 15, 0, 0, tzinfo=UTC)
ZONES = {"Europe/Berlin": ("DE", "19"), "Europe/Lisbon": ("PT", "23")}
SESSIONS_PER_STATION = 100
SESSIONS_PER_MEDIUM = 20
_CHUNK = 20_000

ENERGY_REGISTER = "Energy.Active.Import.Register"


@dataclass
class World:
    """What was generated, and what rating must produce from it."""

    entities: int = 0
    contacts: int = 0
    media: int = 0
    stations: int = 0
    tariffs: int = 0
    tariff_versions: int = 0
    assignments: int = 0
    sessions: int = 0
    meter_values: int = 0
    connector_states: int = 0
    charging_states: int = 0
    # CDRs rating must write, per audience; sessions no audience applies to
    # (a partner's medium without a bill-to contact at a CPO's own station).
    expected_cdrs: dict[str, int] = field(default_factory=dict)
    sessions_without_cdrs: int = 0
    # Sessions per protocol shape, for the report.
    shapes: dict[str, int] = field(default_factory=dict)

    @property
    def expected_cdr_total(self) -> int:
        return sum(self.expected_cdrs.values())


# -- tariffs -----------------------------------------------------------------------


def _component(kind: str, price: str, vat: str, step: int) -> dict[str, Any]:
    return {"type": kind, "price": float(price), "vat": float(vat), "step_size": step}


def tariff_ocpi(shape: int, code: str, vat: str, factor: float) -> dict[str, Any]:
    """One of six realistic OCPI 2.2.1 tariffs, prices times ``factor``."""

    def p(value: float) -> str:
        return f"{value * factor:.4f}"

    if shape == 0:  # energy by time of day, parking in 15-minute steps
        elements = [
            {
                "price_components": [_component("ENERGY", p(0.49), vat, 1)],
                "restrictions": {"start_time": "07:00", "end_time": "22:00"},
            },
            {"price_components": [_component("ENERGY", p(0.39), vat, 1)]},
            {"price_components": [_component("PARKING_TIME", p(6.00), vat, 900)]},
        ]
        extra: dict[str, Any] = {}
    elif shape == 1:  # session fee, energy, parking per minute
        elements = [
            {
                "price_components": [
                    _component("FLAT", p(1.00), vat, 1),
                    _component("ENERGY", p(0.45), vat, 100),
                    _component("PARKING_TIME", p(3.00), vat, 60),
                ]
            }
        ]
        extra = {}
    elif shape == 2:  # charging time plus energy, five-minute steps
        elements = [
            {
                "price_components": [
                    _component("TIME", p(1.20), vat, 300),
                    _component("ENERGY", p(0.30), vat, 1),
                ]
            }
        ]
        extra = {}
    elif shape == 3:  # weekday / weekend energy prices
        elements = [
            {
                "price_components": [_component("ENERGY", p(0.44), vat, 1)],
                "restrictions": {
                    "day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]
                },
            },
            {"price_components": [_component("ENERGY", p(0.36), vat, 1)]},
        ]
        extra = {}
    elif shape == 4:  # energy with a minimum and a maximum price
        elements = [
            {
                "price_components": [
                    _component("ENERGY", p(0.52), vat, 1),
                    _component("PARKING_TIME", p(2.40), vat, 300),
                ]
            }
        ]
        extra = {
            "min_price": {"excl_vat": float(p(2.00))},
            "max_price": {"excl_vat": float(p(25.0))},
        }
    else:  # night-time cheap energy, first 2 h charging time free, then per hour
        elements = [
            {
                "price_components": [_component("ENERGY", p(0.29), vat, 1)],
                "restrictions": {"start_time": "22:00", "end_time": "06:00"},
            },
            {"price_components": [_component("ENERGY", p(0.41), vat, 1)]},
            {
                "price_components": [_component("TIME", p(0.60), vat, 60)],
                "restrictions": {"min_duration": 7200},
            },
        ]
        extra = {}
    return {
        "country_code": "DE",
        "party_id": "BEN",
        "id": code,
        "currency": "EUR",
        "elements": elements,
        "last_updated": "2026-09-01T00:00:00Z",
        **extra,
    }


# -- writing ---------------------------------------------------------------------------


class Writer:
    """Bulk inserts with explicit ids: sqlite3 ``executemany`` or asyncpg COPY."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite://")
        self._sqlite: sqlite3.Connection | None = None
        self._pg: Any = None
        self._stamps: dict[datetime, str] = {}
        self.tables: set[str] = set()

    async def open(self) -> None:
        if self.sqlite:
            from csms.storage.database import sqlite_path

            self._sqlite = sqlite3.connect(sqlite_path(self.url), timeout=60)
            self._sqlite.execute("PRAGMA synchronous = OFF")
            self._sqlite.execute("PRAGMA cache_size = -262144")
            self._sqlite.execute("BEGIN")
        else:
            import asyncpg

            self._pg = await asyncpg.connect(self.url)

    def stamp(self, moment: datetime) -> Any:
        """A time as the product stores it (SQLite: piccolo's text)."""
        if not self.sqlite:
            return moment
        text = self._stamps.get(moment)
        if text is None:
            if len(self._stamps) > 200_000:
                self._stamps.clear()
            text = self._stamps[moment] = str(moment.astimezone(UTC))
        return text

    async def insert(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        self.tables.add(table)
        if self._sqlite is not None:
            names = ", ".join(f'"{c}"' for c in columns)
            marks = ", ".join("?" * len(columns))
            self._sqlite.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)
        else:
            await self._pg.copy_records_to_table(table, records=rows, columns=list(columns))

    async def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.execute("COMMIT")
            self._sqlite.execute("ANALYZE")
            self._sqlite.close()
            self._sqlite = None
        if self._pg is not None:
            for table in sorted(self.tables):
                await self._pg.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'),"
                    f' (SELECT max(id) FROM "{table}"))'
                )
                await self._pg.execute(f'ANALYZE "{table}"')
            await self._pg.close()
            self._pg = None


# -- the world ----------------------------------------------------------------------


@dataclass
class _Entity:
    id: int
    parent: int | None
    kind: str
    name: str
    zone: str
    may_act: bool = False


@dataclass
class _Medium:
    id: int
    uid: str
    issuer: int
    bill_to: int | None
    owner_contact: int | None


def _tree(count: int, rng: random.Random) -> tuple[list[_Entity], list[int], list[int]]:
    """The entities; the station owners and the issuing EMPs (ids)."""
    zones = list(ZONES)
    root = _Entity(1, None, "operator", "Operator", "Europe/Berlin")
    entities = [root]
    rest = max(count - 1, 4)
    cpos = max(2, rest * 35 // 100)
    emps = rest - cpos
    top_cpos = max(1, cpos // 6)
    top_emps = max(1, emps // 6)
    next_id = 2
    tops: list[_Entity] = []
    for n in range(top_cpos):
        zone = zones[0] if n % 4 else zones[1]
        tops.append(_Entity(next_id, 1, "subsidiary", f"CPO {n}", zone))
        next_id += 1
    subs = []
    for n in range(cpos - top_cpos):
        parent = tops[n % top_cpos]
        zone = parent.zone if rng.random() < 0.85 else zones[(zones.index(parent.zone) + 1) % 2]
        subs.append(_Entity(next_id, parent.id, "cpo", f"Sub-CPO {parent.name}.{n}", zone))
        next_id += 1
    top_e: list[_Entity] = []
    for n in range(top_emps):
        zone = zones[0] if n % 3 else zones[1]
        top_e.append(_Entity(next_id, 1, "emp", f"EMP {n}", zone, may_act=True))
        next_id += 1
    sub_e = []
    for n in range(emps - top_emps):
        parent = top_e[n % top_emps]
        sub_e.append(
            _Entity(
                next_id, parent.id, "emp", f"Sub-EMP {parent.name}.{n}", parent.zone, n % 2 == 0
            )
        )
        next_id += 1
    entities += tops + subs + top_e + sub_e
    owners = [e.id for e in tops + subs]
    issuers = [e.id for e in top_e + sub_e]
    return entities, owners, issuers


async def build(writer: Writer, *, sessions: int, entities: int, seed: int) -> World:
    """Generates the world into the database ``writer`` writes to."""
    rng = random.Random(seed)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    world = World()
    stamp = writer.stamp

    # Entities and their master contacts.
    tree, owner_ids, issuer_ids = _tree(entities, rng)
    by_id = {e.id: e for e in tree}
    await writer.insert(
        "entity",
        (
            "id",
            "parent",
            "name",
            "kind",
            "street",
            "postal_code",
            "city",
            "country",
            "vat_id",
            "email",
            "may_act_as_sub_emp",
            "time_zone",
            "created_at",
            "updated_at",
        ),
        [
            (
                e.id,
                e.parent,
                e.name,
                e.kind,
                f"Hauptstraße {e.id}",
                f"{10000 + e.id}",
                "Berlin" if e.zone == "Europe/Berlin" else "Lisboa",
                ZONES[e.zone][0],
                f"{ZONES[e.zone][0]}{100000000 + e.id}",
                f"billing{e.id}@example.com",
                e.may_act,
                e.zone,
                stamp(now),
                stamp(now),
            )
            for e in tree
        ],
    )
    contacts: list[tuple[Any, ...]] = []
    contact_columns = (
        "id",
        "owner_entity",
        "master_of_entity",
        "kind",
        "name",
        "company",
        "street",
        "postal_code",
        "city",
        "country",
        "email",
        "vat_id",
        "created_at",
        "updated_at",
    )
    for e in tree:
        contacts.append(
            (
                e.id,
                e.id,
                e.id,
                "company",
                e.name,
                e.name,
                f"Hauptstraße {e.id}",
                f"{10000 + e.id}",
                "Berlin",
                ZONES[e.zone][0],
                f"billing{e.id}@example.com",
                f"{ZONES[e.zone][0]}{100000000 + e.id}",
                stamp(now),
                stamp(now),
            )
        )
    world.entities = len(tree)

    # Media, skewed over the issuers; 70% with a private bill-to contact.
    media: list[_Medium] = []
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(issuer_ids))]
    count = max(50, sessions // SESSIONS_PER_MEDIUM)
    issuers = rng.choices(issuer_ids, weights=weights, k=count)
    next_contact = len(tree) + 1
    for n, issuer in enumerate(issuers):
        bill_to = None
        if rng.random() < 0.7:
            bill_to = next_contact
            zone = by_id[issuer].zone
            contacts.append(
                (
                    bill_to,
                    issuer,
                    None,
                    "person",
                    f"Customer {n}",
                    "",
                    f"Weg {n}",
                    f"{20000 + n % 70000}",
                    "Porto" if zone == "Europe/Lisbon" else "Hamburg",
                    ZONES[zone][0],
                    f"customer{n}@example.net",
                    "",
                    stamp(now),
                    stamp(now),
                )
            )
            next_contact += 1
        media.append(_Medium(n + 1, f"BENCH{n:08d}", issuer, bill_to, bill_to))
    for start in range(0, len(contacts), _CHUNK):
        await writer.insert("contact", contact_columns, contacts[start : start + _CHUNK])
    world.contacts = len(contacts)
    del contacts
    await writer.insert(
        "medium",
        (
            "id",
            "uid",
            "kind",
            "issuing_entity",
            "owner_contact",
            "bill_to_contact",
            "status",
            "created_at",
            "updated_at",
        ),
        [
            (
                m.id,
                m.uid,
                "rfid",
                m.issuer,
                m.owner_contact,
                m.bill_to,
                "active",
                stamp(now),
                stamp(now),
            )
            for m in media
        ],
    )
    world.media = len(media)

    # Stations of the CPOs and sub-CPOs.
    station_count = max(10, sessions // SESSIONS_PER_STATION)
    station_owner = [rng.choice(owner_ids) for _ in range(station_count)]
    station_zone = []
    for owner in station_owner:
        zone = by_id[owner].zone
        if rng.random() < 0.1:
            zone = "Europe/Lisbon" if zone == "Europe/Berlin" else "Europe/Berlin"
        station_zone.append(zone)
    await writer.insert(
        "station",
        (
            "id",
            "charge_point_id",
            "owner_entity",
            "time_zone",
            "vendor",
            "model",
            "city",
            "country",
            "created_at",
            "updated_at",
        ),
        [
            (
                n + 1,
                f"BENCH-CP-{n:06d}",
                owner,
                zone,
                "Bench",
                "AC22",
                "Berlin" if zone == "Europe/Berlin" else "Lisboa",
                ZONES[zone][0],
                stamp(now),
                stamp(now),
            )
            for n, (owner, zone) in enumerate(zip(station_owner, station_zone, strict=True))
        ],
    )
    world.stations = station_count

    # Tariffs, versions, assignments, community partners.
    tariffs: list[tuple[Any, ...]] = []
    versions: list[tuple[Any, ...]] = []
    assignments: list[tuple[Any, ...]] = []
    first_from = datetime(2026, 1, 1, tzinfo=UTC)

    def add_tariff(owner: _Entity, code: str) -> int:
        tariff_id = len(tariffs) + 1
        shape = rng.randrange(6)
        vat = ZONES[owner.zone][1]
        tariffs.append(
            (tariff_id, owner.id, code, f"{code} of {owner.name}", "EUR", stamp(now), stamp(now))
        )
        for n, (valid_from, factor) in enumerate(((first_from, 1.0), (SECOND_VERSION_FROM, 1.05))):
            ocpi = msgspec.json.encode(tariff_ocpi(shape, code, vat, factor)).decode()
            versions.append((len(versions) + 1, tariff_id, stamp(valid_from), ocpi, stamp(now)))
            del n
        return tariff_id

    def assign(
        owner: int, tariff_id: int, audience: str, counterparty: int | None, priority: int = 0
    ) -> None:
        assignments.append(
            (len(assignments) + 1, owner, tariff_id, audience, counterparty, priority, stamp(now))
        )

    biggest_emp = issuer_ids[0]
    for owner_id in owner_ids:
        seller = by_id[owner_id]
        assign(owner_id, add_tariff(seller, f"ROAM-{owner_id}"), "emp", None)
        if seller.kind == "subsidiary":
            assign(owner_id, add_tariff(seller, f"ROAM-KEY-{owner_id}"), "emp", biggest_emp, 10)
    parents_of_sub_cpos = sorted(
        {parent for o in owner_ids if by_id[o].kind == "cpo" and (parent := by_id[o].parent)}
    )
    for parent_id in parents_of_sub_cpos:
        assign(parent_id, add_tariff(by_id[parent_id], f"SUBCPO-{parent_id}"), "sub_cpo", None)
    for issuer_id in issuer_ids:
        if by_id[issuer_id].may_act:
            assign(issuer_id, add_tariff(by_id[issuer_id], f"ADHOC-{issuer_id}"), "customer", None)
    await writer.insert(
        "tariff",
        ("id", "owner_entity", "code", "name", "currency", "created_at", "updated_at"),
        tariffs,
    )
    await writer.insert(
        "tariff_version", ("id", "tariff", "valid_from", "ocpi", "created_at"), versions
    )
    await writer.insert(
        "tariff_assignment",
        (
            "id",
            "owner_entity",
            "tariff",
            "audience",
            "counterparty_entity",
            "priority",
            "created_at",
        ),
        assignments,
    )
    top_emps = [i for i in issuer_ids if by_id[i].parent == 1]
    partners: dict[int, int] = {}
    for owner_id in owner_ids:
        if by_id[owner_id].kind == "subsidiary" and len(top_emps) > 1:
            partners[owner_id] = rng.choice(top_emps[1:])
    await writer.insert(
        "community_partner",
        ("id", "entity", "partner_entity", "created_at"),
        [(n + 1, e, p, stamp(now)) for n, (e, p) in enumerate(sorted(partners.items()))],
    )
    world.tariffs, world.tariff_versions = len(tariffs), len(versions)
    world.assignments = len(assignments)

    # The audiences each (station owner, medium) pair gets.
    def audiences(owner_id: int, medium: _Medium) -> list[str]:
        found = []
        if partners.get(owner_id) != medium.issuer:
            found.append("emp")
        if medium.bill_to is not None:
            found.append("customer")
        if by_id[owner_id].kind == "cpo":
            found.append("sub_cpo")
        return found

    # Sessions: per station, one per slot of the span, chronological.
    per_station = [0] * station_count
    for station in rng.choices(range(station_count), k=sessions):
        per_station[station] += 1
    span = int((SPAN_END - SPAN_START).total_seconds())
    plans: list[tuple[int, int, int, int]] = []  # (start, station, connector, seed)
    for station, count in enumerate(per_station):
        if not count:
            continue
        slot = span // count
        for n in range(count):
            # Leave room for the longest session (about 5.3 h) in the slot.
            room = max(1, slot - 19_500)
            begin = n * slot + rng.randrange(room)
            plans.append((begin, station, 1 + (n % 2), rng.getrandbits(32)))
    plans.sort()
    world.sessions = len(plans)
    queue: list[tuple[int, int]] = []  # (stop offset, session id)
    expected: dict[str, int] = {}
    shapes: dict[str, int] = {}
    for start in range(0, len(plans), _CHUNK):
        session_rows, meter_rows, status_rows, state_rows = [], [], [], []
        for offset, (begin, station, connector, local_seed) in enumerate(
            plans[start : start + _CHUNK]
        ):
            session_id = start + offset + 1
            r = random.Random(local_seed)
            medium = media[r.randrange(len(media))]
            owner_id = station_owner[station]
            applied = audiences(owner_id, medium)
            for audience in applied:
                expected[audience] = expected.get(audience, 0) + 1
            if not applied:
                world.sessions_without_cdrs += 1
            samples = r.randint(4, 8)
            power_w = r.choice((3_700, 7_400, 11_000, 11_000, 22_000))
            started = SPAN_START + timedelta(seconds=begin)
            charging_end = started + timedelta(seconds=900 * samples + r.randint(60, 840))
            parking = r.randint(600, 10_800) if r.random() < 0.3 else 0
            stopped = charging_end + timedelta(seconds=parking)
            meter_start = r.randint(0, 5_000_000)
            register = meter_start
            for k in range(1, samples + 1):
                register += int(power_w / 4 * r.uniform(0.9, 1.0))
                meter_rows.append(
                    (
                        station + 1,
                        connector,
                        session_id,
                        stamp(started + timedelta(seconds=900 * k)),
                        str(register),
                        ENERGY_REGISTER,
                        "Wh",
                        "Sample.Periodic",
                        "Outlet",
                        stamp(started + timedelta(seconds=900 * k + 2)),
                    )
                )
            tail = (charging_end - started).total_seconds() - 900 * samples
            register += int(power_w * tail / 3600 * 0.95)
            protocol = "2.0.1" if r.random() < 0.2 else "1.6"
            if protocol == "2.0.1":
                shape = "2.0.1 with charging states"
                changes = [(started, "EVConnected"), (started + timedelta(seconds=20), "Charging")]
                if parking:
                    changes.append((charging_end, "SuspendedEV"))
                for seq, (at, state) in enumerate(changes):
                    state_rows.append(
                        (session_id, station + 1, connector, state, stamp(at), seq, stamp(at))
                    )
            elif r.random() < 0.5:
                shape = "1.6 with connector states"
                changes = [
                    (started - timedelta(seconds=40), "Preparing"),
                    (started + timedelta(seconds=5), "Charging"),
                ]
                if parking:
                    changes.append((charging_end, "SuspendedEV"))
                changes += [(stopped, "Finishing"), (stopped + timedelta(seconds=90), "Available")]
                for at, status in changes:
                    status_rows.append((station + 1, connector, status, stamp(at), stamp(at)))
            else:
                shape = "1.6 without connector states"
            shapes[shape] = shapes.get(shape, 0) + 1
            session_rows.append(
                (
                    session_id,
                    station + 1,
                    connector,
                    medium.uid,
                    "Accepted",
                    stamp(started),
                    meter_start,
                    stamp(stopped),
                    register,
                    "Local",
                    "completed",
                    f"tx-{session_id}",
                    medium.id,
                    medium.issuer,
                    medium.bill_to,
                    medium.owner_contact,
                    stamp(started),
                    stamp(stopped),
                )
            )
            queue.append((begin + int((stopped - started).total_seconds()), session_id))
        await writer.insert(
            "charging_session",
            (
                "id",
                "station",
                "connector_id",
                "id_tag",
                "start_auth_status",
                "started_at",
                "meter_start_wh",
                "stopped_at",
                "meter_stop_wh",
                "stop_reason",
                "status",
                "charger_transaction_id",
                "medium_id",
                "issuing_entity_id",
                "bill_to_contact_id",
                "owner_contact_id",
                "created_at",
                "updated_at",
            ),
            session_rows,
        )
        await writer.insert(
            "meter_value",
            (
                "station",
                "connector_id",
                "session",
                "sampled_at",
                "value",
                "measurand",
                "unit",
                "context",
                "location",
                "received_at",
            ),
            meter_rows,
        )
        await writer.insert(
            "connector_status_change",
            ("station", "connector_id", "status", "reported_at", "received_at"),
            status_rows,
        )
        await writer.insert(
            "session_state_change",
            (
                "session",
                "station",
                "connector_id",
                "charging_state",
                "changed_at",
                "seq_no",
                "received_at",
            ),
            state_rows,
        )
        world.meter_values += len(meter_rows)
        world.connector_states += len(status_rows)
        world.charging_states += len(state_rows)
    queue.sort()
    for start in range(0, len(queue), _CHUNK * 5):
        await writer.insert(
            "rating_queue",
            ("id", "session", "completed_at", "enqueued_at"),
            [
                (
                    start + n + 1,
                    session_id,
                    stamp(SPAN_START + timedelta(seconds=stop)),
                    stamp(SPAN_START + timedelta(seconds=stop + 1)),
                )
                for n, (stop, session_id) in enumerate(queue[start : start + _CHUNK * 5])
            ],
        )
    world.expected_cdrs = dict(sorted(expected.items()))
    world.shapes = dict(sorted(shapes.items()))
    return world
