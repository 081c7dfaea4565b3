"""CPU per OCPP call of the product's own path, without websockets.

    python -m benchmarks.dispatch                      # 1,000 stations, 40 calls each, SQLite
    python -m benchmarks.dispatch --ocpp 2.0.1         # the same with TransactionEvent sessions
    python -m benchmarks.dispatch --stations 1000 --calls 40 --database-url postgresql://127.0.0.1:5432/test

A node runs in this process (a fresh database: a SQLite file in a temp dir,
or a new database on the PostgreSQL server named, dropped after) and serves
``--stations`` stations, each over a transport that hands it its next frame
as soon as the previous answer is sent: a BootNotification, then Heartbeat
and MeterValues (the gateway benchmark's 4-sample payload, a new timestamp
each) alternating. With ``--ocpp 2.0.1`` each station runs a session as the
gateway benchmark's 2.0.1 stations do: the warm-up sends TransactionEvent
Started with the station's own (imported) id token, and every measured run
a BootNotification, then Heartbeat and TransactionEvent Updated with one
meter value alternating (so that, as in the gateway benchmark's measured
window, no call is an authorisation). Everything a call costs in the
product runs: framing, decoding and the storable check, the handlers,
group commit with the message log, presence and metrics; only the
websocket layer is left out.

It prints the calls answered per second of wall time and the CPU per call,
of the whole process and of the event loop's thread alone (on SQLite the
writer thread's work is the difference). CPU time moves much less than
wall time when other work shares the machine, which is what this is for:
deciding whether a change to the hot path pays (run before and after,
interleaved, and compare the best of several).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import time
from typing import Any

from benchmarks.frames import (
    BOOT_PAYLOAD_201,
    id_token,
    station_id,
    transaction_id_201,
    transaction_started_201,
    transaction_updated_201,
)
from benchmarks.scratch_database import scratch_database


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=40, help="calls per station (boot included)")
    parser.add_argument("--runs", type=int, default=3, help="measured runs; the best is printed")
    parser.add_argument(
        "--database-url", default="", help="a postgresql:// server URL (default: SQLite)"
    )
    parser.add_argument("--ocpp", choices=("1.6", "2.0.1"), default="1.6")
    args = parser.parse_args(argv)
    if not 1 <= args.stations <= 100_000 or not 2 <= args.calls <= 100_000:
        parser.error("--stations 1..100000 and --calls 2..100000")
    return args


class _Feed:
    """One 1.6 station's side: the next frame at once, answers counted."""

    __slots__ = ("answered", "limit", "sent")

    def __init__(self, limit: int) -> None:
        self.sent = 0
        self.limit = limit
        self.answered = 0

    async def recv(self) -> bytes:
        from csms.protocol.rpc import TransportClosed

        n = self.sent
        if n >= self.limit:
            raise TransportClosed
        self.sent = n + 1
        return self.frame(n)

    def frame(self, n: int) -> bytes:
        """The station's call number ``n`` (0: its boot)."""
        from benchmarks.frames import meter_values_payload

        if n == 0:
            return b'[2,"b","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]'
        if n % 2:
            return b'[2,"h%d","Heartbeat",{}]' % n
        stamp = f"2026-12-06T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"
        return b'[2,"m%d","MeterValues",' % n + meter_values_payload(stamp, 1000 + n) + b"]"

    async def send(self, data: bytes) -> None:
        self.answered += 1

    async def close(self, code: int, reason: str) -> None:
        pass


class _Feed201(_Feed):
    """One 2.0.1 station's side: a BootNotification, then Heartbeat and
    TransactionEvent Updated (of the session the warm-up started) alternating;
    in the warm-up run, TransactionEvent Started after the boot."""

    __slots__ = ("first_seq_no", "start", "token", "transaction")

    SECOND = b"2026-12-06T12:00:00"

    def __init__(self, limit: int, station: str, run: int) -> None:
        super().__init__(limit)
        self.start = run == 0
        self.token = id_token(station).encode()
        self.transaction = transaction_id_201(station, "dispatch").encode()
        # seqNo (and with it the sample's microsecond) goes on across runs
        # without a gap (a gap is logged as events missing): every sample is
        # new, none a retransmission. The warm-up sends Updated 1; each run
        # (limit - 1) // 2 more.
        self.first_seq_no = 0 if run == 0 else 1 + (run - 1) * ((limit - 1) // 2)

    def frame(self, n: int) -> bytes:
        if n == 0:
            return b'[2,"b","BootNotification",' + BOOT_PAYLOAD_201 + b"]"
        if n == 1 and self.start:
            return transaction_started_201(b"s", self.SECOND, self.transaction, self.token)
        if n % 2:
            return b'[2,"h%d","Heartbeat",{}]' % n
        return transaction_updated_201(
            b"u%d" % n, self.SECOND, self.first_seq_no + n // 2, self.transaction
        )


def _import_tokens(stations: int) -> None:
    """Every station's own id token, through ``csms tag import`` from the CSV
    the gateway benchmark provisions them with (authorisation runs as in
    production)."""
    import subprocess
    import tempfile
    from pathlib import Path

    from benchmarks.gateway import write_tags_csv

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "tags.csv"
        write_tags_csv(path, stations)
        subprocess.run(
            [sys.executable, "-m", "csms", "tag", "import", str(path)],
            check=True,
            stdout=subprocess.DEVNULL,
        )


async def _measure(args: argparse.Namespace) -> list[dict[str, float]]:
    from csms.bootstrap import Node
    from csms.collector import tune_garbage_collector
    from csms.gateway.registry import Connected
    from csms.settings import Settings

    settings = dataclasses.replace(
        Settings.from_env(), ocpp_host="127.0.0.1", ocpp_port=0, http_host="127.0.0.1", http_port=0
    )
    node = Node(settings)
    await node.start()
    try:
        gateway = node.gateway
        handler: Any = gateway._handler
        profiles = []
        for k in range(args.stations):
            admitted: Any = await gateway.admission.admit(station_id(k), None)
            profiles.append(admitted.profile)
        tune_garbage_collector()
        v201 = args.ocpp == "2.0.1"
        subprotocol = "ocpp2.0.1" if v201 else "ocpp1.6"

        async def serve_all(calls: int, run: int) -> int:
            feeds: list[Any] = [
                _Feed201(calls, profile.charge_point_id, run) if v201 else _Feed(calls)
                for profile in profiles
            ]
            await asyncio.gather(
                *(
                    handler.serve(
                        Connected(profile.charge_point_id, profile.pk, subprotocol, None),
                        feed,
                        profile,
                    )
                    for feed, profile in zip(feeds, profiles, strict=True)
                )
            )
            return sum(feed.answered for feed in feeds)

        await serve_all(3, 0)  # warm-up: first boots, caches, statements
        results = []
        for run in range(1, args.runs + 1):
            process, thread, wall = time.process_time(), time.thread_time(), time.perf_counter()
            answered = await serve_all(args.calls, run)
            process = time.process_time() - process
            thread = time.thread_time() - thread
            wall = time.perf_counter() - wall
            results.append(
                {
                    "calls": answered,
                    "calls_per_s": answered / wall,
                    "process_us": 1e6 * process / answered,
                    "loop_us": 1e6 * thread / answered,
                }
            )
        return results
    finally:
        await node.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["CSMS_UNKNOWN_STATIONS"] = "accept"
    os.environ.setdefault("CSMS_LOG_LEVEL", "ERROR")
    with scratch_database(args.database_url, "csms_dispatch") as database:
        os.environ["CSMS_DATABASE_URL"] = database
        from csms.storage.migrate import migrate

        asyncio.run(migrate())
        if args.ocpp == "2.0.1":
            _import_tokens(args.stations)
        import uvloop

        results = uvloop.run(_measure(args))
    best = min(results, key=lambda r: r["loop_us"])
    kind = ("PostgreSQL" if args.database_url else "SQLite") + f", OCPP {args.ocpp}"
    for r in results:
        print(
            f"{kind}: {r['calls']:,} calls, {r['calls_per_s']:,.0f}/s wall; CPU per call "
            f"{r['process_us']:.1f} us process, {r['loop_us']:.1f} us event-loop thread"
        )
    print(f"best: {best['loop_us']:.1f} us event-loop thread, {best['process_us']:.1f} us process")
    return 0


if __name__ == "__main__":
    sys.exit(main())
