"""Python heap per idle booted connection, by where it was allocated.

    python -m benchmarks.connection_heap                     # 1,000 connections
    python -m benchmarks.connection_heap --connections 5000 --top 20

The gateway benchmark reports RSS per idle connection, which mixes the
Python objects a connection keeps with what the allocator and SQLite's page
cache do meanwhile. This one counts only the Python heap, with
``tracemalloc``, for two servers in this process, one after the other: the
echo server (``benchmarks.echo_server``: websockets and asyncio alone) and a
``csms`` node (gateway and web app, a fresh SQLite database or a fresh
database on the PostgreSQL server of ``--database-url``, unknown stations
accepted). A child process opens the connections (1.6, no
compression, as the benchmark's load side does), boots each and holds them
idle; the heap is compared before and after, after a first wave of 50
connections has filled the caches. Each allocation is attributed to the
first frame of the product (``csms/``) in its traceback, else to the first
frame of a library, so the lines say which of the product's frames keep
memory per connection. (RSS is not reported: under ``tracemalloc`` it
mostly measures tracemalloc's own bookkeeping.)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import logging
import multiprocessing
import os
import sys
import tracemalloc
from collections import Counter
from collections.abc import Callable, Coroutine
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from benchmarks.scratch_database import scratch_database

REPO = str(Path(__file__).resolve().parent.parent) + "/"
PRODUCT = tuple(REPO + package + "/" for package in ("csms", "crm", "billing", "admin_ui"))
WARM_UP_CONNECTIONS = 50


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--top", type=int, default=12, help="allocation sites listed per server")
    parser.add_argument(
        "--database-url", default="", help="a postgresql:// server URL (default: SQLite)"
    )
    return parser.parse_args(argv)


def _hold_connections(port: int, count: int, ready: Event, stop: Event) -> None:
    """In the child: ``count`` booted connections, held until ``stop``."""
    from websockets.asyncio.client import ClientConnection, connect

    boot = json.dumps(
        [2, "1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
    )

    async def one(index: int, held: list[ClientConnection]) -> None:
        socket = await connect(
            f"ws://127.0.0.1:{port}/ocpp/HEAP-{index:05d}",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            ping_interval=None,
            compression=None,
        )
        await socket.send(boot)
        await socket.recv()
        held.append(socket)

    async def main() -> None:
        held: list[ClientConnection] = []
        for start in range(0, count, 100):
            await asyncio.gather(*(one(i, held) for i in range(start, min(count, start + 100))))
        ready.set()
        await asyncio.to_thread(stop.wait)
        for socket in held:
            await socket.close()

    asyncio.run(main())


async def _connections_heap(port: int, count: int, top: int) -> tuple[int, list[str]]:
    """Heap growth (bytes) for ``count`` idle connections to ``port``, and
    the ``top`` allocation sites."""
    context = multiprocessing.get_context("spawn")
    # Traced from here on only: the server is up (its imports and start-up,
    # slow to trace, are not per-connection memory).
    tracemalloc.start(8)
    try:
        return await _waves(context, port, count, top)
    finally:
        tracemalloc.stop()


async def _waves(
    context: multiprocessing.context.SpawnContext, port: int, count: int, top: int
) -> tuple[int, list[str]]:
    snapshot = None
    for wave in (WARM_UP_CONNECTIONS, count):
        ready, stop = context.Event(), context.Event()
        if wave == count:
            gc.collect()
            snapshot = tracemalloc.take_snapshot()
        child = context.Process(target=_hold_connections, args=(port, wave, ready, stop))
        child.start()
        try:
            while not ready.is_set():
                if not child.is_alive():
                    raise RuntimeError("the connecting process ended before it was ready")
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # the server's writes for the boots settle
            if wave == count:
                gc.collect()
                assert snapshot is not None
                grown = tracemalloc.take_snapshot().compare_to(snapshot, "traceback")
                return _attributed(grown, count, top)
        finally:
            stop.set()
            await asyncio.to_thread(child.join, 30)
            await asyncio.sleep(1.0)  # closed connections are let go
    raise AssertionError("unreachable")


def _attributed(
    stats: list[tracemalloc.StatisticDiff], count: int, top: int
) -> tuple[int, list[str]]:
    sizes: Counter[str] = Counter()
    objects: Counter[str] = Counter()
    for stat in stats:
        site = "elsewhere"
        frames = list(stat.traceback)
        product = [f for f in frames if f.filename.startswith(PRODUCT)]
        library = [f for f in frames if "site-packages/" in f.filename]
        if product:
            site = f"{product[0].filename.removeprefix(REPO)}:{product[0].lineno}"
        elif library:
            site = f"{library[0].filename.split('site-packages/')[-1]}:{library[0].lineno}"
        elif frames:
            site = f"{Path(frames[0].filename).name}:{frames[0].lineno}"
        sizes[site] += stat.size_diff
        objects[site] += stat.count_diff
    lines = [
        f"  {size / count:7.0f} B {objects[site] / count:5.1f} objects  {site}"
        for site, size in sizes.most_common(top)
    ]
    return sum(sizes.values()), lines


async def _echo(count: int, top: int) -> tuple[int, list[str]]:
    from websockets.asyncio.server import serve

    from benchmarks.echo_server import answer_calls

    async with serve(
        answer_calls,
        "127.0.0.1",
        0,
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        compression=None,
        ping_interval=None,
        server_header=None,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        return await _connections_heap(port, count, top)


async def _csms(count: int, top: int) -> tuple[int, list[str]]:
    """A node on the database CSMS_DATABASE_URL names (made by main)."""
    from csms.bootstrap import Node
    from csms.settings import Settings
    from csms.storage.migrate import migrate

    await migrate()
    settings = dataclasses.replace(
        Settings.from_env(),
        ocpp_host="127.0.0.1",
        ocpp_port=0,
        http_host="127.0.0.1",
        http_port=0,
        unknown_stations="accept",
        log_level="ERROR",
    )
    node = Node(settings)
    await node.start()
    try:
        return await _connections_heap(node.ocpp_port, count, top)
    finally:
        await node.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["CSMS_LOG_LEVEL"] = "ERROR"
    # A line per station the node registers would bury the figures.
    logging.disable(logging.WARNING)
    servers: dict[str, Callable[[int, int], Coroutine[Any, Any, tuple[int, list[str]]]]] = {
        "echo (websockets alone)": _echo,
        "csms serve": _csms,
    }
    per_connection: dict[str, float] = {}
    for name, measure in servers.items():
        with scratch_database(args.database_url, "csms_connection_heap") as database:
            os.environ["CSMS_DATABASE_URL"] = database
            total, lines = asyncio.run(measure(args.connections, args.top))
        per_connection[name] = total / args.connections
        print(
            f"{name}: per idle booted connection ({args.connections:,} connections): "
            f"Python heap {per_connection[name]:,.0f} B"
        )
        print("\n".join(lines))
    echo, csms = per_connection.values()
    print(f"csms serve / echo: {csms / echo:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
