"""Rating and billing throughput: ``python -m benchmarks.billing``.

    python -m benchmarks.billing [--sessions 1000000] [--entities 1000]
        [--steps 100000,1000000] [--database-url URL] [--batch-size 1000]
        [--seed 7] [--json out.json] [--profile PREFIX]

Generates a world (``benchmarks/billing_world.py``: an entity tree, media,
stations, tariffs with versions and assignments, completed sessions with
meter values and states, each queued for rating) into a fresh database (a
SQLite file in a temporary directory, or a new database on the PostgreSQL
server ``--database-url`` names, dropped after), migrated as the product
migrates it. Generation is timed apart and not counted.

Then, step by step (by default at 100,000 and at 1,000,000 sessions):

- **rating**: ``Rater.rate_all`` over the ``rating_queue`` until that many
  sessions are rated (the product's ``SqlRatingQueue``, ``SqlDirectory`` and
  ``PiccoloTariffLookup``); sessions/s of the segment and cumulative;
- **billing**: ``BillingRuns.run_every(..., preview=False)`` (every entity
  with unbilled CDRs, as ``csms billing run --all``) for every month the
  rated sessions started in (the product's
  ``SqlBillingStore``); CDRs billed, documents issued, sessions/s.

At the end it checks that nothing was lost or duplicated: the CDRs are one
per session and audience that applies (computed from the generated world,
independently of the rater), none in error, the queue is empty, every rated
CDR is billed exactly once (on one document, and in exactly one issued
draft), and document numbers are gapless per (issuer, kind). The exit status
is 1 when a check fails.

The load is bounded: it touches only the database it created, and its size
is given by ``--sessions``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import platform
import pstats
import re
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from benchmarks.billing_world import PERIODS, World, Writer, build
from benchmarks.measure import machine_description


def _steps(text: str) -> list[int]:
    try:
        values = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"steps are counts separated by commas: {text!r}"
        ) from None
    if not values or values[0] <= 0:
        raise argparse.ArgumentTypeError("steps must be positive")
    return values


class _Clock:
    """Wall and CPU time: this process's (every thread: the SQLite writer's
    too) and its rating worker processes'."""

    def __init__(self, workers: Any = None) -> None:
        self.workers = workers
        self.wall = time.perf_counter()
        self.cpu = self._cpu()

    def _cpu(self) -> float:
        return time.process_time() + (self.workers.cpu_seconds() if self.workers else 0.0)

    def since(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, self._cpu() - self.cpu


class _Profiler:
    def __init__(self, prefix: str | None) -> None:
        self.prefix = prefix
        self._profiles: dict[str, cProfile.Profile] = {}

    def start(self, phase: str) -> None:
        if self.prefix:
            profile = self._profiles.setdefault(phase, cProfile.Profile())
            profile.enable()

    def stop(self, phase: str) -> None:
        if self.prefix and phase in self._profiles:
            self._profiles[phase].disable()

    def write(self) -> list[str]:
        written = []
        for phase, profile in self._profiles.items():
            path = f"{self.prefix}.{phase}.prof"
            profile.dump_stats(path)
            text = io.StringIO()
            stats = pstats.Stats(profile, stream=text).sort_stats("tottime")
            stats.print_stats(30)
            Path(f"{self.prefix}.{phase}.txt").write_text(text.getvalue())
            written.append(path)
        return written


async def _scalar(sql: str) -> Any:
    from billing.tables import Cdr

    rows = await Cdr.raw(sql).run()
    return next(iter(rows[0].values())) if rows else None


async def _rows(sql: str) -> list[dict[str, Any]]:
    from billing.tables import Cdr

    return list(await Cdr.raw(sql).run())


def _month(value: Any) -> str:
    return str(value)[:7]


async def _periods_to_bill() -> list[str]:
    """The months (YYYY-MM) the unbilled rated CDRs' sessions started in."""
    found = await _rows(
        "SELECT min(started_at) AS first, max(started_at) AS last FROM cdr"
        " WHERE document IS NULL AND status = 'rated'"
    )
    if not found or found[0]["first"] is None:
        return []
    first, last = _month(found[0]["first"]), _month(found[0]["last"])
    return [p for p in PERIODS if first <= p <= last] or [first]


async def _bill(service: Any, principal: Any) -> dict[str, Any]:
    """Every month the unbilled CDRs started in, for every entity at once
    (``BillingRuns.run_every``, as ``csms billing run --all`` bills)."""
    periods = await _periods_to_bill()
    sellers = await _scalar(
        "SELECT count(DISTINCT seller_entity) FROM cdr WHERE document IS NULL AND status = 'rated'"
    )
    runs = documents = cdrs = 0
    billed_ids: list[int] = []
    for period in periods:
        every = await service.run_every(principal, period, preview=False)
        if every.failed:
            raise RuntimeError(f"billing runs failed: {every.failed}")
        for result in every.results:
            runs += 1
            documents += len(result.issued)
            for draft in result.drafts:
                cdrs += len(draft.cdr_ids)
                billed_ids += draft.cdr_ids
    return {
        "periods": periods,
        "entities": int(sellers),
        "runs": runs,
        "documents": documents,
        "cdrs": cdrs,
        "billed_ids": billed_ids,
    }


async def _checks(world: World, rated: int, billed_ids: list[int]) -> dict[str, Any]:
    """Nothing lost, nothing duplicated."""
    checks: dict[str, Any] = {}
    per_audience = {
        row["audience"]: int(row["n"])
        for row in await _rows("SELECT audience, count(*) AS n FROM cdr GROUP BY audience")
    }
    total = sum(per_audience.values())
    complete = rated == world.sessions
    checks["cdrs"] = {"found": per_audience, "expected": world.expected_cdrs}
    checks["cdrs_match_audiences"] = per_audience == world.expected_cdrs if complete else total > 0
    checks["cdrs_in_error"] = int(await _scalar("SELECT count(*) FROM cdr WHERE status <> 'rated'"))
    sessions_with_cdrs = int(await _scalar("SELECT count(DISTINCT session) FROM cdr"))
    checks["sessions_with_cdrs"] = sessions_with_cdrs
    checks["queue_left"] = int(await _scalar("SELECT count(*) FROM rating_queue"))
    checks["unbilled_rated_cdrs"] = int(
        await _scalar("SELECT count(*) FROM cdr WHERE status = 'rated' AND document IS NULL")
    )
    billed = int(await _scalar("SELECT count(*) FROM cdr WHERE document IS NOT NULL"))
    checks["billed_cdrs"] = billed
    checks["billed_once"] = len(billed_ids) == len(set(billed_ids)) == billed
    orphans = int(
        await _scalar(
            "SELECT count(*) FROM cdr c LEFT JOIN billing_document d ON d.id = c.document"
            " WHERE c.document IS NOT NULL AND d.id IS NULL"
        )
    )
    checks["cdrs_on_missing_documents"] = orphans
    gaps: list[str] = []
    numbers: dict[tuple[int, str], list[int]] = {}
    for row in await _rows("SELECT issuer_entity, kind, number FROM billing_document"):
        match = re.search(r"(\d+)$", row["number"])
        sequence = int(match.group(1)) if match else -1
        numbers.setdefault((int(row["issuer_entity"]), row["kind"]), []).append(sequence)
    ranges = {
        (int(row["entity"]), row["kind"]): int(row["last_value"])
        for row in await _rows("SELECT entity, kind, last_value FROM number_range")
    }
    for key, sequences in numbers.items():
        if sorted(sequences) != list(range(1, len(sequences) + 1)) or ranges.get(key) != len(
            sequences
        ):
            gaps.append(f"{key[0]}/{key[1]}")
    checks["number_ranges"] = len(numbers)
    checks["number_ranges_with_gaps"] = gaps
    checks["documents"] = sum(len(v) for v in numbers.values())
    checks["ok"] = bool(
        checks["cdrs_match_audiences"]
        and checks["cdrs_in_error"] == 0
        and (not complete or sessions_with_cdrs == world.sessions - world.sessions_without_cdrs)
        and checks["queue_left"] == world.sessions - rated
        and checks["unbilled_rated_cdrs"] == 0
        and checks["billed_once"]
        and orphans == 0
        and not gaps
    )
    return checks


async def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    from billing.rating.rater import Rater
    from billing.rating.workers import RatingWorkers
    from billing.runs.service import BillingRuns
    from billing.storage.runs import SqlBillingStore
    from billing.storage.sources import SqlDirectory, SqlRatingQueue
    from billing.storage.tariffs import PiccoloTariffLookup
    from crm.access import system_principal
    from crm.storage.tree import load_tree
    from csms.collector import tune_garbage_collector
    from csms.storage.database import (
        close_database,
        current_engine,
        open_database,
        share_the_gil_with_sqlite_threads,
    )
    from csms.storage.migrate import migrate

    report: dict[str, Any] = {}
    engine = current_engine()
    share_the_gil_with_sqlite_threads(engine)  # as csms billing does
    await open_database(engine)
    queue = directory = store = None
    workers: RatingWorkers | None = None
    try:
        await migrate()
        clock = _Clock()
        writer = Writer(url)
        await writer.open()
        try:
            world = await build(
                writer, sessions=args.sessions, entities=args.entities, seed=args.seed
            )
        finally:
            await writer.close()
        seconds, cpu = clock.since()
        report["generation"] = {"seconds": seconds, "cpu_seconds": cpu, "world": vars(world)}

        tune_garbage_collector()  # as csms billing and csms serve do once started
        queue, directory, store = SqlRatingQueue(), SqlDirectory(), SqlBillingStore()
        lookup = PiccoloTariffLookup()
        if args.rating_workers:
            workers = RatingWorkers(args.rating_workers)
        rater = Rater(queue, directory, lookup, batch_size=args.batch_size, workers=workers)
        service = BillingRuns(store, directory)
        principal = system_principal(await load_tree())
        profiler = _Profiler(args.profile)
        steps = [s for s in args.steps if s < world.sessions] + [
            min(world.sessions, args.steps[-1])
        ]
        rated = 0
        billed_ids: list[int] = []
        rating_total = [0.0, 0.0]
        billing_total = [0.0, 0.0]
        report["steps"] = []
        for step in sorted(set(steps)):
            before = rated
            clock = _Clock(workers)
            profiler.start("rating")
            # As the product rates (Rater.rate_all: the next batch read and
            # prepared while one is priced), no further than the step.
            rated += await rater.rate_all(limit=step - rated)
            profiler.stop("rating")
            rate_seconds, rate_cpu = clock.since()
            rating_total[0] += rate_seconds
            rating_total[1] += rate_cpu

            clock = _Clock()
            profiler.start("billing")
            billing = await _bill(service, principal)
            profiler.stop("billing")
            bill_seconds, bill_cpu = clock.since()
            billing_total[0] += bill_seconds
            billing_total[1] += bill_cpu
            billed_ids += billing.pop("billed_ids")
            segment = rated - before
            report["steps"].append(
                {
                    "rated": rated,
                    "segment_sessions": segment,
                    "rating": {
                        "seconds": rate_seconds,
                        "cpu_seconds": rate_cpu,
                        "segment_per_second": segment / rate_seconds if rate_seconds else 0.0,
                        "cumulative_seconds": rating_total[0],
                        "cumulative_per_second": rated / rating_total[0] if rating_total[0] else 0,
                    },
                    "billing": {
                        **billing,
                        "seconds": bill_seconds,
                        "cpu_seconds": bill_cpu,
                        "segment_sessions_per_second": segment / bill_seconds
                        if bill_seconds
                        else 0.0,
                        "segment_cdrs_per_second": billing["cdrs"] / bill_seconds
                        if bill_seconds
                        else 0.0,
                        "cumulative_seconds": billing_total[0],
                        "cumulative_sessions_per_second": rated / billing_total[0]
                        if billing_total[0]
                        else 0.0,
                    },
                }
            )
            if args.progress:
                _print_step(report["steps"][-1])
        report["profiles"] = profiler.write()
        report["checks"] = await _checks(world, rated, billed_ids)
        report["cpu_seconds_total"] = time.process_time()
    finally:
        if workers is not None:
            await workers.close()
        for part in (queue, directory, store):
            if part is not None:
                await part.close()
        await close_database(engine)
    return report


def _print_step(step: dict[str, Any]) -> None:
    rating, billing = step["rating"], step["billing"]
    print(
        f"{step['rated']:>10,} rated | rating: segment {step['segment_sessions']:,} sessions in"
        f" {rating['seconds']:.1f} s = {rating['segment_per_second']:,.0f}/s (CPU"
        f" {rating['cpu_seconds']:.1f} s), cumulative {rating['cumulative_per_second']:,.0f}/s"
        f" | billing: {billing['cdrs']:,} CDRs, {billing['documents']:,} documents,"
        f" {billing['runs']:,} runs ({', '.join(billing['periods'])}) in"
        f" {billing['seconds']:.1f} s = {billing['segment_sessions_per_second']:,.0f} sessions/s,"
        f" {billing['segment_cdrs_per_second']:,.0f} CDRs/s (CPU {billing['cpu_seconds']:.1f} s),"
        f" cumulative {billing['cumulative_sessions_per_second']:,.0f} sessions/s",
        flush=True,
    )


def _print(report: dict[str, Any], database: str, args: argparse.Namespace) -> None:
    machine = machine_description()
    print(
        f"machine: {machine['cpu_model']}, {machine['cores']} cores, {machine['memory_gib']} GiB;"
        f" Python {platform.python_version()}; {database}; batch size {args.batch_size};"
        f" rating workers {args.rating_workers or 'none (in process)'}"
    )
    generation = report["generation"]
    world = generation["world"]
    print(
        f"generated in {generation['seconds']:.1f} s (not counted): {world['entities']:,}"
        f" entities, {world['contacts']:,} contacts, {world['media']:,} media,"
        f" {world['stations']:,} stations, {world['tariffs']:,} tariffs"
        f" ({world['tariff_versions']:,} versions, {world['assignments']:,} assignments),"
        f" {world['sessions']:,} sessions, {world['meter_values']:,} meter values,"
        f" {world['connector_states']:,} connector states, {world['charging_states']:,}"
        f" charging states"
    )
    print(f"  sessions: {world['shapes']}; CDRs expected: {world['expected_cdrs']}")
    print()
    print(
        "   sessions | rating s | rating /s (segment) | rating /s (cumulative) | rating CPU s"
        " | billing s | billing sessions/s (segment) | CDRs/s | documents | billing CPU s"
    )
    for step in report["steps"]:
        rating, billing = step["rating"], step["billing"]
        print(
            f" {step['rated']:>10,} | {rating['seconds']:>8.1f} |"
            f" {rating['segment_per_second']:>19,.0f} | {rating['cumulative_per_second']:>22,.0f}"
            f" | {rating['cpu_seconds']:>12.1f} | {billing['seconds']:>9.1f} |"
            f" {billing['segment_sessions_per_second']:>28,.0f} |"
            f" {billing['segment_cdrs_per_second']:>6,.0f} | {billing['documents']:>9,} |"
            f" {billing['cpu_seconds']:>13.1f}"
        )
    checks = report["checks"]
    print()
    print(
        f"checks: CDRs {checks['cdrs']['found']} (expected {checks['cdrs']['expected']}):"
        f" {'ok' if checks['cdrs_match_audiences'] else 'MISMATCH'}; in error"
        f" {checks['cdrs_in_error']}; sessions with CDRs {checks['sessions_with_cdrs']:,};"
        f" queue left {checks['queue_left']:,}; rated CDRs unbilled"
        f" {checks['unbilled_rated_cdrs']:,}; billed {checks['billed_cdrs']:,}, each once:"
        f" {'yes' if checks['billed_once'] else 'NO'}; documents {checks['documents']:,} in"
        f" {checks['number_ranges']:,} number ranges, with gaps:"
        f" {checks['number_ranges_with_gaps'] or 'none'}"
    )
    print(f"consistency: {'OK' if checks['ok'] else 'FAILED'}")
    print(f"this process's CPU time: {report['cpu_seconds_total']:.1f} s")
    for path in report["profiles"]:
        print(f"profile: {path} (and .txt)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.billing")
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--entities", type=int, default=1_000)
    parser.add_argument(
        "--steps", type=_steps, default=[100_000, 1_000_000], help="e.g. 100000,1000000"
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="postgresql://host:port/db (a fresh database is created there and dropped);"
        " default a SQLite file in a temporary directory",
    )
    parser.add_argument("--batch-size", type=int, default=1_000, help="sessions per rating batch")
    parser.add_argument(
        "--rating-workers",
        type=int,
        default=0,
        help="rating worker processes (0: price in the rater's process)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--profile", help="cProfile the measured phases to PREFIX.{phase}.prof")
    parser.add_argument("--quiet", dest="progress", action="store_false")
    args = parser.parse_args(argv)
    if args.sessions <= 0 or args.entities <= 0:
        parser.error("--sessions and --entities must be positive")

    from benchmarks.gateway import CsmsDatabase

    base = args.database_url
    if base and not base.startswith(("postgresql://", "postgres://")):
        parser.error("--database-url must be a postgresql:// URL (default: SQLite)")
    workdir = Path(tempfile.mkdtemp(prefix="csms-bench-billing-"))
    database = CsmsDatabase(base, workdir)
    asyncio.run(database.create())
    # The engine is built from the environment when piccolo first loads.
    os.environ["CSMS_DATABASE_URL"] = database.url
    os.environ.setdefault("CSMS_LOG_LEVEL", "WARNING")
    # piccolo's migrations warn that SQLite ignores column lengths.
    warnings.filterwarnings("ignore", message=".*SQLITE doesn't support changes in length.*")
    try:
        began = time.perf_counter()
        report = asyncio.run(run(args, database.url))
        kind = "PostgreSQL (a fresh database)" if database.pg_name else "SQLite (a fresh file)"
        report["database"] = kind
        report["wall_seconds"] = time.perf_counter() - began
        _print(report, kind, args)
        print(f"(benchmark took {report['wall_seconds']:.0f} s)")
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    finally:
        asyncio.run(database.drop())
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if report["checks"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
