"""The gateway benchmark end to end, small: its echo server, its load
generators (Python and Node.js) and the product, as processes, driven by
the harness's own code."""

from __future__ import annotations

import os
import shutil
from array import array
from pathlib import Path

import pytest

from benchmarks.gateway import (
    Children,
    LoadGen,
    Plan,
    Variant,
    bench_server,
    merge_results,
    split_stations,
    start_server,
)

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def small_plan(**overrides: object) -> Plan:
    # On PostgreSQL when the tests run there (a database of its own, dropped after).
    url = os.environ.get("CSMS_DATABASE_URL", "")
    values: dict[str, object] = {
        "only": ("csms",),
        "connections": (6,),
        "warmup": 0.3,
        "duration": 1.5,
        "rate": 30.0,
        "capacity": 1,
        "storm": 1,
        "database": url if url.startswith(("postgresql://", "postgres://")) else "",
        "settle": 0.3,
        "profile": "",
        "profile_out": Path("unused"),
        "max_seconds": 120.0,
        "load": "node",
        **overrides,
    }
    return Plan(**values)  # type: ignore[arg-type]


async def test_load_generator_measures_the_echo_server(tmp_path: Path) -> None:
    """20 connections in a 2 s closed loop against the echo server give calls,
    no errors, ordered percentiles and the server's CPU and memory."""
    children = Children()
    try:
        server = await start_server(children, "echo", tmp_path)
        before = server.sample()
        gen = await LoadGen.start(children, server.url, 20)
        ready = await gen.event("ready", timeout=60)
        assert ready["connected_and_booted"] == 20
        result = await gen.measured(server, {"cmd": "closed", "warmup": 0.5, "duration": 2})
        await gen.quit(children)
    finally:
        await children.stop_all()
    assert result["calls"] > 0
    assert result["errors"] == 0
    assert result["p99_ms"] >= result["p50_ms"] > 0
    assert result["server_cpu_pct"] > 0
    assert before.rss_bytes > 0


@needs_node
@pytest.mark.parametrize("ocpp", ["1.6", "2.0.1"])
async def test_node_load_generator_split_over_two_processes_measures_echo(
    tmp_path: Path, ocpp: str
) -> None:
    """The Node.js generator, 10 stations over two processes, boots every
    station and starts its transaction, and its merged closed-loop
    and fixed-rate results count every call once, without errors, with
    percentiles over the samples of both processes and the fixed rate of
    the whole load side."""
    children = Children()
    try:
        server = await start_server(children, "echo", tmp_path)
        gen = await LoadGen.start(children, server.url, 10, load="node", processes=2, ocpp=ocpp)
        ready = await gen.event("ready", timeout=60)
        closed = await gen.measured(server, {"cmd": "closed", "warmup": 0.3, "duration": 1.5})
        rate = await gen.measured(server, {"cmd": "rate", "rate": 20, "warmup": 0.3, "duration": 2})
        await gen.quit(children)
    finally:
        await children.stop_all()
    assert ready["connected_and_booted"] == 10
    assert ready["load_processes"] == 2
    assert ready["transactions_started"] == 10
    assert closed["errors"] == 0 and rate["errors"] == 0
    assert closed["calls"] > 0 and closed["samples_merged"] == closed["calls"]
    assert closed["p99_ms"] >= closed["p50_ms"] > 0
    assert closed["loadgen_cpu_pct"] > 0
    assert rate["calls"] == 40  # 20 calls/s for 2 s in all, not per process


@needs_node
@pytest.mark.parametrize(
    ("ocpp", "command", "load_processes"), [("1.6", "gateway", 1), ("2.0.1", "serve", 2)]
)
async def test_node_load_against_csms_persists_every_answered_meter_value(
    tmp_path: Path, ocpp: str, command: str, load_processes: int
) -> None:
    """csms gateway (1.6) and csms serve (2.0.1, two load processes) on a fresh
    database (SQLite, or PostgreSQL when the tests run there) with provisioned
    stations: every station boots, both
    measured runs are answered without errors, and the persistence check
    finds every answered sampled value and one session per station (started
    with the station's own id token, accepted) in the database."""
    plan = small_plan(load_processes=load_processes)
    children = Children()
    try:
        result = await bench_server(
            children, plan, "csms", 6, tmp_path, Variant("csms", ocpp, command)
        )
    finally:
        await children.stop_all()
    assert result["connect"]["connected_and_booted"] == 6
    assert result["closed"]["errors"] == 0 and result["rate"]["errors"] == 0
    assert result["closed"]["calls"] > 0
    check = result["persistence"]
    assert check["ok"], check
    assert check["samples_answered"] > 0
    assert check["transactions_started"] == 6 and check["sessions"] >= 6
    # Each station's own id token, provisioned by the harness, is accepted.
    assert result["connect"]["start_status"] == {"Accepted": 6}


def test_stations_split_into_contiguous_slices_of_near_equal_size() -> None:
    """K load processes get contiguous slices of the stations, sizes differing
    by at most one, never an empty one."""
    assert split_stations(10, 3) == [(0, 4), (4, 3), (7, 3)]
    assert split_stations(2, 5) == [(0, 1), (1, 1)]
    assert split_stations(7, 1) == [(0, 7)]


def test_merged_results_take_percentiles_over_every_process_sample(tmp_path: Path) -> None:
    """Merging two generators' results sums their counts and computes the
    percentiles over the union of their raw samples (not an average of
    their percentiles): 99 fast calls in one and one slow call in the other
    give p50 of a fast call and max of the slow one."""
    fast, slow = tmp_path / "fast.f64", tmp_path / "slow.f64"
    fast.write_bytes(array("d", [0.001] * 99).tobytes())
    slow.write_bytes(array("d", [0.5]).tobytes())

    def result(calls: int, raw: Path) -> dict[str, object]:
        return {
            "cmd": "closed",
            "calls": calls,
            "calls_per_s": calls / 2,
            "errors": 0,
            "samples_answered": 4 * calls,
            "p50_ms": 999.0,
            "raw": {"latency": str(raw)},
        }

    merged = merge_results([result(99, fast), result(1, slow)])
    assert merged["calls"] == 100 and merged["calls_per_s"] == 50
    assert merged["samples_answered"] == 400
    assert merged["p50_ms"] == 1.0 and merged["max_ms"] == 500.0
    assert merged["samples_merged"] == 100


async def _in_process_benchmark(module: str, *options: str) -> str:
    """The output of an in-process benchmark run on the suite's database
    (PostgreSQL when the tests run there: the benchmark makes its own
    database on that server), after asserting that it succeeded."""
    import asyncio
    import sys

    argv = [sys.executable, "-m", module, *options]
    url = os.environ.get("CSMS_DATABASE_URL", "")
    if url.startswith(("postgresql://", "postgres://")):
        argv += ["--database-url", url]
    env = {k: v for k, v in os.environ.items() if k != "CSMS_DATABASE_URL"}
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()[-2000:]
    return out.decode()


@pytest.mark.parametrize("ocpp", ["1.6", "2.0.1"])
async def test_the_dispatch_benchmark_prints_cpu_per_call(ocpp: str) -> None:
    """benchmarks.dispatch serves its stations in-process (on PostgreSQL when
    the tests run there), 1.6 or 2.0.1 with a session per station, and
    prints every call answered and the CPU each cost, of the process and of
    the event loop."""
    import re

    text = await _in_process_benchmark(
        "benchmarks.dispatch", "--stations", "20", "--calls", "6", "--ocpp", ocpp
    )
    answered = rf"OCPP {re.escape(ocpp)}: 120 calls, [\d,]+/s wall; CPU per call [\d.]+ us process"
    assert len(re.findall(answered, text)) == 3, text
    assert re.search(r"best: [\d.]+ us event-loop thread", text), text


async def test_the_api_requests_benchmark_prints_principal_and_request_figures() -> None:
    """benchmarks.api_requests builds its world (on PostgreSQL when the tests
    run there), answers every GET with 200 through the whole web app, and
    prints the login's cost and each endpoint's latency."""
    import re

    text = await _in_process_benchmark(
        "benchmarks.api_requests",
        *("--entities", "30", "--stations", "40", "--principals", "20", "--requests", "25"),
    )
    assert re.search(r"30 entities, 40 stations", text), text
    assert re.search(r"principal \(login, entities, groups, tree\): p50 [\d,]+ us", text), text
    assert re.search(r"requests: [\d,]+/s in one loop, [\d.]+ ms of CPU each \(25 GETs\)", text), (
        text
    )
    for path in ("/api/v1/auth/me", "/api/v1/entities?limit=50", "/api/v1/stations/1"):
        assert re.search(re.escape(path) + r" +p50 +[\d.]+ ms", text), text


async def test_the_write_batches_benchmark_prints_cpu_per_batch() -> None:
    """benchmarks.write_batches commits batches of each kind through the
    product's write sink (on PostgreSQL when the tests run there) and prints
    the CPU and wall time of each kind's best batch."""
    import re

    text = await _in_process_benchmark(
        "benchmarks.write_batches", "--stations", "30", "--batch", "20", "--rounds", "2"
    )
    for kind in (
        "2.0.1 TransactionEvent Updated",
        "1.6 MeterValues, 4 samples",
        "1.6 MeterValues, 4 samples, message log",
    ):
        line = rf"{kind}: 20 groups per batch, best of 2: [\d.]+ ms CPU \(.*\), [\d.]+ ms wall"
        assert re.search(line, text), text


async def test_the_connection_heap_benchmark_attributes_each_servers_heap() -> None:
    """benchmarks.connection_heap holds booted connections to the echo
    server and to a csms node and prints each one's Python heap per
    connection, with the product's own frames among the allocation sites."""
    import re

    text = await _in_process_benchmark("benchmarks.connection_heap", "--connections", "20")
    for server in ("echo \\(websockets alone\\)", "csms serve"):
        line = rf"{server}: per idle booted connection \(20 connections\): Python heap [\d,]+ B"
        assert re.search(line, text), text
    assert re.search(r"B +[\d.]+ objects  csms/gateway/", text), text
    assert re.search(r"csms serve / echo: [\d.]+", text), text
