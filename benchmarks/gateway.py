"""The gateway benchmark: this product's OCPP gateway against a bare
websockets echo server (the ceiling) and a central system written the way
the ``ocpp`` library's examples do it (the naive baseline).

    python -m benchmarks.gateway                 # the full run (about 10 minutes)
    python -m benchmarks.gateway --quick         # a smoke run (about a minute)
    python -m benchmarks.gateway --only csms --connections 1000 --profile py-spy
    python -m benchmarks.gateway --only echo,csms --ocpp 1.6,2.0.1 --csms-command serve

Each server runs as its own process (or N processes of the product on one
port with ``--csms-processes``), the load in others (the Node.js generator
``benchmarks/node_loadgen/loadgen.mjs`` when ``node`` is installed, else
``benchmarks.loadgen``; ``--load-processes`` splits the stations over
several), all on 127.0.0.1. For every (server, OCPP version, N) it measures
calls/s and p50/p99/max latency in a closed loop and at a fixed rate, the
server's and the load side's CPU over the measured window, and the server's
RSS per idle booted connection. Then, for the product only: churn (a run of
stations that then leave, before the measured run on the same server),
connection capacity (15,000 idle booted connections) and a boot storm
(10,000 stations booting at once after a restart). docs/benchmarks.md
explains the method and the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import ctypes
import itertools
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from array import array
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from benchmarks.frames import id_token, station_id, station_secret
from benchmarks.measure import (
    ProcSample,
    clock_ticks_per_second,
    cpu_percent,
    machine_description,
    raise_file_limit,
    read_proc,
    summarize,
)

SERVERS = ("echo", "naive", "csms")
EXTRAS = ("churn", "capacity", "storm")
OCPP_VERSIONS = ("1.6", "2.0.1")
CSMS_COMMANDS = ("gateway", "serve")
SERVER_LABELS = {
    "echo": "(a) websockets echo",
    "naive": "(b) ocpp library, naive",
    "csms": "(c) csms gateway",
}
BANNER = re.compile(r"ws://[\d.]+:(\d+)/ocpp")
CLK_TCK = clock_ticks_per_second()
# Children run from the repository root, so ``-m benchmarks.x`` resolves
# wherever the harness (or a test) was started.
REPO_ROOT = Path(__file__).resolve().parent.parent
PR_SET_PDEATHSIG = 1
PROFILE_RATE = 100  # py-spy samples per second
NODE_LOADGEN = REPO_ROOT / "benchmarks" / "node_loadgen"
SHARED_SETTINGS = (
    "CSMS_REDIS_URL",
    "CSMS_REDIS_PREFIX",
    "CSMS_OCPP_REUSE_PORT",
    "CSMS_NODE_NAME",
)
SAMPLES_PER_CALL = {"1.6": 4, "2.0.1": 1}  # sampled values per measured meter call


@dataclass
class Plan:
    only: tuple[str, ...]
    connections: tuple[int, ...]
    warmup: float
    duration: float
    rate: float
    capacity: int
    storm: int
    database: str
    settle: float
    profile: str
    profile_out: Path
    max_seconds: float
    csms_gc: str = ""
    keep: bool = False
    seed: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    load: str = "python"  # node or python
    load_processes: int = 1
    ocpp: tuple[str, ...] = ("1.6",)
    csms_commands: tuple[str, ...] = ("gateway",)
    csms_processes: tuple[int, ...] = (1,)
    redis_url: str = "redis://127.0.0.1:6379/0"
    churn: tuple[int, int] = (1000, 5000)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- child processes ------------------------------------------------------------


def _child_setup() -> None:
    """In every child: die with the harness, and the highest file limit."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    raise_file_limit()


class Children:
    """Every process the harness starts, so that every one is ended."""

    def __init__(self) -> None:
        self._procs: list[asyncio.subprocess.Process] = []

    async def spawn(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        stdin: int | None = asyncio.subprocess.DEVNULL,
        stdout: Any = asyncio.subprocess.PIPE,
        stderr: Any = None,
        cwd: str | None = None,
    ) -> asyncio.subprocess.Process:
        # This checkout's code in every child, whichever checkout the
        # virtualenv's editable install points at: the `csms` script would
        # otherwise import that one, and an A/B pair run from two worktrees
        # with one virtualenv would measure the same code twice.
        env = dict(os.environ if env is None else env)
        env["PYTHONPATH"] = os.pathsep.join(
            path for path in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if path
        )
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            cwd=cwd or str(REPO_ROOT),
            preexec_fn=_child_setup,
            start_new_session=True,
            limit=1 << 20,
        )
        self._procs.append(proc)
        return proc

    async def stop(self, proc: asyncio.subprocess.Process, *, grace: float = 15.0) -> int:
        """SIGTERM, then SIGKILL after ``grace`` seconds.

        Signals go through os.kill: Popen.send_signal polls first, which
        reaps an exited child behind asyncio's watcher (that then reports
        exit status 255)."""
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                await proc.wait()
        if proc in self._procs:
            self._procs.remove(proc)
        return proc.returncode if proc.returncode is not None else -1

    async def stop_all(self) -> None:
        for proc in reversed(list(self._procs)):
            await self.stop(proc, grace=5.0)


async def run_command(
    children: Children, argv: list[str], env: dict[str, str], timeout: float = 600.0
) -> tuple[int, str]:
    proc = await children.spawn(argv, env=env, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    try:
        output = await asyncio.wait_for(proc.stdout.read(), timeout)
        await asyncio.wait_for(proc.wait(), 30)
    finally:
        await children.stop(proc, grace=5.0)
    return proc.returncode or 0, output.decode(errors="replace")


# -- servers --------------------------------------------------------------------


@dataclass
class Server:
    """One server, or several processes of the product on one port (their
    CPU and memory summed, each with the processes it started itself)."""

    kind: str
    proc: asyncio.subprocess.Process
    url: str
    log_path: Path
    drain: asyncio.Task[None] | None = None
    others: list[Server] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def procs(self) -> list[asyncio.subprocess.Process]:
        return [self.proc, *(other.proc for other in self.others)]

    def died(self) -> bool:
        return any(proc.returncode is not None for proc in self.procs)

    def sample(self) -> ProcSample:
        """CPU ticks, RSS and run-queue wait summed over the server's
        processes and their descendants (``csms serve``'s rating worker)."""
        return sum_samples(read_tree(proc.pid) for proc in self.procs)

    def log_tail(self, lines: int = 20) -> str:
        tails = []
        for log_path in [self.log_path, *(other.log_path for other in self.others)]:
            with contextlib.suppress(OSError):
                tails.append("\n".join(log_path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(tails)


def sum_samples(samples: Iterable[ProcSample]) -> ProcSample:
    ticks = rss = delay = 0
    for sample in samples:
        ticks += sample.cpu_ticks
        rss += sample.rss_bytes
        delay += sample.run_delay_ns
    return ProcSample(ticks, rss, delay)


def descendants(pid: int) -> list[int]:
    """The processes ``pid`` started, and theirs (from /proc/PID/task/*/children)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{parent}/task"):
                with (
                    contextlib.suppress(OSError),
                    open(f"/proc/{parent}/task/{task}/children") as file,
                ):
                    for child in file.read().split():
                        found.append(int(child))
                        todo.append(int(child))
    return found


def read_tree(pid: int) -> ProcSample:
    """read_proc of a process plus its live descendants'."""
    samples = [read_proc(pid)]
    for child in descendants(pid):
        with contextlib.suppress(OSError, ValueError):
            samples.append(read_proc(child))
    return sum_samples(samples)


def csms_command() -> list[str]:
    script = Path(sys.executable).with_name("csms")
    return [str(script)] if script.exists() else [sys.executable, "-m", "csms"]


def csms_argv(plan: Plan, command: str = "gateway") -> list[str]:
    """``csms gateway`` or ``csms serve``, through benchmarks.csms_gc when a
    GC setting is tried."""
    if not plan.csms_gc:
        return [*csms_command(), command]
    return [sys.executable, "-m", "benchmarks.csms_gc", *plan.csms_gc.split(), "--", command]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_server(
    children: Children,
    kind: str,
    workdir: Path,
    *,
    env: dict[str, str] | None = None,
    argv: list[str] | None = None,
    processes: int = 1,
    redis_url: str = "",
) -> Server:
    """The server, started and listening. ``processes`` > 1 (the product
    only): that many processes on one port (``CSMS_OCPP_REUSE_PORT``), each
    with its own node name and HTTP port, sharing ``redis_url``."""
    if processes > 1:
        assert env is not None, "several processes: the product only"
        port = free_port()
        # Redis keys and node names of this run only: an earlier run's
        # directory entries (they expire by themselves) are never this run's.
        run_tag = uuid.uuid4().hex[:8]
        servers: list[Server] = []
        try:
            for index in range(processes):
                one_env = {
                    **env,
                    "CSMS_OCPP_PORT": str(port),
                    "CSMS_OCPP_REUSE_PORT": "1",
                    "CSMS_NODE_NAME": f"bench-{run_tag}-{index + 1}",
                    "CSMS_HTTP_PORT": str(free_port()),
                    "CSMS_REDIS_URL": redis_url,
                    "CSMS_REDIS_PREFIX": f"csms-bench-{run_tag}:",
                }
                servers.append(await start_server(children, kind, workdir, env=one_env, argv=argv))
        except BaseException:
            for started in servers:
                await children.stop(started.proc)
            raise
        first = servers[0]
        first.others = servers[1:]
        return first
    if argv is None:
        if kind == "csms":
            argv = [*csms_command(), "gateway"]
        else:
            argv = [sys.executable, "-m", f"benchmarks.{kind}_server", "--port", "0"]
    log_path = workdir / f"{kind}-{time.monotonic_ns()}.log"
    stderr = _open_log(log_path)
    try:
        proc = await children.spawn(argv, env=env, stderr=stderr)
    finally:
        stderr.close()
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    lines: list[str] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError(f"{kind} did not start in time: {lines}")
        try:
            raw = await asyncio.wait_for(proc.stdout.readline(), remaining)
        except TimeoutError:
            continue
        if not raw:
            await proc.wait()
            tail = Server(kind, proc, "", log_path).log_tail()
            raise RuntimeError(f"{kind} exited ({proc.returncode}) before listening:\n{tail}")
        line = raw.decode(errors="replace").strip()
        lines.append(line)
        match = BANNER.search(line)
        if match:
            break
    server = Server(kind, proc, f"ws://127.0.0.1:{match.group(1)}/ocpp", log_path)
    server.drain = asyncio.create_task(_drain(proc))
    return server


def _open_log(path: Path) -> Any:
    return open(path, "wb")  # closed once the child has it


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    while await proc.stdout.readline():
        pass


async def stop_server(children: Children, server: Server) -> None:
    for proc in reversed(server.procs):
        await children.stop(proc)


# -- the product's environment ----------------------------------------------------


class CsmsDatabase:
    """A fresh database for one gateway run: a SQLite file in a temp
    directory, or a new database on a PostgreSQL server (dropped after)."""

    def __init__(self, base: str, workdir: Path) -> None:
        self.base = base
        self.workdir = workdir
        self.pg_name: str | None = None
        if base.startswith(("postgresql://", "postgres://")):
            self.pg_name = f"csms_bench_{uuid.uuid4().hex[:12]}"
            parts = urlsplit(base)
            self.url = urlunsplit(parts._replace(path=f"/{self.pg_name}"))
        else:
            self.url = f"sqlite:///{workdir.resolve()}/csms.sqlite"

    async def create(self) -> None:
        if self.pg_name is not None:
            await _pg_admin(self.base, f'CREATE DATABASE "{self.pg_name}"')

    async def drop(self) -> None:
        if self.pg_name is not None:
            await _pg_admin(self.base, f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')


async def count_rows(database: CsmsDatabase, table: str) -> int:
    """Rows in one of the product's tables (a committed answer is a row)."""
    if database.pg_name is not None:
        import asyncpg

        connection = await asyncpg.connect(database.url)
        try:
            return int(await connection.fetchval(f'SELECT count(*) FROM "{table}"'))
        finally:
            await connection.close()
    path = database.url.removeprefix("sqlite:///")
    return await asyncio.to_thread(_sqlite_count, path, table)


def _sqlite_count(path: str, table: str) -> int:
    import sqlite3

    with contextlib.closing(sqlite3.connect(path, timeout=30)) as connection:
        return int(connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])


async def _pg_admin(url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def write_tags_csv(path: Path, count: int) -> None:
    """The CSV ``csms tag import`` reads: every station's own id token."""
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["uid"])
        for index in range(count):
            writer.writerow([id_token(station_id(index))])


def write_stations_csv(path: Path, count: int, seed: str) -> None:
    """The CSV ``csms station import`` reads: charge_point_id,secret."""
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["charge_point_id", "secret"])
        for index in range(count):
            cid = station_id(index)
            writer.writerow([cid, station_secret(seed, cid)])


_IMPORT_SUPPORTED: bool | None = None


async def station_import_supported(children: Children, env: dict[str, str]) -> bool:
    global _IMPORT_SUPPORTED
    if _IMPORT_SUPPORTED is None:
        status, _ = await run_command(
            children, [*csms_command(), "station", "import", "--help"], env, timeout=60
        )
        _IMPORT_SUPPORTED = status == 0
    return _IMPORT_SUPPORTED


@dataclass
class CsmsSetup:
    env: dict[str, str]
    database: CsmsDatabase
    provisioning: str  # "import" or "accept"
    secret_seed: str  # "" when the stations have no password


@contextlib.asynccontextmanager
async def csms_environment(
    children: Children, plan: Plan, workdir: Path, stations: int, *, tokens: bool = False
) -> AsyncIterator[CsmsSetup]:
    """A fresh migrated database with ``stations`` stations provisioned
    (with ``tokens``, each station's own id token too), and the environment
    for ``csms gateway`` on it."""
    database = CsmsDatabase(plan.database, workdir)
    await database.create()
    try:
        env = {
            # Redis and a shared port only where --csms-processes asks for them.
            **{k: v for k, v in os.environ.items() if k not in SHARED_SETTINGS},
            "CSMS_DATABASE_URL": database.url,
            "CSMS_OCPP_HOST": "127.0.0.1",
            "CSMS_OCPP_PORT": "0",
            "CSMS_HTTP_HOST": "127.0.0.1",
            "CSMS_HTTP_PORT": str(free_port()),
            "CSMS_LOG_LEVEL": "WARNING",
        }
        status, output = await run_command(children, [*csms_command(), "migrate"], env)
        if status != 0:
            raise RuntimeError(f"csms migrate failed ({status}):\n{output}")
        if await station_import_supported(children, env):
            seed = plan.seed
            path = workdir / "stations.csv"
            write_stations_csv(path, stations, seed)
            started = time.monotonic()
            status, output = await run_command(
                children, [*csms_command(), "station", "import", str(path)], env
            )
            if status != 0:
                raise RuntimeError(f"csms station import failed ({status}):\n{output}")
            log(f"imported {stations} stations in {time.monotonic() - started:.1f} s")
            if tokens:
                # The sessions start with the station's own id token:
                # known, so that authorisation (and its ConcurrentTx check) runs.
                tags = workdir / "tags.csv"
                write_tags_csv(tags, stations)
                status, output = await run_command(
                    children, [*csms_command(), "tag", "import", str(tags)], env
                )
                if status != 0:
                    raise RuntimeError(f"csms tag import failed ({status}):\n{output}")
            env["CSMS_UNKNOWN_STATIONS"] = "reject"
            yield CsmsSetup(env, database, "import", seed)
        else:
            env["CSMS_UNKNOWN_STATIONS"] = "accept"
            yield CsmsSetup(env, database, "accept", "")
    finally:
        await database.drop()


# -- the load generator -----------------------------------------------------------


_source_nets = itertools.cycle(range(random.randrange(1, 120), 256))
_NODE_READY: bool | None = None


def default_load() -> str:
    """node when it is installed (the load side that is not the bottleneck)."""
    return "node" if shutil.which("node") else "python"


async def ensure_node_loadgen(children: Children) -> None:
    """``npm ci`` of benchmarks/node_loadgen when its ws package is missing
    (the benchmark's own set-up, as scripts/test does for the interop client)."""
    global _NODE_READY
    if _NODE_READY:
        return
    if not (NODE_LOADGEN / "node_modules" / "ws" / "package.json").exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("--load node needs npm to install benchmarks/node_loadgen")
        log("installing the Node.js load generator (npm ci --prefix benchmarks/node_loadgen)")
        status, output = await run_command(
            children,
            [
                npm,
                "ci",
                "--prefix",
                str(NODE_LOADGEN),
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ],
            dict(os.environ),
            timeout=300,
        )
        if status != 0:
            raise RuntimeError(f"npm ci failed ({status}):\n{output}")
    _NODE_READY = True


def split_stations(count: int, processes: int) -> list[tuple[int, int]]:
    """(first, count) of each of ``processes`` generators sharing ``count``
    stations: contiguous slices, sizes differing by at most one."""
    processes = max(1, min(processes, count))
    size, extra = divmod(count, processes)
    slices = []
    first = 0
    for index in range(processes):
        n = size + (1 if index < extra else 0)
        slices.append((first, n))
        first += n
    return slices


def read_raw(path: str | None) -> array[float]:
    values = array("d")
    if path:
        with contextlib.suppress(OSError):
            with open(path, "rb") as file:
                values.frombytes(file.read())
            os.unlink(path)
    return values


def _nan_if_none(summary: dict[str, Any]) -> dict[str, Any]:
    # JSON has no NaN: the Node generator's "no sample" arrives as null.
    return {k: (math.nan if v is None else v) for k, v in summary.items()}


def merge_counters(dicts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for one in dicts:
        total.update(one or {})
    return dict(total)


RESULT_SUMS = (
    "calls",
    "calls_per_s",
    "call_errors",
    "mismatched_ids",
    "closed_under_call",
    "unanswered",
    "late_sends",
    "meter_values_answered",
    "samples_answered",
    "errors",
    "connections",
    "held",
)


def merge_results(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One run's result from the results of several generator processes:
    counts summed, percentiles over the merged raw latency samples (exact),
    or, where a generator wrote none, the worst of theirs."""
    if len(results) == 1 and not results[0].get("raw"):
        return _nan_if_none(results[0])
    merged: dict[str, Any] = {"cmd": results[0].get("cmd")}
    for key in RESULT_SUMS:
        if any(key in r for r in results):
            merged[key] = sum(r.get(key, 0) for r in results)
    merged["error_codes"] = merge_counters(r.get("error_codes", {}) for r in results)
    if all(r.get("raw", {}).get("latency") for r in results):
        latencies = array("d")
        for r in results:
            latencies.extend(read_raw(r["raw"]["latency"]))
        merged.update(summarize(latencies))
        merged["samples_merged"] = len(latencies)
    else:
        for key in ("p50_ms", "p99_ms", "max_ms"):
            values = [r[key] for r in results if r.get(key) is not None]
            merged[key] = max(values) if values else math.nan
    merged["load_processes"] = len(results)
    return merged


def merge_ready(events: list[dict[str, Any]]) -> dict[str, Any]:
    """One connect report from several generators': counts summed, the
    connect durations and the boots per second from the merged raw samples
    (wall-clock times, comparable between processes)."""
    if len(events) == 1 and not events[0].get("raw"):
        return events[0]
    merged: dict[str, Any] = {
        "requested": sum(e["requested"] for e in events),
        "connected_and_booted": sum(e["connected_and_booted"] for e in events),
        "transactions_started": sum(e.get("transactions_started", 0) for e in events),
        "start_status": merge_counters(e.get("start_status", {}) for e in events),
        "ocpp": events[0].get("ocpp", "1.6"),
        "boot_status": merge_counters(e["boot_status"] for e in events),
        "http_status": merge_counters(e["http_status"] for e in events),
        "connect_failures": merge_counters(e["connect_failures"] for e in events),
        "seconds": max(e["seconds"] for e in events),
        "load_processes": len(events),
    }
    raws = [e.get("raw", {}) for e in events]
    for name in ("per_station", "handshake", "boot"):
        if all(raw.get(name) for raw in raws):
            values = array("d")
            for raw in raws:
                values.extend(read_raw(raw[name]))
            merged[name] = summarize(values)
        else:
            merged[name] = {
                key: max((e[name][key] or 0.0) for e in events)
                for key in ("p50_ms", "p99_ms", "max_ms")
            }
    if all(raw.get("started_epoch") and raw.get("booted_epoch") for raw in raws):
        started = array("d")
        booted = array("d")
        for raw in raws:
            started.extend(read_raw(raw["started_epoch"]))
            booted.extend(read_raw(raw["booted_epoch"]))
        origin = min(started) if started else 0.0
        merged["first_connect_to_last_boot_s"] = (max(booted) - origin) if booted else None
        merged["booted_by_second"] = cumulative_per_second(list(booted), origin)
    else:
        spans = [e["first_connect_to_last_boot_s"] for e in events]
        merged["first_connect_to_last_boot_s"] = (
            max(x for x in spans if x is not None) if any(x is not None for x in spans) else None
        )
        merged["booted_by_second"] = []
    return merged


def cumulative_per_second(times: list[float], origin: float, limit: int = 600) -> list[int]:
    """How many of ``times`` had happened 1, 2, 3... s after ``origin``."""
    from benchmarks.loadgen import _cumulative_per_second

    return _cumulative_per_second(times, origin, limit)


class LoadGen:
    """The load side: one or several generator processes (the Python
    ``benchmarks.loadgen`` or the Node.js ``node_loadgen/loadgen.mjs``),
    the stations split between them, driven and merged as one."""

    def __init__(
        self,
        procs: list[asyncio.subprocess.Process],
        raw_dir: Path,
        slices: list[tuple[int, int]] | None = None,
    ) -> None:
        self.procs = procs
        self.raw_dir = raw_dir
        # (offset of its first station, stations) per process
        self.slices = slices or [(0, 0)] * len(procs)

    @classmethod
    async def start(
        cls,
        children: Children,
        url: str,
        count: int,
        *,
        secret_seed: str = "",
        concurrency: int = 200,
        timeout: float = 60.0,
        first: int = 0,
        load: str = "python",
        processes: int = 1,
        ocpp: str = "1.6",
    ) -> LoadGen:
        if load == "node":
            await ensure_node_loadgen(children)
        raw_dir = Path(tempfile.mkdtemp(prefix="csms-bench-raw-"))
        slices = split_stations(count, processes)
        procs = []
        for offset, n in slices:
            common = [
                "--url",
                url,
                "--count",
                str(n),
                "--first",
                str(first + offset),
                # The handshakes in flight are the load side's, not each process's.
                "--connect-concurrency",
                str(max(1, concurrency // len(slices)) if concurrency else 0),
                "--timeout",
                str(timeout),
                "--source-net",
                str(next(_source_nets)),
                "--ocpp",
                ocpp,
                "--raw-dir",
                str(raw_dir),
            ]
            if secret_seed:
                common += ["--secret-seed", secret_seed]
            if load == "node":
                argv = [
                    shutil.which("node") or "node",
                    # Fewer young-generation collections with thousands of sockets.
                    "--max-semi-space-size=32",
                    str(NODE_LOADGEN / "loadgen.mjs"),
                    *common,
                ]
            else:
                argv = [sys.executable, "-m", "benchmarks.loadgen", *common]
            procs.append(await children.spawn(argv, stdin=asyncio.subprocess.PIPE))
        return cls(procs, raw_dir, slices)

    @property
    def pid(self) -> int:
        return self.procs[0].pid

    def cpu_ticks(self) -> int:
        """CPU of every load process, summed."""
        return sum_samples(read_proc(proc.pid) for proc in self.procs).cpu_ticks

    async def _event(
        self, proc: asyncio.subprocess.Process, name: str, timeout: float
    ) -> dict[str, Any]:
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {name!r} from the load generator in {timeout:.0f} s")
            raw = await asyncio.wait_for(proc.stdout.readline(), remaining)
            if not raw:
                raise RuntimeError(f"the load generator exited before {name!r}")
            event = json.loads(raw)
            if event.get("event") == "error":
                raise RuntimeError(f"load generator: {event.get('message')}")
            if event.get("event") == name:
                return dict(event)

    async def events(self, name: str, timeout: float) -> list[dict[str, Any]]:
        return list(
            await asyncio.gather(*(self._event(proc, name, timeout) for proc in self.procs))
        )

    async def event(self, name: str, timeout: float) -> dict[str, Any]:
        """The event from every generator, merged (ready and result)."""
        events = await self.events(name, timeout)
        if name == "ready":
            return merge_ready(events)
        if name == "result":
            return merge_results(events)
        return events[0]

    async def send(self, command: dict[str, Any]) -> None:
        for proc, (offset, _) in zip(self.procs, self.slices, strict=True):
            one = command
            if command.get("cmd") == "rate" and len(self.procs) > 1:
                # The fixed rate is the load side's: each process schedules
                # its stations in their place among all of them (station g
                # at g / rate, every total / rate seconds).
                total = sum(n for _, n in self.slices)
                one = {**command, "spread": {"total": total, "before": offset}}
            assert proc.stdin is not None
            proc.stdin.write((json.dumps(one) + "\n").encode())
        for proc in self.procs:
            assert proc.stdin is not None
            await proc.stdin.drain()

    async def measured(self, server: Server, command: dict[str, Any]) -> dict[str, Any]:
        """Runs a closed-loop or fixed-rate command; adds the server's and
        the load side's CPU over the measured window."""
        await self.send(command)
        window = float(command["warmup"]) + float(command["duration"])
        await self.events("window_start", timeout=window + 30)
        t0, server0, gen0 = time.perf_counter(), server.sample(), self.cpu_ticks()
        await self.events("window_end", timeout=window + 30)
        t1, server1, gen1 = time.perf_counter(), server.sample(), self.cpu_ticks()
        result = await self.event("result", timeout=60)
        result["server_cpu_pct"] = cpu_percent(
            server0.cpu_ticks, server1.cpu_ticks, t1 - t0, CLK_TCK
        )
        result["loadgen_cpu_pct"] = cpu_percent(gen0, gen1, t1 - t0, CLK_TCK)
        # Runnable but not running: the CPU went to another process (the
        # load generator, or other work on a shared machine).
        result["server_cpu_wait_pct"] = (
            100 * (server1.run_delay_ns - server0.run_delay_ns) / 1e9 / (t1 - t0)
        )
        result["server_rss_mib_after"] = server1.rss_bytes / 2**20
        return result

    async def quit(self, children: Children) -> None:
        with contextlib.suppress(Exception):
            await self.send({"cmd": "quit"})
        for proc in self.procs:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 10)
            await children.stop(proc, grace=2.0)
        shutil.rmtree(self.raw_dir, ignore_errors=True)


# -- the measurements ---------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """What one measured run is: the server, and for the product its command,
    its processes and the OCPP version the stations speak."""

    kind: str
    ocpp: str = "1.6"
    command: str = "gateway"
    processes: int = 1

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"server": self.kind, "ocpp": self.ocpp}
        if self.kind == "csms":
            out["command"] = self.command
            out["processes"] = self.processes
        return out


async def persistence_check(
    database: CsmsDatabase, ocpp: str, samples_answered: int, transactions_started: int
) -> dict[str, Any]:
    """Is every answered meter value in the database? 1.6: the 4 sampled
    values of every answered MeterValues in ``meter_value``. 2.0.1: the
    sampled value of every answered TransactionEvent Updated, plus the
    Transaction.Begin one of every Started, in ``meter_value`` (where 2.0.1
    samples go too). Both: one ``charging_session`` per station that
    started one (StartTransaction or TransactionEvent Started answered)."""
    rows = await count_rows(database, "meter_value")
    expected = samples_answered + (transactions_started if ocpp == "2.0.1" else 0)
    sessions = await count_rows(database, "charging_session")
    return {
        "ocpp": ocpp,
        "samples_answered": samples_answered,
        "meter_value_rows": rows,
        "expected_rows": expected,
        "transactions_started": transactions_started,
        "sessions": sessions,
        "ok": rows >= expected and sessions >= transactions_started,
    }


def _persistence_line(check: dict[str, Any]) -> str:
    text = (
        f"{check['meter_value_rows']:,} meter_value rows for {check['expected_rows']:,} "
        "answered sampled values"
    )
    if check.get("ocpp") == "2.0.1":
        text += " (TransactionEvent Updated and Started)"
    elif "meter_values_answered" in check:
        text += f" ({check['meter_values_answered']:,} MeterValues, 4 samples each)"
    if "sessions" in check:
        text += (
            f", {check['sessions']:,} sessions for {check['transactions_started']:,} "
            "stations that started one"
        )
    if "start_status" in check:
        text += f" (the start's idTagInfo / idTokenInfo: {check['start_status'] or 'none'})"
    return text + (": ok" if check["ok"] else ": MISSING ROWS")


async def start_variant(
    children: Children,
    plan: Plan,
    variant: Variant,
    workdir: Path,
    env: dict[str, str] | None,
) -> Server:
    argv = csms_argv(plan, variant.command) if variant.kind == "csms" else None
    return await start_server(
        children,
        variant.kind,
        workdir,
        env=env,
        argv=argv,
        processes=variant.processes if variant.kind == "csms" else 1,
        redis_url=plan.redis_url,
    )


def start_load(
    children: Children,
    plan: Plan,
    server: Server,
    n: int,
    variant: Variant,
    seed: str,
    *,
    first: int = 0,
    concurrency: int = 200,
    timeout: float = 60.0,
) -> Any:
    return LoadGen.start(
        children,
        server.url,
        n,
        secret_seed=seed,
        first=first,
        concurrency=concurrency,
        timeout=timeout,
        load=plan.load,
        processes=plan.load_processes,
        ocpp=variant.ocpp,
    )


async def bench_server(
    children: Children, plan: Plan, kind: str, n: int, workdir: Path, variant: Variant | None = None
) -> dict[str, Any]:
    """Closed loop and fixed rate for one (server, N), with CPU and RSS."""
    variant = variant or Variant(kind)
    result: dict[str, Any] = {**variant.describe(), "connections": n, "load": plan.load}
    async with contextlib.AsyncExitStack() as stack:
        env = None
        seed = plan.seed
        if kind == "csms":
            setup = await stack.enter_async_context(
                csms_environment(children, plan, workdir, n, tokens=True)
            )
            env, seed = setup.env, setup.secret_seed
            result["provisioning"] = setup.provisioning
            result["database"] = "postgresql" if setup.database.pg_name else "sqlite"
        server = await start_variant(children, plan, variant, workdir, env)
        stack.push_async_callback(stop_server, children, server)
        profiler = None
        await asyncio.sleep(plan.settle)
        base = server.sample()
        started = time.monotonic()
        gen = await start_load(children, plan, server, n, variant, seed)
        stack.push_async_callback(gen.quit, children)
        ready = await gen.event("ready", timeout=300)
        result["connect"] = ready
        result["connect_seconds"] = time.monotonic() - started
        if ready["connected_and_booted"] != n:
            log(f"{kind} N={n}: only {ready['connected_and_booted']} of {n} booted: {ready}")
        await asyncio.sleep(plan.settle)
        idle = server.sample()
        result["rss_base_mib"] = base.rss_bytes / 2**20
        result["rss_idle_mib"] = idle.rss_bytes / 2**20
        booted = max(ready["connected_and_booted"], 1)
        result["rss_per_connection_kib"] = (idle.rss_bytes - base.rss_bytes) / booted / 1024
        closed_command = {"cmd": "closed", "warmup": plan.warmup, "duration": plan.duration}
        if plan.profile and kind == "csms":
            profiler = await start_profiler(children, plan, server, workdir)
        result["closed"] = await gen.measured(server, closed_command)
        if profiler is not None:
            result["profile"] = await finish_profiler(children, profiler, plan.profile_out)
        log(_one_line(run_label(result), n, "closed", result["closed"]))
        if not plan.profile:
            rate_command = {
                "cmd": "rate",
                "rate": plan.rate,
                "warmup": plan.warmup,
                "duration": plan.duration,
            }
            result["rate"] = await gen.measured(server, rate_command)
            log(_one_line(run_label(result), n, "rate", result["rate"]))
        if server.died():
            raise RuntimeError(f"{kind} died during the run:\n{server.log_tail()}")
        if kind == "csms":
            runs = [result[s] for s in ("closed", "rate") if s in result]
            check = await persistence_check(
                setup.database,
                variant.ocpp,
                sum(r["samples_answered"] for r in runs),
                ready.get("transactions_started", 0),
            )
            check["meter_values_answered"] = sum(r["meter_values_answered"] for r in runs)
            check["start_status"] = ready.get("start_status", {})
            result["persistence"] = check
            if not check["ok"]:
                log(f"{run_label(result)} N={n}: {_persistence_line(check)}")
    return result


async def bench_churn(
    children: Children, plan: Plan, variant: Variant, workdir: Path
) -> dict[str, Any]:
    """On ONE server: ``first`` stations connect, run a closed loop and go
    (their processes exit, the sockets close under the server); then
    ``second`` other stations connect and run the measured closed loop. A
    server that slows down or keeps memory for stations that came and went
    shows it against a fresh run of ``second`` stations."""
    first, second = plan.churn
    kind = variant.kind
    out: dict[str, Any] = {**variant.describe(), "first": first, "second": second}
    async with contextlib.AsyncExitStack() as stack:
        env = None
        seed = plan.seed
        if kind == "csms":
            setup = await stack.enter_async_context(
                csms_environment(children, plan, workdir, first + second, tokens=True)
            )
            env, seed = setup.env, setup.secret_seed
            out["database"] = "postgresql" if setup.database.pg_name else "sqlite"
        server = await start_variant(children, plan, variant, workdir, env)
        stack.push_async_callback(stop_server, children, server)
        await asyncio.sleep(plan.settle)
        fresh = server.sample()
        closed_command = {"cmd": "closed", "warmup": plan.warmup, "duration": plan.duration}
        gen = await start_load(children, plan, server, first, variant, seed)
        try:
            ready_first = await gen.event("ready", timeout=300)
            await asyncio.sleep(plan.settle)
            idle_first = server.sample()
            out["first_closed"] = await gen.measured(server, closed_command)
            # Still connected: what the run itself left, before anyone leaves.
            await asyncio.sleep(plan.settle)
            first_ran = server.sample()
            log(_one_line(run_label(out) + " churn, first", first, "closed", out["first_closed"]))
        finally:
            await gen.quit(children)
        # The server notices the closed sockets at once; give it time to
        # clean up (and its collector to run) before the "after" figure.
        await asyncio.sleep(max(plan.settle, 3.0))
        after = server.sample()
        gen = await start_load(children, plan, server, second, variant, seed, first=first)
        try:
            ready_second = await gen.event("ready", timeout=300)
            await asyncio.sleep(plan.settle)
            idle_second = server.sample()
            out["closed"] = await gen.measured(server, closed_command)
            log(_one_line(run_label(out) + " churn, second", second, "closed", out["closed"]))
        finally:
            await gen.quit(children)
        if server.died():
            raise RuntimeError(f"{kind} died during the churn run:\n{server.log_tail()}")
        mib = 2**20
        out.update(
            {
                "connect_first": ready_first,
                "connect": ready_second,
                "rss_fresh_mib": fresh.rss_bytes / mib,
                "rss_idle_first_mib": idle_first.rss_bytes / mib,
                "rss_after_first_run_mib": first_ran.rss_bytes / mib,
                "rss_after_first_left_mib": after.rss_bytes / mib,
                "rss_idle_second_mib": idle_second.rss_bytes / mib,
                "rss_per_connection_second_kib": (idle_second.rss_bytes - after.rss_bytes)
                / max(ready_second["connected_and_booted"], 1)
                / 1024,
            }
        )
        if kind == "csms":
            runs = [out["first_closed"], out["closed"]]
            out["persistence"] = await persistence_check(
                setup.database,
                variant.ocpp,
                sum(r["samples_answered"] for r in runs),
                ready_first.get("transactions_started", 0)
                + ready_second.get("transactions_started", 0),
            )
    return out


async def storm_reference(children: Children, plan: Plan, workdir: Path) -> dict[str, Any]:
    """The same boot storm against the echo server: what the load generator,
    the kernel and websockets' handshakes cost on this machine by themselves."""
    server = await start_server(children, "echo", workdir)
    try:
        await asyncio.sleep(plan.settle)
        gen = await start_load(
            children, plan, server, plan.storm, Variant("echo"), "", concurrency=0, timeout=180
        )
        try:
            ready = await gen.event("ready", timeout=600)
        finally:
            await gen.quit(children)
    finally:
        await stop_server(children, server)
    log(
        f"storm against the echo server: {ready['connected_and_booted']}/{plan.storm} in "
        f"{ready['first_connect_to_last_boot_s'] or 0:.1f} s"
    )
    return {
        "stations": plan.storm,
        "booted": ready["connected_and_booted"],
        "first_connect_to_last_boot_s": ready["first_connect_to_last_boot_s"],
        "connect_failures": ready["connect_failures"],
        "handshake": ready["handshake"],
        "boot": ready["boot"],
    }


async def bench_capacity_and_storm(children: Children, plan: Plan, workdir: Path) -> dict[str, Any]:
    """Capacity: ``plan.capacity`` idle booted connections on one gateway.
    Storm: the gateway restarted, then ``plan.storm`` stations connect and
    boot at once."""
    out: dict[str, Any] = {}
    do_capacity = "capacity" in plan.only
    do_storm = "storm" in plan.only
    stations = max(plan.capacity if do_capacity else 0, plan.storm if do_storm else 0)
    variant = Variant("csms", plan.ocpp[0], plan.csms_commands[0], plan.csms_processes[0])
    out["variant"] = variant.describe()
    async with csms_environment(children, plan, workdir, stations, tokens=True) as setup:
        port = free_port()
        env = {**setup.env, "CSMS_OCPP_PORT": str(port)}
        if do_capacity:
            server = await start_variant(children, plan, variant, workdir, env)
            gen: LoadGen | None = None
            try:
                await asyncio.sleep(plan.settle)
                base = server.sample()
                gen = await start_load(
                    children,
                    plan,
                    server,
                    plan.capacity,
                    variant,
                    setup.secret_seed,
                    concurrency=500,
                    timeout=120,
                )
                t0, gen0 = time.perf_counter(), gen.cpu_ticks()
                ready = await gen.event("ready", timeout=600)
                t1, server1, gen1 = time.perf_counter(), server.sample(), gen.cpu_ticks()
                await asyncio.sleep(max(plan.settle, 3.0))
                idle = server.sample()
                await asyncio.sleep(5.0)
                await gen.send({"cmd": "sweep"})
                sweep = await gen.event("result", timeout=300)
                held = server.sample()
                booted = ready["connected_and_booted"]
                out["capacity"] = {
                    "requested": plan.capacity,
                    "booted": booted,
                    "held_after_5s": sweep["held"],
                    "all_held": sweep["held"] == plan.capacity,
                    "connect_seconds": ready["seconds"],
                    "connect": ready,
                    "sweep": sweep,
                    "rss_base_mib": base.rss_bytes / 2**20,
                    "rss_idle_mib": idle.rss_bytes / 2**20,
                    "rss_held_mib": held.rss_bytes / 2**20,
                    "rss_per_connection_kib": (idle.rss_bytes - base.rss_bytes)
                    / max(booted, 1)
                    / 1024,
                    "server_cpu_pct": cpu_percent(
                        base.cpu_ticks, server1.cpu_ticks, t1 - t0, CLK_TCK
                    ),
                    "loadgen_cpu_pct": cpu_percent(gen0, gen1, t1 - t0, CLK_TCK),
                    "provisioning": setup.provisioning,
                }
                log(
                    f"capacity: {booted}/{plan.capacity} booted in {ready['seconds']:.1f} s, "
                    f"{sweep['held']} held, RSS {idle.rss_bytes / 2**20:.0f} MiB"
                )
            finally:
                # The restart: the gateway goes away under its connections.
                await stop_server(children, server)
                if gen is not None:
                    await gen.quit(children)
        if do_storm:
            out["storm_reference"] = await storm_reference(children, plan, workdir)
            server = await start_variant(children, plan, variant, workdir, env)
            try:
                await asyncio.sleep(plan.settle)
                profiler = None
                if plan.profile:
                    profiler = await start_profiler(
                        children, plan, server, workdir, seconds=600, name="storm"
                    )
                    await asyncio.sleep(1.0)  # py-spy attached
                server0 = server.sample()
                t0 = time.perf_counter()
                gen = await start_load(
                    children,
                    plan,
                    server,
                    plan.storm,
                    variant,
                    setup.secret_seed,
                    concurrency=0,
                    timeout=180,
                )
                try:
                    gen0 = gen.cpu_ticks()
                    ready = await gen.event("ready", timeout=600)
                    t1, server1, gen1 = time.perf_counter(), server.sample(), gen.cpu_ticks()
                    if profiler is not None:
                        out["storm_profile"] = await finish_profiler(
                            children, profiler, storm_profile_path(plan.profile_out), now=True
                        )
                finally:
                    await gen.quit(children)
                out["storm"] = {
                    "stations": plan.storm,
                    "after_restart_of_a_gateway_holding": plan.capacity if do_capacity else 0,
                    "accepted": ready["boot_status"].get("Accepted", 0),
                    "boot_status": ready["boot_status"],
                    "http_status": ready["http_status"],
                    "connect_failures": ready["connect_failures"],
                    "first_connect_to_last_boot_s": ready["first_connect_to_last_boot_s"],
                    "per_station": ready["per_station"],
                    "handshake": ready["handshake"],
                    "boot": ready["boot"],
                    "booted_by_second": ready["booted_by_second"],
                    "all_accepted": ready["boot_status"].get("Accepted", 0) == plan.storm,
                    "rss_after_mib": server1.rss_bytes / 2**20,
                    "server_cpu_pct": cpu_percent(
                        server0.cpu_ticks, server1.cpu_ticks, t1 - t0, CLK_TCK
                    ),
                    "loadgen_cpu_pct": cpu_percent(gen0, gen1, t1 - t0, CLK_TCK),
                    "provisioning": setup.provisioning,
                }
                log(
                    f"storm: {out['storm']['accepted']}/{plan.storm} accepted in "
                    f"{ready['first_connect_to_last_boot_s'] or 0:.1f} s; "
                    f"http {ready['http_status']}, failures {ready['connect_failures']}"
                )
            finally:
                await stop_server(children, server)
    return out


# -- profiling ---------------------------------------------------------------------


@dataclass
class Profiler:
    kind: str
    proc: asyncio.subprocess.Process | None
    raw_path: Path
    seconds: float
    started: float


async def start_profiler(
    children: Children,
    plan: Plan,
    server: Server,
    workdir: Path,
    *,
    seconds: float | None = None,
    name: str = "profile",
) -> Profiler:
    """py-spy on the server for ``seconds`` (default: the closed-loop run)."""
    raw = workdir / f"{name}.raw.txt"
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    seconds = int(seconds if seconds is not None else plan.warmup + plan.duration + 1)
    options = ["--threads"] + (["--native"] if plan.profile == "py-spy-native" else [])
    proc = await children.spawn(
        [
            py_spy,
            "record",
            "--pid",
            str(server.pid),
            "--duration",
            str(seconds),
            "--rate",
            str(PROFILE_RATE),
            "--format",
            "raw",
            *options,
            "--output",
            str(raw),
        ],
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return Profiler(plan.profile, proc, raw, seconds, time.monotonic())


async def finish_profiler(
    children: Children, profiler: Profiler, out: Path, *, now: bool = False
) -> dict[str, Any]:
    """Waits for py-spy (or, with ``now``, stops it: SIGINT makes it write
    what it has) and writes the summary to ``out``, the stacks beside it."""
    seconds = profiler.seconds
    if profiler.proc is not None:
        if now:
            seconds = time.monotonic() - profiler.started
            with contextlib.suppress(ProcessLookupError):
                os.kill(profiler.proc.pid, signal.SIGINT)
        try:
            await asyncio.wait_for(profiler.proc.wait(), 60)
        finally:
            await children.stop(profiler.proc, grace=10)
    return write_profile(profiler.raw_path, out, seconds)


def write_profile(raw: Path, out: Path, seconds: float) -> dict[str, Any]:
    text = raw.read_text() if raw.exists() else ""
    summary = summarize_collapsed(text, top=30, seconds=seconds)
    out.write_text(format_profile(summary))
    if raw.exists():
        shutil.copy(raw, out.with_suffix(".collapsed.txt"))
    return summary


def _first_gc(frames: list[str]) -> int:
    for index, frame in enumerate(frames):
        if frame.startswith("gc_collect_main"):
            return index
    return len(frames)


def storm_profile_path(path: Path) -> Path:
    return path.with_name(path.stem + "-storm" + path.suffix)


def summarize_collapsed(
    text: str, top: int = 30, seconds: float = 0.0, rate: int = PROFILE_RATE
) -> dict[str, Any]:
    """Where the samples of py-spy's raw output (collapsed stacks, one
    ``frame;frame;...;leaf COUNT`` a line, the thread first with
    ``--threads``) fall, thread by thread: own time per function (the leaf)
    and per line, and cumulative time per Python function (on the stack,
    counted once per sample). Shares are of the thread's samples; its busy
    share is of ``seconds`` x ``rate``, what a thread never idle would give."""
    tables: dict[str, dict[str, Counter[str]]] = {}
    totals: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = "all threads"
        if frames[0].startswith(("thread (", "process ")):
            thread = frames[0].split(": ", 1)[-1]
            frames = frames[1:]
        if not frames:
            continue
        table = tables.setdefault(
            thread,
            {
                "own": Counter(),
                "own_lines": Counter(),
                "cumulative": Counter(),
                "native": Counter(),
                "cumulative_without_gc": Counter(),
                "gc_triggered_in": Counter(),
            },
        )
        totals[thread] += count
        table["own"][_short_frame(frames[-1])] += count
        table["own_lines"][_short_frame(frames[-1], keep_line=True)] += count
        for frame in {_short_frame(f) for f in frames if not _is_native(f)}:
            table["cumulative"][frame] += count
        names = {f.split(" (", 1)[0] for f in frames if _is_native(f)}
        for group, members in NATIVE_GROUPS.items():
            if any(name.startswith(members) for name in names):
                table["native"][group] += count
        if "gc_collect_main" in names:
            # Which Python line's allocation set the collector off.
            python = [f for f in frames[: _first_gc(frames)] if not _is_native(f)]
            if python:
                table["gc_triggered_in"][_short_frame(python[-1], keep_line=True)] += count
        else:
            for frame in {_short_frame(f) for f in frames if not _is_native(f)}:
                table["cumulative_without_gc"][frame] += count

    possible = seconds * rate
    threads: list[dict[str, Any]] = []
    for thread, total in totals.most_common():
        table = tables[thread]
        depth = top if not threads else max(top // 3, 1)

        def ranked(counter: Counter[str], n: int, total: int = total) -> list[Any]:
            return [(name, count, 100 * count / total) for name, count in counter.most_common(n)]

        threads.append(
            {
                "thread": thread,
                "samples": total,
                "busy_pct": 100 * total / possible if possible else 0.0,
                "own": ranked(table["own"], depth),
                "own_lines": ranked(table["own_lines"], max(depth // 2, 1)),
                "cumulative": ranked(table["cumulative"], depth),
                "native": ranked(table["native"], len(NATIVE_GROUPS)),
                "gc_triggered_in": ranked(table["gc_triggered_in"], max(depth // 3, 1)),
                # Only meaningful with --native, where GC frames are seen.
                "cumulative_without_gc": ranked(table["cumulative_without_gc"], depth)
                if table["native"]
                else [],
            }
        )
    return {
        "samples": sum(totals.values()),
        "seconds": seconds,
        "rate": rate,
        "threads": threads,
    }


# Native frames worth naming in a --native profile: samples whose stack holds
# any of these functions, per thread.
NATIVE_GROUPS = {
    "cyclic garbage collector (gc_collect_main)": ("gc_collect_main",),
    "waiting for the GIL (take_gil)": ("take_gil", "drop_gil"),
    "waiting on a lock or queue (PyThread_acquire_lock_timed, pthread_cond_*)": (
        "PyThread_acquire_lock_timed",
        "pthread_cond_timedwait",
        "pthread_cond_wait",
        "sem_clockwait",
        "sem_timedwait",
        "sem_wait",
    ),
    "socket writes (write, send, sendmsg, writev)": ("write", "send", "sendmsg", "writev"),
    "socket reads (read, recv)": ("read", "recv", "recvfrom"),
    "epoll (the event loop polling)": ("epoll_pwait", "epoll_wait"),
    "fsync (fdatasync, fsync)": ("fdatasync", "fsync"),
    "SQLite (sqlite3_step, sqlite3_prepare)": ("sqlite3_step", "sqlite3_prepare_v2"),
    "asyncpg protocol (cython)": ("__pyx_f_7asyncpg",),
}


_FRAME = re.compile(r"(.*) \((.*?)(?::(\d+))?\)$")
_NATIVE_SUFFIXES = (".c", ".h", ".cc", ".cpp", ".pyx", ".pxd")


def _is_native(frame: str) -> bool:
    match = _FRAME.match(frame)
    if not match:
        return True
    name, path, _ = match.groups()
    return name.startswith("0x") or path.endswith(_NATIVE_SUFFIXES) or ".so" in path


def _short_frame(frame: str, keep_line: bool = False) -> str:
    """``name (file.py)``, or ``name (file.py:12)`` with ``keep_line``, with
    the path cut to what follows site-packages, the stdlib or the repo."""
    match = _FRAME.match(frame)
    if not match:
        return frame
    name, path, number = match.groups()
    for marker in ("site-packages/", "/lib/python3.11/", str(REPO_ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    if keep_line and number:
        return f"{name} ({path}:{number})"
    return f"{name} ({path})"


def format_profile(summary: dict[str, Any]) -> str:
    lines = [
        f"{summary['samples']} samples at {summary['rate']} Hz over {summary['seconds']:.0f} s. "
        "A thread blocked in a system call is not sampled; one waiting for a lock "
        "or the GIL is.",
    ]
    for thread in summary["threads"]:
        lines += [
            "",
            f"== {thread['thread']}: {thread['samples']} samples "
            f"(sampled as busy {thread['busy_pct']:.0f}% of the time); "
            "shares are of this thread's samples",
            "own time by function:",
        ]
        lines += [f"  {share:5.1f}%  {n:6d}  {name}" for name, n, share in thread["own"]]
        lines.append("own time, hottest lines:")
        lines += [f"  {share:5.1f}%  {n:6d}  {name}" for name, n, share in thread["own_lines"]]
        lines.append("cumulative, Python functions on the stack:")
        lines += [f"  {share:5.1f}%  {n:6d}  {name}" for name, n, share in thread["cumulative"]]
        if thread["native"]:
            lines.append("native code on the stack (--native):")
            lines += [f"  {share:5.1f}%  {n:6d}  {name}" for name, n, share in thread["native"]]
        if thread["gc_triggered_in"]:
            lines.append("cyclic GC set off by an allocation at:")
            lines += [
                f"  {share:5.1f}%  {n:6d}  {name}" for name, n, share in thread["gc_triggered_in"]
            ]
        if thread["cumulative_without_gc"]:
            lines.append("cumulative without the samples in the GC (the work itself):")
            lines += [
                f"  {share:5.1f}%  {n:6d}  {name}"
                for name, n, share in thread["cumulative_without_gc"]
            ]
    return "\n".join(lines) + "\n"


# -- reporting ---------------------------------------------------------------------


def _one_line(kind: str, n: int, shape: str, r: dict[str, Any]) -> str:
    return (
        f"{kind} N={n} {shape}: {r['calls_per_s']:.0f} calls/s, p50 {r['p50_ms']:.1f} ms, "
        f"p99 {r['p99_ms']:.1f} ms, server CPU {r['server_cpu_pct']:.0f}% "
        f"(+{r['server_cpu_wait_pct']:.0f}% runnable, waiting for a CPU), "
        f"loadgen CPU {r['loadgen_cpu_pct']:.0f}%, errors {r['errors']}"
    )


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(out)


LOADGEN_NAMES = {"node": "node_loadgen/loadgen.mjs", "python": "benchmarks.loadgen"}


def run_label(r: dict[str, Any]) -> str:
    """``(a) websockets echo``, ``(c) csms serve``, ``(c) csms gateway x2``."""
    if r["server"] != "csms":
        return SERVER_LABELS[r["server"]]
    label = f"(c) csms {r.get('command', 'gateway')}"
    processes = r.get("processes", 1)
    return label + (f" x{processes}" if processes != 1 else "")


def render(report: dict[str, Any]) -> str:
    machine = report["machine"]
    plan = report["plan"]
    load = plan.get("load", "python")
    load_processes = plan.get("load_processes", 1)
    parts = [
        f"machine: {machine['cpu_model']}, {machine['cores']} cores, "
        f"{machine['memory_gib']} GiB, Python {machine['python']}, "
        f"file limit {machine['file_limit']}, load average at start {machine['loadavg']}",
        f"revision: {report['revision']}"
        + (f"; (c) run with benchmarks.csms_gc {report['csms_gc']}" if report["csms_gc"] else ""),
        f"load side: {load} ({LOADGEN_NAMES.get(load, load)}), "
        f"{load_processes} process{'es' if load_processes != 1 else ''}; "
        f"(c) database: {plan.get('database', 'sqlite')}"
        + (
            f"; x2, x3...: that many csms processes on one port with Redis {plan['redis_url']}"
            if any(r.get("processes", 1) > 1 for r in report["runs"])
            else ""
        ),
        "",
    ]
    rows = []
    for r in report["runs"]:
        for shape in ("closed", "rate"):
            if shape not in r:
                continue
            m = r[shape]
            rows.append(
                [
                    run_label(r),
                    r.get("ocpp", "1.6"),
                    f"{r['connections']:,}",
                    "closed loop" if shape == "closed" else f"{report['plan']['rate']:,.0f}/s",
                    f"{m['calls_per_s']:,.0f}",
                    f"{m['p50_ms']:.1f}",
                    f"{m['p99_ms']:.1f}",
                    f"{m['max_ms']:.0f}",
                    f"{m['server_cpu_pct']:.0f}",
                    f"{m.get('server_cpu_wait_pct', 0):.0f}",
                    f"{m['loadgen_cpu_pct']:.0f}",
                    f"{r['rss_per_connection_kib']:.1f}",
                    str(m["errors"]),
                ]
            )
    if rows:
        parts.append(
            _table(
                [
                    "server",
                    "OCPP",
                    "N",
                    "load",
                    "calls/s",
                    "p50 ms",
                    "p99 ms",
                    "max ms",
                    "server CPU %",
                    "server waiting for a CPU %",
                    "loadgen CPU %",
                    "RSS/conn KiB",
                    "errors",
                ],
                rows,
            )
        )
        parts.append("")
        connect_rows = [
            [
                run_label(r),
                r.get("ocpp", "1.6"),
                f"{r['connections']:,}",
                f"{r['connect']['connected_and_booted']:,}",
                f"{r['connect']['seconds']:.1f}",
                f"{r['rss_base_mib']:.0f}",
                f"{r['rss_idle_mib']:.0f}",
                f"{r['rss_per_connection_kib']:.1f}",
            ]
            for r in report["runs"]
        ]
        parts.append(
            _table(
                [
                    "server",
                    "OCPP",
                    "N",
                    "booted",
                    "connect+boot s",
                    "RSS before MiB",
                    "RSS idle MiB",
                    "RSS/conn KiB",
                ],
                connect_rows,
            )
        )
        parts.append("")
    ratios = compute_ratios(report["runs"])
    if ratios:
        parts.append(
            _table(
                ["N", "ratio", "closed-loop calls/s", "RSS per idle connection"],
                [
                    [f"{n:,}", name, f"{v['calls']:.2f}", f"{v['rss']:.2f}"]
                    for (n, name), v in ratios.items()
                ],
            )
        )
        parts.append("")
    churn_runs = report.get("churn", [])
    if churn_runs:
        parts.append(render_churn(churn_runs, report["runs"]))
        parts.append("")
    for r in [*report["runs"], *churn_runs]:
        check = r.get("persistence")
        if check:
            where = (
                f"at N={r['connections']:,}"
                if "connections" in r
                else f"in the churn run ({r['first']:,} then {r['second']:,})"
            )
            parts.append(
                f"persisted by {run_label(r)}, OCPP {r.get('ocpp', '1.6')}, {where}: "
                + _persistence_line(check)
            )
    capacity = report.get("capacity")
    if capacity:
        parts.append(
            f"capacity: {capacity['booted']:,} of {capacity['requested']:,} connected and "
            f"booted in {capacity['connect_seconds']:.1f} s; all held 5 s later: "
            f"{'yes' if capacity['all_held'] else 'NO'} ({capacity['held_after_5s']:,} answered "
            f"a Heartbeat); RSS {capacity['rss_base_mib']:.0f} -> "
            f"{capacity['rss_idle_mib']:.0f} MiB "
            f"({capacity['rss_per_connection_kib']:.1f} KiB per connection); CPU while "
            f"connecting: server {capacity['server_cpu_pct']:.0f}%, "
            f"loadgen {capacity['loadgen_cpu_pct']:.0f}%"
        )
    storm = report.get("storm")
    if storm:
        seconds = storm["first_connect_to_last_boot_s"]
        took = f"{seconds:.1f} s" if seconds is not None else "-"
        per = storm["per_station"]
        parts.append(
            f"boot storm: {storm['accepted']:,} of {storm['stations']:,} booted Accepted; "
            f"first connect to last accepted boot {took} "
            f"(per station p50 {per['p50_ms'] / 1000:.1f} s, p99 {per['p99_ms'] / 1000:.1f} s; "
            f"of which the TCP and websocket handshake p50 "
            f"{storm['handshake']['p50_ms'] / 1000:.1f} s, p99 "
            f"{storm['handshake']['p99_ms'] / 1000:.1f} s, and BootNotification to its answer p50 "
            f"{storm['boot']['p50_ms'] / 1000:.1f} s, p99 {storm['boot']['p99_ms'] / 1000:.1f} s); "
            f"HTTP refusals {storm['http_status'] or 'none'}, "
            f"connection failures {storm['connect_failures'] or 'none'}, "
            f"other boot answers "
            f"{ {k: v for k, v in storm['boot_status'].items() if k != 'Accepted'} or 'none' }; "
            f"CPU during the storm: server {storm['server_cpu_pct']:.0f}%, "
            f"loadgen {storm['loadgen_cpu_pct']:.0f}%"
        )
        reference = report.get("storm_reference")
        if reference:
            took = reference["first_connect_to_last_boot_s"]
            parts.append(
                f"the same storm against (a), the echo server: {reference['booted']:,} booted in "
                + (f"{took:.1f} s" if took is not None else "-")
                + f" (handshake p50 {reference['handshake']['p50_ms'] / 1000:.1f} s); "
                "what the load generator, the kernel and websockets cost by themselves"
            )
        parts.append(
            "boot storm, stations booted after 1, 2, 3... s: "
            + ", ".join(f"{n:,}" for n in storm["booted_by_second"])
        )
    return "\n".join(parts)


def _csms_tag(r: dict[str, Any]) -> str:
    """``(c)`` for csms gateway, one process; else what differs."""
    parts = []
    if r.get("command", "gateway") != "gateway":
        parts.append(r["command"])
    if r.get("processes", 1) != 1:
        parts.append(f"x{r['processes']}")
    return "(c)" + (" " + " ".join(parts) if parts else "")


def compute_ratios(runs: list[dict[str, Any]]) -> dict[tuple[int, str], dict[str, float]]:
    """Closed-loop calls/s and RSS per idle connection of each csms run
    against (a) and (b) at the same N and OCPP version, against csms 1.6
    (the 2.0.1 runs) and against one process (the runs with several). The
    OCPP version is named when it is not 1.6."""
    ratios: dict[tuple[int, str], dict[str, float]] = {}

    def key(r: dict[str, Any]) -> tuple[str, str, int, str, int]:
        return (
            r["server"],
            r.get("command", "gateway"),
            r.get("processes", 1),
            r.get("ocpp", "1.6"),
            r["connections"],
        )

    by_key = {key(r): r for r in runs if "closed" in r}

    def add(n: int, name: str, run: dict[str, Any], base: dict[str, Any] | None) -> None:
        if base is None:
            return
        ratios[(n, name)] = {
            "calls": _ratio(run["closed"]["calls_per_s"], base["closed"]["calls_per_s"]),
            "rss": _ratio(run["rss_per_connection_kib"], base["rss_per_connection_kib"]),
        }

    for (server, command, processes, ocpp, n), run in sorted(
        by_key.items(), key=lambda item: (item[0][4], item[0][3], item[0][1], item[0][2])
    ):
        if server != "csms":
            continue
        tag = _csms_tag(run)
        version = "" if ocpp == "1.6" else f", OCPP {ocpp}"
        for other, letter in (("echo", "(a)"), ("naive", "(b)")):
            add(n, f"{tag}/{letter}{version}", run, by_key.get((other, "gateway", 1, ocpp, n)))
        if ocpp != "1.6":
            add(
                n,
                f"{tag} {ocpp}/{tag} 1.6",
                run,
                by_key.get((server, command, processes, "1.6", n)),
            )
        if processes != 1:
            one = {**run, "processes": 1}
            add(
                n,
                f"{tag}/{_csms_tag(one)}{version}",
                run,
                by_key.get((server, command, 1, ocpp, n)),
            )
    return ratios


def render_churn(churn_runs: list[dict[str, Any]], runs: list[dict[str, Any]]) -> str:
    """The churn runs beside a fresh run of the same server and N."""
    fresh = {
        (
            r["server"],
            r.get("command", "gateway"),
            r.get("processes", 1),
            r.get("ocpp", "1.6"),
            r["connections"],
        ): r
        for r in runs
        if "closed" in r
    }
    rows = []
    for c in churn_runs:
        key = (
            c["server"],
            c.get("command", "gateway"),
            c.get("processes", 1),
            c["ocpp"],
            c["second"],
        )
        base = fresh.get(key)
        m = c["closed"]
        rows.append(
            [
                run_label(c),
                c["ocpp"],
                f"{c['first']:,} then {c['second']:,}",
                f"{c['first_closed']['calls_per_s']:,.0f}",
                f"{m['calls_per_s']:,.0f}",
                f"{base['closed']['calls_per_s']:,.0f}" if base else "-",
                f"{_ratio(m['calls_per_s'], base['closed']['calls_per_s']):.2f}" if base else "-",
                f"{m['p99_ms']:.1f}",
                f"{m['server_cpu_pct']:.0f}",
                f"{m['loadgen_cpu_pct']:.0f}",
                f"{c['rss_fresh_mib']:.0f} / {c['rss_idle_first_mib']:.0f} / "
                f"{c.get('rss_after_first_run_mib', math.nan):.0f} / "
                f"{c['rss_after_first_left_mib']:.0f} / {c['rss_idle_second_mib']:.0f}",
                f"{c['rss_per_connection_second_kib']:.1f}",
                str(m["errors"] + c["first_closed"]["errors"]),
            ]
        )
    return (
        "churn: a closed loop of the first stations, which then leave, before the "
        "measured closed loop of the second (other ids) on the same server\n"
        + _table(
            [
                "server",
                "OCPP",
                "stations",
                "first calls/s",
                "second calls/s",
                "fresh calls/s",
                "second/fresh",
                "second p99 ms",
                "server CPU %",
                "loadgen CPU %",
                "RSS MiB fresh / first idle / first ran / first left / second idle",
                "RSS/conn KiB (second)",
                "errors",
            ],
            rows,
        )
    )


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


# -- main ----------------------------------------------------------------------------


async def run(plan: Plan, json_path: Path | None) -> dict[str, Any]:
    soft, hard = raise_file_limit()
    machine = machine_description()
    report: dict[str, Any] = {
        "machine": {
            **machine,
            "python": platform.python_version(),
            "file_limit": f"{soft}/{hard}",
            "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        },
        "plan": {
            "only": list(plan.only),
            "connections": list(plan.connections),
            "warmup_s": plan.warmup,
            "duration_s": plan.duration,
            "rate": plan.rate,
            "capacity": plan.capacity,
            "storm": plan.storm,
            "database": "postgresql" if plan.database else "sqlite",
            "load": plan.load,
            "load_processes": plan.load_processes,
            "ocpp": list(plan.ocpp),
            "csms_commands": list(plan.csms_commands),
            "csms_processes": list(plan.csms_processes),
            "redis_url": plan.redis_url,
            "churn": list(plan.churn),
        },
        "revision": await git_revision(),
        "csms_gc": plan.csms_gc,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": [],
    }
    children = Children()
    workroot = Path(tempfile.mkdtemp(prefix="csms-bench-"))
    try:
        if plan.load == "node":
            await ensure_node_loadgen(children)
        for kind in SERVERS:
            if kind not in plan.only:
                continue
            for variant in variants(plan, kind):
                for n in plan.connections:
                    workdir = Path(tempfile.mkdtemp(prefix=f"{kind}-{n}-", dir=workroot))
                    log(f"{run_label(variant.describe())}, OCPP {variant.ocpp}, {n} connections")
                    report["runs"].append(
                        await bench_server(children, plan, kind, n, workdir, variant)
                    )
        if "churn" in plan.only:
            report["churn"] = []
            for kind in ("echo", "csms"):
                if kind not in plan.only and not (kind == "csms" and plan.only == ("churn",)):
                    continue
                for variant in variants(plan, kind):
                    workdir = Path(tempfile.mkdtemp(prefix=f"churn-{kind}-", dir=workroot))
                    log(
                        f"churn: {run_label(variant.describe())}, OCPP {variant.ocpp}, "
                        f"{plan.churn[0]} then {plan.churn[1]} stations"
                    )
                    report["churn"].append(await bench_churn(children, plan, variant, workdir))
        if any(extra in plan.only for extra in ("capacity", "storm")):
            workdir = workroot / "capacity-storm"
            workdir.mkdir()
            log("capacity and boot storm")
            report.update(await bench_capacity_and_storm(children, plan, workdir))
    finally:
        await children.stop_all()
        if plan.keep:
            log(f"kept the servers' logs and databases in {workroot}")
        else:
            shutil.rmtree(workroot, ignore_errors=True)
        report["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if json_path is not None:
            write_json(json_path, report)
    return report


def variants(plan: Plan, kind: str) -> list[Variant]:
    """The runs of one server: every OCPP version asked for (the naive
    server speaks 1.6 only), and for the product every command and number
    of processes."""
    if kind == "csms":
        return [
            Variant("csms", ocpp, command, processes)
            for ocpp in plan.ocpp
            for command in plan.csms_commands
            for processes in plan.csms_processes
        ]
    if kind == "naive":
        if "1.6" not in plan.ocpp:
            log("the naive server speaks OCPP 1.6 only: skipped")
        return [Variant("naive", "1.6")] if "1.6" in plan.ocpp else []
    return [Variant(kind, ocpp) for ocpp in plan.ocpp]


async def git_revision() -> str:
    """The commit measured, and whether the product's files differ from it."""
    try:
        head = await asyncio.create_subprocess_exec(
            "git", "rev-parse", "--short", "HEAD", cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await head.communicate()
        status = await asyncio.create_subprocess_exec(
            "git",
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            "csms",
            "crm",
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        dirty, _ = await status.communicate()
    except OSError:
        return "unknown"
    revision = out.decode().strip() or "unknown"
    return revision + (" + uncommitted changes in csms/ or crm/" if dirty.strip() else "")


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")


def parse_args(argv: list[str] | None = None) -> tuple[Plan, Path | None]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gateway", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--only",
        default=",".join(SERVERS + EXTRAS),
        help="comma-separated: echo, naive, csms, churn, capacity, storm (default: all)",
    )
    parser.add_argument(
        "--load",
        choices=["node", "python"],
        default=default_load(),
        help="the load generator: node (benchmarks/node_loadgen, installed with npm ci on "
        "first use) or python (benchmarks.loadgen); default node when node is installed",
    )
    parser.add_argument(
        "--load-processes",
        type=int,
        default=1,
        help="split the stations over this many load generator processes (default 1)",
    )
    parser.add_argument(
        "--ocpp",
        default="1.6",
        help="comma-separated OCPP versions the stations speak: 1.6, 2.0.1 (default 1.6)",
    )
    parser.add_argument(
        "--csms-command",
        help="comma-separated: gateway (the OCPP gateway alone), serve (the whole product, "
        "web app included); default gateway,serve (--quick: gateway)",
    )
    parser.add_argument(
        "--csms-processes",
        default="1",
        help="comma-separated numbers of csms processes on one port (CSMS_OCPP_REUSE_PORT, "
        "Redis), e.g. 1,2 (default 1)",
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/0",
        help="the Redis several csms processes share (nothing in it is flushed)",
    )
    parser.add_argument(
        "--churn",
        action="store_true",
        help="add the churn run (in the default --only already)",
    )
    parser.add_argument(
        "--churn-sizes",
        help="stations of the churn run's first and second closed loop (default 1000,5000)",
    )
    parser.add_argument("--connections", help="comma-separated N (default 1000,5000)")
    parser.add_argument("--duration", type=float, help="measured seconds per run (default 20)")
    parser.add_argument("--warmup", type=float, help="seconds before measuring (default 3)")
    parser.add_argument("--rate", type=float, help="calls/s of the fixed-rate load (default 1000)")
    parser.add_argument("--capacity", type=int, help="idle connections to hold (default 15000)")
    parser.add_argument("--storm", type=int, help="stations in the boot storm (default 10000)")
    parser.add_argument(
        "--database",
        default="",
        help="run (c) on this PostgreSQL server (a fresh database per run, dropped "
        "after), e.g. postgresql://127.0.0.1:5432/test; default: SQLite in a temp dir",
    )
    parser.add_argument(
        "--profile",
        choices=["py-spy", "py-spy-native"],
        help="profile (c) with py-spy during its closed-loop run (no fixed-rate run then) "
        "and during the boot storm",
    )
    parser.add_argument(
        "--profile-out",
        type=Path,
        default=REPO_ROOT / "benchmarks" / "results" / "gateway-profile.txt",
        help="where the profile summary goes (the collapsed stacks beside it)",
    )
    parser.add_argument(
        "--csms-gc",
        default="",
        help="run (c) through benchmarks.csms_gc with these options, e.g. "
        "'--threshold 50000 --freeze' (an experiment: the product's GC settings unchanged)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temp dir (server logs, SQLite files)"
    )
    parser.add_argument("--json", type=Path, help="write every figure to this JSON file")
    parser.add_argument(
        "--max-minutes", type=float, default=30.0, help="abort the whole run after this long"
    )
    args = parser.parse_args(argv)
    only = tuple(name.strip() for name in args.only.split(",") if name.strip())
    if args.churn and "churn" not in only:
        only += ("churn",)
    unknown = set(only) - set(SERVERS + EXTRAS)
    if unknown:
        parser.error(f"unknown in --only: {', '.join(sorted(unknown))}")
    quick = args.quick
    connections = (
        tuple(int(n) for n in args.connections.split(","))
        if args.connections
        else ((100,) if quick else (1000, 5000))
    )
    if any(not 1 <= n <= 50_000 for n in connections):
        parser.error("--connections must be between 1 and 50000 each")

    def pick(value: Any, quick_value: Any, full_value: Any) -> Any:
        return value if value is not None else (quick_value if quick else full_value)

    if args.database and not args.database.startswith(("postgresql://", "postgres://")):
        parser.error("--database takes a postgresql:// URL")
    ocpp = tuple(v.strip() for v in args.ocpp.split(",") if v.strip())
    if not ocpp or set(ocpp) - set(OCPP_VERSIONS):
        parser.error("--ocpp takes 1.6, 2.0.1 or both, comma-separated")
    commands = tuple(
        c.strip()
        for c in (args.csms_command or ("gateway" if quick else "gateway,serve")).split(",")
        if c.strip()
    )
    if not commands or set(commands) - set(CSMS_COMMANDS):
        parser.error("--csms-command takes gateway, serve or both, comma-separated")
    try:
        processes = tuple(int(n) for n in args.csms_processes.split(","))
        churn_sizes = tuple(
            int(n) for n in (args.churn_sizes or ("50,100" if quick else "1000,5000")).split(",")
        )
    except ValueError:
        parser.error("--csms-processes and --churn-sizes take comma-separated numbers")
    if any(not 1 <= n <= 64 for n in processes):
        parser.error("--csms-processes must be between 1 and 64 each")
    if len(churn_sizes) != 2 or any(not 1 <= n <= 50_000 for n in churn_sizes):
        parser.error("--churn-sizes takes two numbers between 1 and 50000")
    if not 1 <= args.load_processes <= 64:
        parser.error("--load-processes must be between 1 and 64")
    if args.load == "node" and shutil.which("node") is None:
        parser.error("--load node: node is not installed")
    plan = Plan(
        only=only,
        connections=connections,
        warmup=pick(args.warmup, 1.0, 3.0),
        duration=pick(args.duration, 3.0, 20.0),
        rate=pick(args.rate, 200.0, 1000.0),
        capacity=pick(args.capacity, 500, 15_000),
        storm=pick(args.storm, 300, 10_000),
        database=args.database,
        settle=1.0 if quick else 2.0,
        profile=args.profile or "",
        profile_out=args.profile_out,
        max_seconds=args.max_minutes * 60,
        csms_gc=args.csms_gc,
        keep=args.keep,
        load=args.load,
        load_processes=args.load_processes,
        ocpp=ocpp,
        csms_commands=commands,
        csms_processes=processes,
        redis_url=args.redis_url,
        churn=(churn_sizes[0], churn_sizes[1]),
    )
    if not 0 < plan.duration <= 600 or not 0 <= plan.warmup <= 60:
        parser.error("--duration must be in (0, 600] and --warmup in [0, 60]")
    if not 1 <= plan.capacity <= 50_000 or not 1 <= plan.storm <= 50_000:
        parser.error("--capacity and --storm must be between 1 and 50000")
    return plan, args.json


def main(argv: list[str] | None = None) -> int:
    plan, json_path = parse_args(argv)
    if plan.profile:
        plan.profile_out.parent.mkdir(parents=True, exist_ok=True)

    async def bounded() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        # Both cancel the run, whose finally stops every child (SIGINT too:
        # a harness started in the background may have inherited it ignored).
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        return await asyncio.wait_for(run(plan, json_path), plan.max_seconds)

    started = time.monotonic()
    try:
        report = asyncio.run(bounded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; every process started was stopped", file=sys.stderr)
        return 130
    except TimeoutError:
        print(f"aborted after {plan.max_seconds / 60:.0f} minutes", file=sys.stderr)
        return 1
    print(render(report))
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    if plan.profile and plan.profile_out.exists():
        print(f"\nprofile of (c), closed loop ({plan.profile_out}):\n")
        print(plan.profile_out.read_text())
    storm_profile = storm_profile_path(plan.profile_out)
    if plan.profile and storm_profile.exists():
        print(f"\nprofile of (c), boot storm ({storm_profile}):\n")
        print(storm_profile.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
