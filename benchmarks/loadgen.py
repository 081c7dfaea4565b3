"""The gateway benchmark's load generator: many OCPP 1.6J or 2.0.1 stations
in one process, driven by the harness (``benchmarks.gateway``) over
stdin/stdout. ``benchmarks/node_loadgen/loadgen.mjs`` speaks the same
protocol with the same options (the harness's default load side).

    python -m benchmarks.loadgen --url ws://127.0.0.1:9000/ocpp --count 1000

It connects ``--count`` stations (``--connect-concurrency`` handshakes at a
time; 0 = all at once, a boot storm), each sends a BootNotification, then it
prints one JSON line ``{"event": "ready", ...}`` and reads commands, one
JSON object a line, from stdin:

- ``{"cmd": "closed", "warmup": 3, "duration": 20}``: every connection keeps
  one call in flight, the next sent as soon as the answer arrives;
- ``{"cmd": "rate", "rate": 1000, "warmup": 3, "duration": 20}``: open loop,
  ``rate`` calls/s in total, each station on its own schedule; latency is
  measured from the scheduled send time (no coordinated omission); with
  ``"spread": {"total": T, "before": B}`` this process's stations are B..
  of T stations sharing the rate with other processes;
- ``{"cmd": "sweep"}``: one Heartbeat on every connection (are they held?);
- ``{"cmd": "quit"}``: exits without closing handshakes.

During a run it prints ``{"event": "window_start"}`` and
``{"event": "window_end"}`` as the measured window opens and closes (the
harness samples the server's CPU then), then ``{"event": "result", ...}``.
After the boot every station sends a StatusNotification and starts a
session with its own id token (1.6 StartTransaction, 2.0.1 TransactionEvent
Started); the measured calls alternate Heartbeat and MeterValues with the
transactionId (1.6) or Heartbeat and TransactionEvent Updated (2.0.1).
Frames are pre-encoded (only the message id, the timestamp, the seqNo and
the energy register change, see ``benchmarks.frames``) and answers are only
searched for their type and id, so that the generator costs as little CPU
per call as the websockets client allows.

With ``--raw-dir`` every latency sample (float64 seconds, native byte order)
goes to a file there, named in the event (``"raw": {"latency": PATH}``), so
that the harness can merge the samples of several generator processes into
exact percentiles; the ready event's raw files hold the connect durations
and the wall-clock (epoch) times of each connect start and accepted boot.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import sys
import time
from array import array
from collections import Counter
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from benchmarks.frames import (
    BOOT_PAYLOAD,
    BOOT_PAYLOAD_201,
    CALLERROR,
    CALLRESULT,
    HEARTBEAT_PAYLOAD,
    SAMPLES_PER_METER_VALUES_16,
    CallTemplate,
    basic_auth,
    id_token,
    meter_values_16,
    parse_answer,
    start_transaction_16,
    station_id,
    station_secret,
    status_notification_16,
    status_notification_201,
    transaction_id_16,
    transaction_id_201,
    transaction_started_201,
    transaction_updated_201,
)
from benchmarks.measure import raise_file_limit, summarize

# Connections per source address: each loopback address has its own
# ephemeral port range, so sockets left in TIME_WAIT by an earlier run (same
# host, both ends) never collide with this run's.
CONNECTIONS_PER_SOURCE_ADDRESS = 1000
DRAIN_SECONDS = 30.0


def _emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


class Templates:
    """Heartbeat and the boots; the current second (``YYYY-MM-DDTHH:MM:SS``)
    for the timestamps, refreshed once a second."""

    heartbeat = CallTemplate("Heartbeat", HEARTBEAT_PAYLOAD)
    boot = CallTemplate("BootNotification", BOOT_PAYLOAD)
    boot_201 = CallTemplate("BootNotification", BOOT_PAYLOAD_201)
    second = b"2026-01-01T00:00:00"

    @classmethod
    def refresh(cls) -> None:
        cls.second = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S").encode()


class Station:
    __slots__ = (
        "charge_point_id",
        "counter",
        "index",
        "meter_count",
        "meter_next",
        "samples",
        "transaction_id",
        "transaction_id_16",
        "v201",
        "ws",
    )

    def __init__(self, index: int, charge_point_id: str, v201: bool, nonce: str) -> None:
        self.index = index
        self.charge_point_id = charge_point_id
        self.ws: ClientConnection | None = None
        self.counter = 0
        self.meter_next = False
        self.meter_count = 0  # MeterValues (1.6) or TransactionEvent Updated (2.0.1) sent
        self.samples = 0  # sampled values in the call in flight
        self.v201 = v201
        self.transaction_id = transaction_id_201(charge_point_id, nonce).encode()
        self.transaction_id_16 = 0  # what the server's StartTransaction answer gave

    def next_call(self) -> tuple[bytes, bytes]:
        """(message id, frame) of this station's next measured call."""
        self.counter += 1
        unique_id = b"%d" % self.counter
        self.meter_next = not self.meter_next
        if not self.meter_next:
            self.samples = 0
            return unique_id, Templates.heartbeat.frame(unique_id)
        self.meter_count += 1
        if self.v201:
            self.samples = 1
            return unique_id, transaction_updated_201(
                unique_id, Templates.second, self.meter_count, self.transaction_id
            )
        self.samples = SAMPLES_PER_METER_VALUES_16
        return unique_id, meter_values_16(
            unique_id, Templates.second, self.meter_count, self.transaction_id_16
        )


class Tally:
    """Outcomes of one measured run."""

    def __init__(self) -> None:
        self.latencies = array("d")
        self.calls = 0  # answered with a CALLRESULT inside the window
        self.call_errors = 0  # CALLERROR answers (anywhere in the run)
        self.error_codes: Counter[str] = Counter()
        self.mismatched = 0  # an answer whose id is not the call's
        self.closed = 0  # the connection closed under a call
        self.unanswered = 0  # still waiting when the run was cut off
        self.late_sends = 0  # open loop: sent more than 10 ms after schedule
        # MeterValues (1.6) or TransactionEvent Updated (2.0.1) answered with a
        # CALLRESULT, and the sampled values they carried, warm-up and drain included.
        self.meter_values_answered = 0
        self.samples_answered = 0

    def record_error(self, data: bytes) -> None:
        self.call_errors += 1
        parts = data.split(b'"')
        self.error_codes[parts[3].decode(errors="replace") if len(parts) > 3 else "?"] += 1

    def errors(self) -> int:
        return self.call_errors + self.mismatched + self.closed + self.unanswered

    def report(self, seconds: float, raw_path: str | None = None) -> dict[str, Any]:
        raw = {}
        if raw_path is not None:
            write_raw(raw_path, self.latencies)
            raw["latency"] = raw_path
        return {
            "calls": self.calls,
            "calls_per_s": self.calls / seconds if seconds > 0 else 0.0,
            **summarize(self.latencies),
            "call_errors": self.call_errors,
            "error_codes": dict(self.error_codes),
            "mismatched_ids": self.mismatched,
            "closed_under_call": self.closed,
            "unanswered": self.unanswered,
            "late_sends": self.late_sends,
            "meter_values_answered": self.meter_values_answered,
            "samples_answered": self.samples_answered,
            "errors": self.errors(),
            "raw": raw,
        }


def write_raw(path: str, values: array[float] | list[float]) -> None:
    """Samples as float64 in native byte order (what the harness merges)."""
    data = values if isinstance(values, array) else array("d", values)
    with open(path, "wb") as file:
        data.tofile(file)


async def _exchange(ws: Any, station: Station, tally: Tally) -> float | None:
    """Sends the station's next call and checks the answer: the time a
    CALLRESULT with the call's id came back, 0.0 for any other answer
    (counted in the tally), None when the connection closed (counted)."""
    unique_id, frame = station.next_call()
    try:
        await ws.send(frame, text=True)
        data = await ws.recv(decode=False)
    except ConnectionClosed:
        tally.closed += 1
        return None
    done = time.perf_counter()
    kind, answer_id = parse_answer(data)
    if answer_id != unique_id:
        tally.mismatched += 1
        return 0.0
    if kind != CALLRESULT:
        tally.record_error(data)
        return 0.0
    if station.samples:
        tally.meter_values_answered += 1
        tally.samples_answered += station.samples
    return done


class LoadGenerator:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.url = args.url.rstrip("/")
        v201 = args.ocpp == "2.0.1"
        nonce = os.urandom(4).hex()
        self.stations = [
            Station(i, station_id(i), v201, nonce)
            for i in range(args.first, args.first + args.count)
        ]
        self.loop = asyncio.get_running_loop()
        self.raw_counter = 0
        self.transactions_started = 0
        self.start_status: Counter[str] = Counter()

    def raw_path(self, name: str) -> str | None:
        """A new file under --raw-dir for one event's samples (None without)."""
        if not self.args.raw_dir:
            return None
        self.raw_counter += 1
        return os.path.join(self.args.raw_dir, f"{self.args.first}-{self.raw_counter}-{name}.f64")

    # -- connecting -----------------------------------------------------------

    async def connect_all(self) -> dict[str, Any]:
        args = self.args
        concurrency = args.connect_concurrency or len(self.stations)
        semaphore = asyncio.Semaphore(concurrency)
        failures: Counter[str] = Counter()
        http_status: Counter[str] = Counter()
        boot_status: Counter[str] = Counter()
        started: list[float] = []
        booted: list[float] = []
        started_epoch = array("d")  # wall clock, comparable between processes
        booted_epoch = array("d")
        durations = array("d")  # connect start to boot accepted, per station
        handshakes = array("d")  # TCP and websocket handshake
        boots = array("d")  # BootNotification sent to its answer
        connected_at: dict[int, float] = {}

        async def one(station: Station) -> None:
            async with semaphore:
                t0 = time.perf_counter()
                started.append(t0)
                started_epoch.append(time.time())
                outcome = await self._open(station, connected_at)
                if outcome is not None:
                    if outcome.startswith("http_"):
                        http_status[outcome[5:]] += 1
                    elif outcome.startswith("boot_"):
                        boot_status[outcome[5:]] += 1
                    else:
                        failures[outcome] += 1
                    return
                boot_status["Accepted"] += 1
                t1 = time.perf_counter()
                booted.append(t1)
                booted_epoch.append(time.time() - (time.perf_counter() - t1))
                durations.append(t1 - t0)
                handshakes.append(connected_at[station.index] - t0)
                boots.append(t1 - connected_at[station.index])

        begin = time.monotonic()
        await asyncio.gather(*(one(s) for s in self.stations))
        wall = time.monotonic() - begin
        held = [s for s in self.stations if s.ws is not None]
        self.stations = held
        raw = {}
        for name, values in (
            ("per_station", durations),
            ("handshake", handshakes),
            ("boot", boots),
            ("started_epoch", started_epoch),
            ("booted_epoch", booted_epoch),
        ):
            path = self.raw_path(name)
            if path is not None:
                write_raw(path, values)
                raw[name] = path
        return {
            "requested": args.count,
            "connected_and_booted": len(held),
            "boot_status": dict(boot_status),
            "http_status": dict(http_status),
            "connect_failures": dict(failures),
            "seconds": wall,
            "first_connect_to_last_boot_s": (max(booted) - min(started)) if booted else None,
            "per_station": summarize(durations),
            "handshake": summarize(handshakes),
            "boot": summarize(boots),
            "booted_by_second": _cumulative_per_second(booted, min(started) if started else 0.0),
            "ocpp": args.ocpp,
            "transactions_started": self.transactions_started,
            "start_status": dict(self.start_status),
            "raw": raw,
        }

    async def _open(self, station: Station, connected_at: dict[int, float]) -> str | None:
        """Connects and boots one station; None when it is booted Accepted,
        else what went wrong."""
        args = self.args
        headers = {}
        if args.secret_seed:
            secret = station_secret(args.secret_seed, station.charge_point_id)
            headers["Authorization"] = basic_auth(station.charge_point_id, secret)
        slot = station.index - args.first
        source = f"127.{args.source_net}.{slot // CONNECTIONS_PER_SOURCE_ADDRESS % 256}.1"
        v201 = args.ocpp == "2.0.1"
        try:
            ws = await connect(
                f"{self.url}/{station.charge_point_id}",
                subprotocols=[Subprotocol("ocpp2.0.1" if v201 else "ocpp1.6")],
                compression=None,
                additional_headers=headers,
                user_agent_header=None,
                proxy=None,
                open_timeout=args.timeout,
                ping_interval=None,
                close_timeout=1,
                local_addr=(source, 0),
            )
        except InvalidStatus as error:
            return f"http_{error.response.status_code}"
        except TimeoutError:
            return "timeout"
        except OSError as error:
            return f"os_error_{error.errno}"
        except (InvalidHandshake, ConnectionClosed) as error:
            return type(error).__name__
        connected_at[station.index] = time.perf_counter()
        boot = (Templates.boot_201 if v201 else Templates.boot).frame(b"boot")
        outcome, data = await self._call(ws, boot, b"boot", "boot")
        if outcome is not None:
            return outcome
        if b'"Accepted"' not in data:
            await _abandon(ws)
            return "boot_" + ("Pending" if b'"Pending"' in data else "Rejected")
        # The session the measured MeterValues / TransactionEvent Updated
        # calls belong to, started with the station's own id token.
        token = id_token(station.charge_point_id).encode()
        if v201:
            status = status_notification_201(b"status", Templates.second)
            start = transaction_started_201(
                b"start", Templates.second, station.transaction_id, token
            )
        else:
            status = status_notification_16(b"status", Templates.second)
            start = start_transaction_16(b"start", Templates.second, token)
        outcome, _ = await self._call(ws, status, b"status", "status")
        if outcome is None:
            outcome, answer = await self._call(ws, start, b"start", "start")
        if outcome is None and not v201:
            transaction_id = transaction_id_16(answer)
            if transaction_id is None:
                await _abandon(ws)
                outcome = "start_without_transaction_id"
            else:
                station.transaction_id_16 = transaction_id
        if outcome is not None:
            # A station that booted but has no session takes no part (a
            # connect failure, by reason).
            return outcome
        # The idTagInfo / idTokenInfo status the server gave the session.
        self.start_status[_token_status(answer)] += 1
        self.transactions_started += 1
        station.ws = ws
        return None

    async def _call(
        self, ws: ClientConnection, frame: bytes, unique_id: bytes, name: str
    ) -> tuple[str | None, bytes]:
        """One call of the connect phase: (None, answer) when it was answered
        with a CALLRESULT, else (what went wrong, b"") and the socket closed."""
        try:
            await ws.send(frame, text=True)
            data = await asyncio.wait_for(ws.recv(decode=False), self.args.timeout)
        except TimeoutError:
            await _abandon(ws)
            return f"{name}_timeout", b""
        except ConnectionClosed:
            return f"closed_during_{name}", b""
        assert isinstance(data, bytes)
        kind, answer_id = parse_answer(data)
        if kind != CALLRESULT or answer_id != unique_id:
            await _abandon(ws)
            return (f"{name}_callerror" if kind == CALLERROR else f"{name}_bad_answer"), b""
        return None, data

    # -- measured runs --------------------------------------------------------

    async def closed_loop(self, warmup: float, duration: float) -> dict[str, Any]:
        tally = Tally()
        start = time.perf_counter()
        window_start = start + warmup
        window_end = window_start + duration
        loop_time = time.perf_counter

        async def worker(station: Station) -> None:
            ws = station.ws
            assert ws is not None
            latencies = tally.latencies
            while loop_time() < window_end:
                sent = loop_time()
                done = await _exchange(ws, station, tally)
                if done is None:
                    return
                if done > 0 and window_start <= done < window_end:
                    tally.calls += 1
                    latencies.append(done - sent)

        await self._run(worker, tally, window_start, window_end)
        return tally.report(duration, self.raw_path("latency"))

    async def open_loop(
        self, rate: float, warmup: float, duration: float, spread: dict[str, int] | None = None
    ) -> dict[str, Any]:
        """``spread`` (several generator processes share the rate): the load
        side's stations in all (``total``) and how many come before this
        process's first (``before``)."""
        tally = Tally()
        count = spread["total"] if spread else len(self.stations)
        before = spread["before"] if spread else 0
        period = count / rate  # seconds between two calls of one station
        start = time.perf_counter() + 0.2
        window_start = start + warmup
        window_end = window_start + duration
        loop_time = time.perf_counter

        async def worker(station: Station) -> None:
            ws = station.ws
            assert ws is not None
            latencies = tally.latencies
            offset = (station.index - self.args.first + before) / rate
            k = 0
            while True:
                scheduled = start + offset + k * period
                k += 1
                if scheduled >= window_end:
                    return
                delay = scheduled - loop_time()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -0.010:
                    tally.late_sends += 1
                done = await _exchange(ws, station, tally)
                if done is None:
                    return
                if done > 0 and window_start <= scheduled:
                    tally.calls += 1
                    latencies.append(done - scheduled)

        await self._run(worker, tally, window_start, window_end)
        return tally.report(duration, self.raw_path("latency"))

    async def sweep(self) -> dict[str, Any]:
        """One Heartbeat on every held connection."""
        tally = Tally()
        semaphore = asyncio.Semaphore(500)
        begin = time.perf_counter()

        async def one(station: Station) -> None:
            ws = station.ws
            assert ws is not None
            async with semaphore:
                station.counter += 1
                unique_id = b"%d" % station.counter
                sent = time.perf_counter()
                try:
                    await ws.send(Templates.heartbeat.frame(unique_id), text=True)
                    data = await asyncio.wait_for(ws.recv(decode=False), self.args.timeout)
                except ConnectionClosed:
                    tally.closed += 1
                    return
                except TimeoutError:
                    tally.unanswered += 1
                    return
                kind, answer_id = parse_answer(data)  # type: ignore[arg-type]
                if answer_id != unique_id:
                    tally.mismatched += 1
                elif kind != CALLRESULT:
                    tally.record_error(data)  # type: ignore[arg-type]
                else:
                    tally.calls += 1
                    tally.latencies.append(time.perf_counter() - sent)

        await asyncio.gather(*(one(s) for s in self.stations))
        report = tally.report(time.perf_counter() - begin, self.raw_path("latency"))
        report["held"] = tally.calls
        return report

    async def _run(
        self,
        worker: Callable[[Station], Coroutine[Any, Any, None]],
        tally: Tally,
        window_start: float,
        window_end: float,
    ) -> None:
        async def announce() -> None:
            await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
            _emit("window_start")
            await asyncio.sleep(max(0.0, window_end - time.perf_counter()))
            _emit("window_end")

        announcer = asyncio.create_task(announce())
        tasks = [asyncio.create_task(worker(s)) for s in self.stations]
        cutoff = window_end + DRAIN_SECONDS - time.perf_counter()
        _, pending = await asyncio.wait(tasks, timeout=cutoff)
        for task in pending:
            task.cancel()
        tally.unanswered += len(pending)
        if pending:
            # A connection cut off mid-call would read the late answer as the
            # next call's: leave it out of later runs.
            cut = {id(task) for task in pending}
            self.stations = [
                s for s, t in zip(self.stations, tasks, strict=True) if id(t) not in cut
            ]
            await asyncio.wait(pending)
        await announcer


def _token_status(answer: bytes) -> str:
    """idTokenInfo.status of a TransactionEvent answer ("none" without one)."""
    marker = answer.find(b'"status"')
    if marker < 0:
        return "none"
    parts = answer[marker + 8 :].split(b'"', 2)
    return parts[1].decode(errors="replace") if len(parts) > 2 else "?"


def _cumulative_per_second(times: list[float], origin: float, limit: int = 600) -> list[int]:
    """How many of ``times`` had happened 1, 2, 3... s after ``origin``."""
    if not times:
        return []
    seconds = min(int(max(times) - origin) + 1, limit)
    counts = [0] * seconds
    for moment in times:
        counts[min(int(moment - origin), seconds - 1)] += 1
    total = 0
    for index, count in enumerate(counts):
        total += count
        counts[index] = total
    return counts


async def _abandon(ws: ClientConnection) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(), 1)


async def _read_commands() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def _refresh_templates() -> None:
    while True:
        Templates.refresh()
        await asyncio.sleep(1.0)


async def main_async(args: argparse.Namespace) -> int:
    # Thousands of connections are thousands of long-lived objects that a
    # young-generation collection every 700 allocations would keep scanning.
    gc.set_threshold(50_000, 20, 20)
    refresher = asyncio.create_task(_refresh_templates())
    generator = LoadGenerator(args)
    report = await generator.connect_all()
    # Nothing allocated so far is garbage; keep the collector off it.
    gc.collect()
    gc.freeze()
    _emit("ready", **report)
    if args.no_commands:
        refresher.cancel()
        return 0
    commands = await _read_commands()
    while True:
        line = await commands.readline()
        if not line:
            break
        command = json.loads(line)
        name = command.get("cmd")
        if name == "quit":
            break
        if name == "closed":
            result = await generator.closed_loop(command["warmup"], command["duration"])
        elif name == "rate":
            result = await generator.open_loop(
                command["rate"], command["warmup"], command["duration"], command.get("spread")
            )
        elif name == "sweep":
            result = await generator.sweep()
        else:
            _emit("error", message=f"unknown command {name!r}")
            continue
        _emit("result", cmd=name, connections=len(generator.stations), **result)
    refresher.cancel()
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="ws://127.0.0.1:PORT/ocpp")
    parser.add_argument("--count", type=int, required=True, help="stations (connections)")
    parser.add_argument("--first", type=int, default=0, help="index of the first station")
    parser.add_argument(
        "--connect-concurrency",
        type=int,
        default=200,
        help="handshakes in flight at a time; 0: all at once (a boot storm)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="per handshake and call")
    parser.add_argument(
        "--secret-seed", default="", help="send basic auth with secrets derived from this seed"
    )
    parser.add_argument(
        "--source-net",
        type=int,
        default=1,
        help="connect from 127.NET.x.1 (1-255); vary it between runs",
    )
    parser.add_argument("--ocpp", choices=["1.6", "2.0.1"], default="1.6", help="OCPP version")
    parser.add_argument(
        "--raw-dir", default="", help="write every latency sample to a file in this directory"
    )
    parser.add_argument("--no-commands", action="store_true", help="exit after the connect report")
    args = parser.parse_args(argv)
    if not 1 <= args.count <= 100_000:
        parser.error("--count must be between 1 and 100000")
    if not 1 <= args.source_net <= 255:
        parser.error("--source-net must be between 1 and 255")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_file_limit()
    try:
        import uvloop
    except ImportError:
        status = asyncio.run(main_async(args))
    else:
        status = uvloop.run(main_async(args))
    sys.stdout.flush()
    # Skip closing thousands of sockets one handshake at a time.
    os._exit(status)


if __name__ == "__main__":
    main()
