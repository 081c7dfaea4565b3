"""Operators' API: what a request costs, and the part its login takes.

    python -m benchmarks.api_requests [--entities 1000] [--stations 2000] [--requests 2000]

Builds a fresh database (a SQLite file in a temporary directory, or a new
database on the PostgreSQL server ``--database-url`` names, dropped
after): an entity tree (a root and ``--entities`` below it),
``--stations`` stations spread over them, and a user of the root working in five entities
through two groups (one allowed everything in its subtree, one reading
stations in its own entity, with a hidden field). Then it measures, in one
process and one event loop:

- **principal**: ``AuthService.principal``, what every request does first
  (its login, the user's entities and groups, the entity tree);
- **requests**: GETs through the whole web app (middleware, login, scoping,
  JSON), in process over ASGI (no sockets), for a few endpoints in turn;
  requests per second and latency per request.

Bounded in count: about half a minute with the defaults on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from benchmarks.scratch_database import scratch_database


async def _build(entities: int, stations: int) -> dict[str, Any]:
    from crm.services.auth import token_hash
    from crm.tables import Entity, Group, GroupMember, LoginSession, Membership, User
    from csms.storage.database import current_engine, write_transaction
    from csms.tables import Station

    now = datetime.now(UTC)
    engine = current_engine()
    async with write_transaction(engine):
        (root,) = (
            await Entity.insert(
                Entity(name="Root", kind="operator", created_at=now, updated_at=now)
            )
            .returning(Entity.id)
            .run()
        )
        root_id = int(root["id"])
        rows = (
            await Entity.insert(
                *(
                    Entity(
                        name=f"Entity {i}",
                        kind="cpo",
                        parent=root_id,
                        created_at=now,
                        updated_at=now,
                    )
                    for i in range(entities)
                )
            )
            .returning(Entity.id)
            .run()
        )
        entity_ids = [root_id] + [int(r["id"]) for r in rows]
        await Station.insert(
            *(
                Station(
                    charge_point_id=f"CP-{i:06d}",
                    owner_entity=entity_ids[i % len(entity_ids)],
                    registration_status="Accepted",
                    created_at=now,
                    updated_at=now,
                )
                for i in range(stations)
            )
        ).run()
        groups = []
        for scope, permissions, hidden in (
            ("subtree", ["*"], []),
            ("own", ["stations.read"], ["email"]),
        ):
            (group,) = (
                await Group.insert(
                    Group(
                        owner_entity=root_id,
                        name=f"group-{scope}",
                        scope=scope,
                        permissions=permissions,
                        hidden_fields=hidden,
                        created_at=now,
                        updated_at=now,
                    )
                )
                .returning(Group.id)
                .run()
            )
            groups.append(int(group["id"]))
        (user,) = (
            await User.insert(
                User(
                    email="bench@example.com",
                    name="Bench",
                    password_hash="",
                    default_entity=root_id,
                    created_at=now,
                    updated_at=now,
                )
            )
            .returning(User.id)
            .run()
        )
        user_id = int(user["id"])
        await Membership.insert(
            *(Membership(user=user_id, entity=e, created_at=now) for e in entity_ids[:5])
        ).run()
        await GroupMember.insert(
            *(GroupMember(group=g, user=user_id, created_at=now) for g in groups)
        ).run()
        token = secrets.token_urlsafe(24)
        await LoginSession.insert(
            LoginSession(
                token_hash=token_hash(token),
                user=user_id,
                active_entity=root_id,
                kind="api",
                created_at=now,
                expires_at=now + timedelta(hours=2),
            )
        ).run()
    return {"token": token, "root": root_id, "entity": entity_ids[1]}


def _percentile(samples: Sequence[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from admin_ui.api.context import ApiContext
    from admin_ui.app import create_app
    from crm.services.auth import AuthService
    from csms.storage.database import close_database, open_database
    from csms.storage.migrate import migrate

    report: dict[str, Any] = {}
    await migrate()
    await open_database()
    try:
        began = time.perf_counter()
        world = await _build(args.entities, args.stations)
        report["build_seconds"] = time.perf_counter() - began

        auth = AuthService()
        for _ in range(50):  # warm-up
            await auth.principal(world["token"])
        spent = []
        for _ in range(args.principals):
            t = time.perf_counter_ns()
            await auth.principal(world["token"])
            spent.append(time.perf_counter_ns() - t)
        report["principal_us"] = {
            "p50": _percentile(spent, 0.5) / 1000,
            "p99": _percentile(spent, 0.99) / 1000,
            "mean": statistics.fmean(spent) / 1000,
        }

        async def ready() -> dict[str, str]:
            return {"database": "ok"}

        app = create_app(readiness=ready, metrics=lambda: b"", api=ApiContext())
        paths = [
            "/api/v1/auth/me",
            "/api/v1/entities?limit=50",
            f"/api/v1/entities/{world['entity']}",
            "/api/v1/stations?limit=50",
            "/api/v1/stations/1",
        ]
        headers = {"Authorization": f"Bearer {world['token']}"}
        transport = httpx.ASGITransport(app=cast(Any, app))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for path in paths:
                answer = await client.get(path, headers=headers)
                if answer.status_code != 200:
                    raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:200]}")
            per_path: dict[str, list[float]] = {path: [] for path in paths}
            cpu = time.process_time()
            began = time.perf_counter()
            for i in range(args.requests):
                path = paths[i % len(paths)]
                t = time.perf_counter_ns()
                answer = await client.get(path, headers=headers)
                per_path[path].append(time.perf_counter_ns() - t)
                if answer.status_code != 200:
                    raise RuntimeError(f"{path}: {answer.status_code}")
            wall = time.perf_counter() - began
            report["requests"] = {
                "count": args.requests,
                "per_second": args.requests / wall,
                "cpu_ms_per_request": (time.process_time() - cpu) * 1000 / args.requests,
                "paths": {
                    path: {
                        "p50_ms": _percentile(s, 0.5) / 1e6,
                        "p99_ms": _percentile(s, 0.99) / 1e6,
                    }
                    for path, s in per_path.items()
                },
            }
    finally:
        await close_database()
    return report


def _print(report: dict[str, Any], database: str, args: argparse.Namespace) -> None:
    print(
        f"operators' API on {database}, {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} cores: {args.entities:,} entities, "
        f"{args.stations:,} stations (world built in {report['build_seconds']:.1f} s)"
    )
    p = report["principal_us"]
    print(
        f"principal (login, entities, groups, tree): p50 {p['p50']:,.0f} us  "
        f"p99 {p['p99']:,.0f} us  mean {p['mean']:,.0f} us"
    )
    r = report["requests"]
    print(
        f"requests: {r['per_second']:,.0f}/s in one loop, "
        f"{r['cpu_ms_per_request']:.2f} ms of CPU each ({r['count']:,} GETs)"
    )
    for path, figures in r["paths"].items():
        print(f"  {path:<28} p50 {figures['p50_ms']:6.2f} ms  p99 {figures['p99_ms']:6.2f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api_requests")
    parser.add_argument("--entities", type=int, default=1_000)
    parser.add_argument("--stations", type=int, default=2_000)
    parser.add_argument("--principals", type=int, default=2_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument(
        "--database-url", default="", help="a postgresql:// server URL (default: SQLite)"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("CSMS_LOG_LEVEL", "WARNING")
    with scratch_database(args.database_url, "csms_bench_api") as database:
        # The engine is built from the environment when piccolo first loads.
        os.environ["CSMS_DATABASE_URL"] = database
        began = time.perf_counter()
        report = asyncio.run(run(args))
    _print(report, "PostgreSQL" if args.database_url else "SQLite", args)
    print(f"(benchmark took {time.perf_counter() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
