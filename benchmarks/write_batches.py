"""CPU of one group commit of the write sink, by kind of batch.

    python -m benchmarks.write_batches                  # SQLite, 1,000 stations, 500 per batch
    python -m benchmarks.write_batches --database-url postgresql://127.0.0.1:5432/test

A fresh database (a SQLite file in a temp dir, or a new database on the
PostgreSQL server named, dropped after) gets ``--stations`` stations, each
with an open session of each OCPP version, and then ``--rounds`` batches of
each kind, as group commit forms them under a busy fleet: ``--batch``
stations' 2.0.1 TransactionEvent Updated (one energy sample, a charging
state), ``--batch`` stations' 1.6 MeterValues (four samples), and the same
MeterValues with their message log (the call and the answer, as
``csms serve`` logs every exchange). It prints the CPU of this process and
the wall time per batch and per group, best of the rounds: on SQLite
everything the database does is in the CPU (the writer runs in a thread of
this process); on PostgreSQL the server's share is only in the wall time.
CPU moves less than wall time on a shared machine: compare the best of
interleaved runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from benchmarks.scratch_database import scratch_database

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
MEASURANDS = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Voltage",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=500, help="groups per batch")
    parser.add_argument("--rounds", type=int, default=20, help="batches of each kind")
    parser.add_argument(
        "--database-url", default="", help="a postgresql:// server URL (default: SQLite)"
    )
    return parser.parse_args(argv)


async def _measure(args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    from csms.domain.model import Sample
    from csms.domain.writes import (
        StoreExchange,
        StoreMeterValues,
        StoreNewStation,
        StoreSessionStart,
        StoreTransactionEvent,
        WriteGroup,
    )
    from csms.storage.database import close_database, current_engine, open_database
    from csms.storage.migrate import migrate
    from csms.storage.writes import PiccoloWriteSink

    await migrate()
    await open_database()
    sink = PiccoloWriteSink(current_engine())
    try:
        count = args.stations
        await sink.apply(
            [WriteGroup((StoreNewStation(f"WB-{n:05d}", "Accepted", T0),)) for n in range(count)]
        )
        starts = await sink.apply(
            [
                WriteGroup(
                    (
                        StoreSessionStart(
                            station_pk=n + 1,
                            connector_id=1,
                            id_tag="TAG",
                            started_at=T0,
                            meter_start_wh=0,
                            start_key=f"wb-{n}",
                            auth_status="Accepted",
                        ),
                    )
                )
                for n in range(count)
            ]
        )
        session_ids = [result[0].session_id for result in starts]  # type: ignore[union-attr]

        def event(n: int, round_: int) -> WriteGroup:
            at = T0 + timedelta(seconds=30 * round_)
            return WriteGroup(
                (
                    StoreTransactionEvent(
                        station_pk=n + 1,
                        charger_transaction_id=f"tx-{n}",
                        event_type="Started" if round_ == 0 else "Updated",
                        seq_no=round_,
                        timestamp=at,
                        received_at=at,
                        connector_id=2,
                        charging_state="Charging",
                        begin=(at, 0) if round_ == 0 else None,
                        samples=(Sample(sampled_at=at, value=str(100 * round_), unit="Wh"),),
                    ),
                )
            )

        def meter_values(n: int, round_: int) -> WriteGroup:
            at = T0 + timedelta(seconds=30 * round_ + 15)
            samples = tuple(
                Sample(sampled_at=at, value=str(round_ * 10 + i), unit="Wh", measurand=m)
                for i, m in enumerate(MEASURANDS)
            )
            return WriteGroup((StoreMeterValues(n + 1, 1, session_ids[n], samples, at),))

        call = b'[2,"%d","MeterValues",{"connectorId":1,"meterValue":[]}]' + b" " * 300

        def logged_meter_values(n: int, round_: int) -> WriteGroup:
            (write,) = meter_values(n, round_).writes
            assert isinstance(write, StoreMeterValues)
            exchange = StoreExchange(
                n + 1, f"{round_}.{n}", "MeterValues", call, 2, b'[3,"1",{}]', 3, write.received_at
            )
            return WriteGroup((write, exchange))

        await sink.apply([event(n, 0) for n in range(count)])
        kinds: dict[str, Callable[[int, int], WriteGroup]] = {
            "2.0.1 TransactionEvent Updated": event,
            "1.6 MeterValues, 4 samples": meter_values,
            "1.6 MeterValues, 4 samples, message log": logged_meter_values,
        }
        best = {name: (float("inf"), float("inf")) for name in kinds}
        for round_ in range(1, args.rounds + 1):
            chosen = [(n * 7 + round_) % count for n in range(min(args.batch, count))]
            for index, (name, make) in enumerate(kinds.items()):
                # Each kind its own sample times: none is a repeat of another's.
                batch = [make(n, 3 * round_ + index) for n in chosen]
                cpu, wall = time.process_time(), time.perf_counter()
                await sink.apply(batch)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                best[name] = (min(best[name][0], cpu), min(best[name][1], wall))
        return best
    finally:
        await sink.close()
        await close_database()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("CSMS_LOG_LEVEL", "ERROR")
    with scratch_database(args.database_url, "csms_write_batches") as database:
        os.environ["CSMS_DATABASE_URL"] = database
        best = asyncio.run(_measure(args))
    kind = "PostgreSQL" if args.database_url else "SQLite"
    size = min(args.batch, args.stations)
    for name, (cpu, wall) in best.items():
        print(
            f"{kind}: {name}: {size:,} groups per batch, best of {args.rounds}: "
            f"{1000 * cpu:.1f} ms CPU ({1e6 * cpu / size:.1f} us per group), "
            f"{1000 * wall:.1f} ms wall ({1e6 * wall / size:.1f} us per group)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
