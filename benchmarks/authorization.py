"""Authorisation decisions per second, from a cold and from a warm cache.

    python -m benchmarks.authorization [--media 100000] [--stations 1000]

Builds a fresh database (a SQLite file in a temporary directory, or a new
database on the PostgreSQL server ``CSMS_DATABASE_URL`` names, dropped
after) with an entity tree, N media and M stations with a realistic mix of
access rules, then measures :class:`csms.domain.authorization.Authorizer`:

- **cold, one at a time**: a new cache; every decision is for a medium not
  yet loaded (one query), at a station perhaps not yet loaded (two more);
  latency per decision;
- **cold, concurrent**: every medium loaded once by many concurrent
  decisions (as after a restart, when chargers ask at once); this also
  fills the cache for the warm run;
- **warm**: decisions for random (medium, station) pairs, all from memory,
  without the ConcurrentTx check; throughput in one loop and latency per
  decision;
- **warm with ConcurrentTx**: the full Authorize path, whose open-session
  check is a query for every accepted medium.

Bounded in time (about a minute with the defaults on SQLite).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.measure import machine_description

# Rule mix per station, by station number modulo 10 (see _station_rules).
RULE_MIX = (
    "40% public (no rules); 20% owner_entity; 10% owner_subtree; "
    "10% owner_subtree + issuing_entity partner + media_group; "
    "10% owner_subtree + deny 3 media; "
    "10% in a station group (allow issuing_subtree, deny media_group) + allow one medium"
)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _us(ns: float) -> str:
    return f"{ns / 1000:.1f} µs"


class World:
    def __init__(self) -> None:
        self.entities: list[int] = []
        self.uids: list[str] = []
        self.station_pks: list[int] = []


async def _build(media: int, stations: int, rng: random.Random) -> World:
    """The entity tree, media, stations, groups and rules, in bulk."""
    from crm.tables import Entity, Medium
    from csms.storage.database import write_transaction
    from csms.tables import AccessRule, Station, StationGroup

    now = datetime.now(UTC)
    world = World()
    # An operator, 10 subsidiaries, 5 site companies each, 5 roaming partners.
    (root,) = (
        await Entity.insert(Entity(name="Operator", created_at=now, updated_at=now))
        .returning(Entity.id)
        .run()
    )
    world.entities.append(root["id"])
    subsidiaries = []
    for n in range(10):
        (row,) = (
            await Entity.insert(
                Entity(name=f"Sub {n}", parent=root["id"], created_at=now, updated_at=now)
            )
            .returning(Entity.id)
            .run()
        )
        subsidiaries.append(row["id"])
        world.entities.append(row["id"])
        for m in range(5):
            (site,) = (
                await Entity.insert(
                    Entity(name=f"Site {n}.{m}", parent=row["id"], created_at=now, updated_at=now)
                )
                .returning(Entity.id)
                .run()
            )
            world.entities.append(site["id"])
    partners = []
    for n in range(5):
        (row,) = (
            await Entity.insert(Entity(name=f"Partner {n}", created_at=now, updated_at=now))
            .returning(Entity.id)
            .run()
        )
        partners.append(row["id"])
        world.entities.append(row["id"])

    groups = [f"FLEET-{n}" for n in range(50)]
    rows = []
    for n in range(media):
        uid = f"{n:08X}{rng.getrandbits(32):08X}"
        world.uids.append(uid)
        roll = rng.random()
        status = "blocked" if roll < 0.02 else "expired" if roll < 0.03 else "active"
        until = now + timedelta(days=365) if 0.03 <= roll < 0.05 else None
        since = now + timedelta(days=30) if 0.05 <= roll < 0.06 else None
        rows.append(
            Medium(
                uid=uid,
                issuing_entity=rng.choice(world.entities),
                status=status,
                valid_from=since,
                valid_until=until,
                group_uid=rng.choice(groups) if rng.random() < 0.1 else "",
                created_at=now,
                updated_at=now,
            )
        )
    async with write_transaction():
        for start in range(0, len(rows), 1000):
            await Medium.insert(*rows[start : start + 1000]).run()

    station_groups = []
    for n, owner in enumerate(subsidiaries):
        (row,) = (
            await StationGroup.insert(
                StationGroup(owner_entity=owner, name=f"Depot {n}", created_at=now, updated_at=now)
            )
            .returning(StationGroup.id)
            .run()
        )
        station_groups.append(row["id"])
        await AccessRule.insert(
            AccessRule(
                station_group=row["id"],
                subject="issuing_subtree",
                value=str(root["id"]),
                created_at=now,
            ),
            AccessRule(
                station_group=row["id"],
                effect="deny",
                subject="media_group",
                value=groups[n],
                created_at=now,
            ),
        ).run()

    station_rows = []
    owners = [e for e in world.entities if e not in partners]
    for n in range(stations):
        kind = n % 10
        station_rows.append(
            Station(
                charge_point_id=f"CP-{n:06d}",
                owner_entity=rng.choice(owners),
                station_group=rng.choice(station_groups) if kind == 9 else None,
                created_at=now,
                updated_at=now,
            )
        )
    async with write_transaction():
        for start in range(0, len(station_rows), 500):
            await Station.insert(*station_rows[start : start + 500]).run()
    pks = [r["id"] for r in await Station.select(Station.id).order_by(Station.id).run()]
    world.station_pks = pks

    rules = []
    for n, pk in enumerate(pks):
        for effect, subject, value in _station_rules(n % 10, rng, world.uids, partners, groups):
            rules.append(
                AccessRule(station=pk, effect=effect, subject=subject, value=value, created_at=now)
            )
    async with write_transaction():
        for start in range(0, len(rules), 500):
            await AccessRule.insert(*rules[start : start + 500]).run()
    return world


def _station_rules(
    kind: int, rng: random.Random, uids: list[str], partners: list[int], groups: list[str]
) -> list[tuple[str, str, str]]:
    if kind <= 3:
        return []
    if kind <= 5:
        return [("allow", "owner_entity", "")]
    if kind == 6:
        return [("allow", "owner_subtree", "")]
    if kind == 7:
        return [
            ("allow", "owner_subtree", ""),
            ("allow", "issuing_entity", str(rng.choice(partners))),
            ("allow", "media_group", rng.choice(groups)),
        ]
    if kind == 8:
        return [("allow", "owner_subtree", "")] + [
            ("deny", "medium", rng.choice(uids)) for _ in range(3)
        ]
    return [("allow", "medium", rng.choice(uids))]


class _NoSessions:
    async def active_elsewhere(
        self, id_tag: str, *, station_pk: int, connector_id: int | None
    ) -> bool:
        return False


def _authorizer(sessions: Any | None = None) -> Any:
    from crm.storage.media import PiccoloMediaLookup
    from csms.domain.authorization import Authorizer
    from csms.storage.access import PiccoloStationAccessSource

    return Authorizer(PiccoloMediaLookup(), sessions or _NoSessions(), PiccoloStationAccessSource())


async def _timed(decide: Callable[[], Awaitable[Any]], count: int) -> list[float]:
    """Nanoseconds per decision, one after the other."""
    clock = time.perf_counter_ns
    spent: list[float] = []
    for _ in range(count):
        began = clock()
        await decide()
        spent.append(clock() - began)
    return spent


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from csms.storage.database import close_database, current_engine, open_database
    from csms.storage.migrate import migrate
    from csms.storage.sessions import PiccoloActiveSessions

    rng = random.Random(args.seed)
    report: dict[str, Any] = {}
    engine = current_engine()
    await open_database(engine)
    try:
        await migrate()
        began = time.perf_counter()
        world = await _build(args.media, args.stations, rng)
        report["build_seconds"] = time.perf_counter() - began
        stations = world.station_pks
        statuses: dict[str, int] = {}

        # Cold, one at a time: distinct media, each loaded from the database.
        authorizer = _authorizer()
        cold_uids = rng.sample(world.uids, min(args.cold, len(world.uids)))
        picks = iter(cold_uids)

        async def cold_one() -> None:
            await authorizer.authorize(
                next(picks), station_pk=rng.choice(stations), check_concurrency=False
            )

        spent = await _timed(cold_one, len(cold_uids))
        report["cold_sequential"] = {
            "decisions": len(spent),
            "per_second": len(spent) / (sum(spent) / 1e9),
            "p50_ns": statistics.median(spent),
            "p99_ns": _percentile(spent, 0.99),
            "loads": authorizer.loads,
        }

        # Cold, concurrent: a fresh cache, every medium once, many at a time.
        authorizer = _authorizer()
        queue = list(world.uids)
        rng.shuffle(queue)
        position = 0

        async def worker() -> None:
            nonlocal position
            while position < len(queue):
                uid = queue[position]
                position += 1
                await authorizer.authorize(
                    uid, station_pk=rng.choice(stations), check_concurrency=False
                )

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        seconds = time.perf_counter() - began
        report["cold_concurrent"] = {
            "decisions": len(queue),
            "concurrency": args.concurrency,
            "per_second": len(queue) / seconds,
            "loads": authorizer.loads,
        }

        # Warm: every medium and station in memory; 2% of asks are unknown uids.
        unknown = [f"UNKNOWN-{n}" for n in range(max(1, len(world.uids) // 50))]
        for uid in unknown:
            await authorizer.authorize(uid, station_pk=stations[0], check_concurrency=False)
        pool = world.uids + unknown
        pairs = [(rng.choice(pool), rng.choice(stations)) for _ in range(args.warm)]
        loads_before = dict(authorizer.loads)
        authorize = authorizer.authorize
        began = time.perf_counter()
        for uid, pk in pairs:
            token = await authorize(uid, station_pk=pk, check_concurrency=False)
        seconds = time.perf_counter() - began
        for uid, pk in pairs[:100_000]:
            token = await authorize(uid, station_pk=pk, check_concurrency=False)
            statuses[token.status.value] = statuses.get(token.status.value, 0) + 1
        timed_pairs = iter(pairs[: args.warm_timed])

        async def warm_one() -> None:
            uid, pk = next(timed_pairs)
            await authorize(uid, station_pk=pk, check_concurrency=False)

        spent = await _timed(warm_one, min(args.warm_timed, len(pairs)))
        report["warm"] = {
            "decisions": len(pairs),
            "per_second": len(pairs) / seconds,
            "p50_ns": statistics.median(spent),
            "p99_ns": _percentile(spent, 0.99),
            "loads_during_run": {
                kind: authorizer.loads[kind] - loads_before[kind] for kind in loads_before
            },
            "verdicts_of_100k": dict(sorted(statuses.items())),
        }

        # Warm with the ConcurrentTx check (a query per accepted medium).
        full = _authorizer(PiccoloActiveSessions())
        for uid, pk in pairs[: args.full]:
            await full.authorize(uid, station_pk=pk, check_concurrency=False)
        full_pairs = iter(pairs[: args.full])

        async def full_one() -> None:
            uid, pk = next(full_pairs)
            await full.authorize(uid, station_pk=pk, connector_id=1)

        spent = await _timed(full_one, min(args.full, len(pairs)))
        report["warm_with_concurrent_tx_check"] = {
            "decisions": len(spent),
            "per_second": len(spent) / (sum(spent) / 1e9),
            "p50_ns": statistics.median(spent),
            "p99_ns": _percentile(spent, 0.99),
        }
    finally:
        await close_database(engine)
    return report


def _print(report: dict[str, Any], database: str, args: argparse.Namespace) -> None:
    machine = machine_description()
    print(
        f"machine: {machine['cpu_model']}, {machine['cores']} cores, "
        f"{machine['memory_gib']} GiB; Python {platform.python_version()}; {database}"
    )
    print(
        f"world: {args.media:,} media, {args.stations:,} stations, 61 entities; "
        f"built in {report['build_seconds']:.1f} s"
    )
    print(f"rules: {RULE_MIX}")
    cold = report["cold_sequential"]
    print(
        f"cold, one at a time:  {cold['per_second']:>11,.0f} decisions/s  "
        f"p50 {_us(cold['p50_ns'])}  p99 {_us(cold['p99_ns'])}  "
        f"({cold['decisions']:,} decisions, loads {cold['loads']})"
    )
    concurrent = report["cold_concurrent"]
    print(
        f"cold, {concurrent['concurrency']} concurrent: {concurrent['per_second']:>11,.0f} "
        f"decisions/s  ({concurrent['decisions']:,} decisions, loads {concurrent['loads']})"
    )
    warm = report["warm"]
    print(
        f"warm:                 {warm['per_second']:>11,.0f} decisions/s  "
        f"p50 {_us(warm['p50_ns'])}  p99 {_us(warm['p99_ns'])}  "
        f"({warm['decisions']:,} decisions, loads during the run {warm['loads_during_run']})"
    )
    print(f"  verdicts of the first 100,000: {warm['verdicts_of_100k']}")
    full = report["warm_with_concurrent_tx_check"]
    print(
        f"warm + ConcurrentTx:  {full['per_second']:>11,.0f} decisions/s  "
        f"p50 {_us(full['p50_ns'])}  p99 {_us(full['p99_ns'])}  "
        f"({full['decisions']:,} decisions; the open-session check is a query)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.authorization")
    parser.add_argument("--media", type=int, default=100_000)
    parser.add_argument("--stations", type=int, default=1_000)
    parser.add_argument("--cold", type=int, default=5_000, help="cold decisions, one at a time")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--warm", type=int, default=1_000_000, help="warm decisions")
    parser.add_argument("--warm-timed", type=int, default=200_000)
    parser.add_argument("--full", type=int, default=5_000, help="decisions with ConcurrentTx")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    from benchmarks.gateway import CsmsDatabase

    base = os.environ.get("CSMS_DATABASE_URL", "")
    workdir = Path(tempfile.mkdtemp(prefix="csms-bench-auth-"))
    database = CsmsDatabase(base if base.startswith("postgres") else "", workdir)
    asyncio.run(database.create())
    # The engine is built from the environment when piccolo first loads.
    os.environ["CSMS_DATABASE_URL"] = database.url
    try:
        began = time.perf_counter()
        report = asyncio.run(run(args))
        kind = "PostgreSQL" if database.pg_name else "SQLite"
        _print(report, kind, args)
        print(f"(benchmark took {time.perf_counter() - began:.0f} s)")
    finally:
        asyncio.run(database.drop())
    return 0


if __name__ == "__main__":
    sys.exit(main())
