"""The outage suite (issue 14): every record a charger was answered is stored
exactly once, whatever fails.

    python -m benchmarks.outage [--short] [--chargers N] [--hang S] [--keep]

It starts its OWN PostgreSQL (initdb in a temporary folder, a free port, run
as the unprivileged system user ``csmsoutage``, created if missing; never
the machine's shared instance), its own ``redis-server`` and ``csms serve``
(CSMS_UNKNOWN_STATIONS=accept), then runs OCPP 1.6 and 2.0.1 chargers that
charge in a loop while faults are injected one after the other into each of
PostgreSQL, Redis and the csms server:

- stop: ``pg_ctl stop -m fast`` / SIGTERM, a pause, then started again;
- hang: SIGSTOP (PostgreSQL: the postmaster and every backend) for ``--hang``
  seconds, then SIGCONT;
- kill: SIGKILL (PostgreSQL: the postmaster), then started again.

A charger behaves like a real one with a transaction queue: it sends each
transaction message (1.6 StartTransaction, MeterValues, StopTransaction; 2.0.1
TransactionEvent Started, Updated with a meter value, Ended) until it gets a
CALLRESULT, retrying after a CALLERROR, a timeout or a lost connection (then
reconnecting). Every answered record is noted; after the faults the chargers
finish what they hold and the database is checked: every answered session,
stop and meter sample stored exactly once (lost: answered but absent;
duplicated: stored more than once; unanswered: stored but never answered).

It prints the figures and exits 1 on any loss or duplicate, 2 if it could
not run (no initdb, no redis-server). ``--short`` is the CI version
(tests/e2e/test_outage_short.py, about a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from websockets.asyncio.client import ClientConnection, connect

PG_BIN = Path(os.environ.get("CSMS_OUTAGE_PG_BIN", "/usr/lib/postgresql/15/bin"))
OUTAGE_USER = "csmsoutage"
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def available() -> str | None:
    """Why the suite cannot run here, or None."""
    if not (PG_BIN / "initdb").exists():
        return f"no PostgreSQL initdb at {PG_BIN}"
    if shutil.which("redis-server") is None:
        return "no redis-server on PATH"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser"
    return None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- the services -------------------------------------------------------------


class Postgres:
    """An own PostgreSQL cluster in a temporary folder, as an unprivileged user."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "pg"
        self.port = free_port()
        self.user = OUTAGE_USER if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name

    def _as_user(self, *command: str) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", self.user, "--", *command]
        return list(command)

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._as_user(*command), check=check, capture_output=True, text=True, timeout=120
        )

    def init(self) -> None:
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(self.user)
            except KeyError:
                subprocess.run(
                    [
                        "useradd",
                        "--system",
                        "--no-create-home",
                        "--shell",
                        "/usr/sbin/nologin",
                        self.user,
                    ],
                    check=True,
                )
            self.dir.parent.chmod(0o755)
            self.dir.mkdir()
            shutil.chown(self.dir, self.user, self.user)
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.dir), "-A", "trust", "-U", "csms", "--no-sync"
        )

    @property
    def url(self) -> str:
        return f"postgresql://csms@127.0.0.1:{self.port}/csms"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
            " -c max_connections=100 -c fsync=on"
        )
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.dir),
            "-o",
            options,
            "-l",
            str(self.dir / "log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def create_database(self) -> None:
        self._run(
            str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "csms", "csms"
        )

    def stop(self) -> None:
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.dir), "-m", "fast", "-w", "stop", check=False
        )

    def postmaster(self) -> int | None:
        try:
            return int((self.dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def processes(self) -> list[int]:
        """The postmaster and its children (the backends)."""
        main = self.postmaster()
        if main is None:
            return []
        return [main, *_children(main)]

    def kill(self) -> None:
        main = self.postmaster()
        if main is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(main, signal.SIGKILL)
            # The backends notice the postmaster's death and exit.
            deadline = time.monotonic() + 30
            while _children(main) and time.monotonic() < deadline:
                time.sleep(0.1)
            for pid in _children(main):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            # The dead postmaster may stay a zombie (nobody reaps it in a
            # container), which a new postmaster takes for a live one.
            for name in ("postmaster.pid", f".s.PGSQL.{self.port}.lock", f".s.PGSQL.{self.port}"):
                (self.dir / name).unlink(missing_ok=True)


class Redis:
    def __init__(self, root: Path) -> None:
        self.dir = root / "redis"
        self.dir.mkdir()
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=(self.dir / "log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        _wait_port(self.port)


class Csms:
    def __init__(self, root: Path, database_url: str, redis_url: str, write_timeout: float) -> None:
        self.log = root / "csms.log"
        self.ocpp_port = free_port()
        self.http_port = free_port()
        self.env = {
            **os.environ,
            "CSMS_DATABASE_URL": database_url,
            "CSMS_REDIS_URL": redis_url,
            "CSMS_OCPP_HOST": "127.0.0.1",
            "CSMS_OCPP_PORT": str(self.ocpp_port),
            "CSMS_HTTP_PORT": str(self.http_port),
            "CSMS_UNKNOWN_STATIONS": "accept",
            "CSMS_WRITE_TIMEOUT": str(write_timeout),
            "CSMS_LOG_LEVEL": "WARNING",
            "CSMS_FILES_DIR": str(root / "files"),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "csms", "migrate"],
            env=self.env,
            check=True,
            cwd=REPO,
            capture_output=True,
            timeout=300,
        )

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "csms", "serve"],
            env=self.env,
            cwd=REPO,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        _wait_port(self.ocpp_port, timeout=60)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f} s")


def _signal(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _stop_process(process: subprocess.Popen[bytes] | None, sig: signal.Signals) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- the faults -----------------------------------------------------------------


@dataclass
class Fault:
    target: str
    mode: str
    seconds: float


@dataclass
class Services:
    pg: Postgres
    redis: Redis
    csms: Csms

    def inject(self, fault: Fault) -> None:
        """Runs one fault to its end (the service is back when it returns)."""
        target, mode = fault.target, fault.mode
        if target == "postgres":
            if mode == "stop":
                self.pg.stop()
                time.sleep(fault.seconds)
                self.pg.start()
            elif mode == "hang":
                pids = self.pg.processes()
                _signal(pids, signal.SIGSTOP)
                time.sleep(fault.seconds)
                _signal(pids, signal.SIGCONT)
            else:
                self.pg.kill()
                time.sleep(fault.seconds)
                self.pg.start()
        elif target == "redis":
            process = self.redis.process
            assert process is not None
            if mode == "hang":
                process.send_signal(signal.SIGSTOP)
                time.sleep(fault.seconds)
                process.send_signal(signal.SIGCONT)
                return
            _stop_process(process, signal.SIGTERM if mode == "stop" else signal.SIGKILL)
            time.sleep(fault.seconds)
            self.redis.start()
        else:
            process = self.csms.process
            assert process is not None
            if mode == "hang":
                process.send_signal(signal.SIGSTOP)
                time.sleep(fault.seconds)
                process.send_signal(signal.SIGCONT)
                return
            _stop_process(process, signal.SIGTERM if mode == "stop" else signal.SIGKILL)
            time.sleep(fault.seconds)
            self.csms.start()

    def close(self) -> None:
        for process in (self.csms.process, self.redis.process):
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGCONT)
                _stop_process(process, signal.SIGKILL)
        _signal(self.pg.processes(), signal.SIGCONT)
        self.pg.stop()


# -- the chargers ---------------------------------------------------------------


class Retry(Exception):
    """No CALLRESULT: send the same message again (reconnecting if needed)."""


@dataclass
class Ledger:
    """What the chargers were answered, to check against the database."""

    # (cp, key) -> what the charger was told: key is ("start", n), ("stop", n),
    # ("sample", value) or ("tx", id) for 2.0.1 transactions.
    sessions16: dict[tuple[str, int], int] = field(default_factory=dict)
    stops16: dict[tuple[str, int], int] = field(default_factory=dict)
    transactions201: dict[tuple[str, str], int] = field(default_factory=dict)
    ended201: set[tuple[str, str]] = field(default_factory=set)
    samples: set[tuple[str, str]] = field(default_factory=set)
    callerrors: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    reconnects: int = 0


class Charger:
    """One charger with a transaction queue: each message until answered."""

    def __init__(
        self, cp: str, version: str, url: Callable[[], str], ledger: Ledger, call_timeout: float
    ) -> None:
        self.cp = cp
        self.version = version
        self._url = url
        self.ledger = ledger
        self.call_timeout = call_timeout
        self._ws: ClientConnection | None = None
        self._ids = itertools.count()
        self._register = 1000
        self.sessions = 0

    async def _connection(self) -> ClientConnection:
        while self._ws is None:
            try:
                ws = await connect(
                    f"{self._url()}/{self.cp}",
                    subprotocols=["ocpp1.6" if self.version == "1.6" else "ocpp2.0.1"],  # type: ignore[list-item]
                    open_timeout=self.call_timeout,
                    ping_interval=None,
                )
            except (OSError, TimeoutError, Exception):
                await asyncio.sleep(0.3)
                continue
            self._ws = ws
            try:
                await self._call_once("BootNotification", self._boot())
            except Retry:
                await self._drop()
                await asyncio.sleep(0.3)
        return self._ws

    async def _drop(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            self.ledger.reconnects += 1
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1)

    def _boot(self) -> dict[str, Any]:
        if self.version == "1.6":
            return {"chargePointVendor": "Outage", "chargePointModel": "Suite"}
        return {"chargingStation": {"vendorName": "Outage", "model": "Suite"}, "reason": "PowerUp"}

    async def _call_once(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert self._ws is not None
        unique_id = f"{self.cp}-{next(self._ids)}"
        try:
            await self._ws.send(json.dumps([2, unique_id, action, payload]))
            deadline = time.monotonic() + self.call_timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                frame = json.loads(await asyncio.wait_for(self._ws.recv(), remaining))
                if frame[0] == 2:
                    # A call of the system's: answered with an empty result.
                    await self._ws.send(json.dumps([3, frame[1], {}]))
                    continue
                if frame[1] != unique_id:
                    continue
                if frame[0] == 3:
                    return frame[2]  # type: ignore[no-any-return]
                code = str(frame[2])
                self.ledger.callerrors[code] = self.ledger.callerrors.get(code, 0) + 1
                raise Retry(code)
        except Retry:
            raise
        except Exception as error:  # timeout, closed socket: reconnect
            await self._drop()
            raise Retry(type(error).__name__) from None

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Sends until answered with a CALLRESULT (a charger's queue)."""
        while True:
            await self._connection()
            try:
                return await self._call_once(action, payload)
            except Retry:
                self.ledger.retries += 1
                await asyncio.sleep(0.2)

    def _sample(self) -> tuple[str, str]:
        self._register += 7
        return _now(), str(self._register)

    async def session16(self, n: int, samples: int) -> None:
        at, register = self._sample()
        answer = await self.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": "OUTAGE", "meterStart": int(register), "timestamp": at},
        )
        tx = int(answer["transactionId"])
        self.ledger.sessions16[(self.cp, n)] = tx
        for _ in range(samples):
            at, register = self._sample()
            await self.call(
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": tx,
                    "meterValue": [
                        {
                            "timestamp": at,
                            "sampledValue": [
                                {"value": register, "measurand": "Energy.Active.Import.Register"}
                            ],
                        }
                    ],
                },
            )
            self.ledger.samples.add((self.cp, register))
        at, register = self._sample()
        await self.call(
            "StopTransaction",
            {"transactionId": tx, "meterStop": int(register), "timestamp": at, "reason": "Local"},
        )
        self.ledger.stops16[(self.cp, tx)] = int(register)

    async def session201(self, n: int, samples: int) -> None:
        tx = f"{self.cp}-T{n}"
        seq = itertools.count()

        def event(kind: str, **more: Any) -> dict[str, Any]:
            return {
                "eventType": kind,
                "timestamp": _now(),
                "triggerReason": "Authorized" if kind == "Started" else "MeterValuePeriodic",
                "seqNo": next(seq),
                "transactionInfo": {"transactionId": tx},
                "evse": {"id": 1, "connectorId": 1},
                **more,
            }

        await self.call(
            "TransactionEvent", event("Started", idToken={"idToken": "OUTAGE", "type": "Central"})
        )
        self.ledger.transactions201[(self.cp, tx)] = n
        for _ in range(samples):
            at, register = self._sample()
            await self.call(
                "TransactionEvent",
                event(
                    "Updated",
                    meterValue=[
                        {
                            "timestamp": at,
                            "sampledValue": [
                                {
                                    "value": float(register),
                                    "measurand": "Energy.Active.Import.Register",
                                }
                            ],
                        }
                    ],
                ),
            )
            self.ledger.samples.add((self.cp, register))
        await self.call(
            "TransactionEvent",
            event(
                "Ended",
                triggerReason="StopAuthorized",
                transactionInfo={"transactionId": tx, "stoppedReason": "Local"},
            ),
        )
        self.ledger.ended201.add((self.cp, tx))

    async def run(self, stop: asyncio.Event, samples: int) -> None:
        """Charges in a loop until ``stop``; the session under way is finished."""
        try:
            for n in itertools.count():
                if stop.is_set():
                    return
                if self.version == "1.6":
                    await self.session16(n, samples)
                else:
                    await self.session201(n, samples)
                self.sessions += 1
                await asyncio.sleep(0.05)
        finally:
            await self._drop()


# -- the check --------------------------------------------------------------------


@dataclass
class Figures:
    faults: list[str]
    checked: int = 0
    lost: int = 0
    duplicated: int = 0
    unanswered: int = 0
    # Chargers that could not finish their session after the faults.
    stuck: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.unanswered or self.stuck)

    def problem(self, kind: str, text: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.problems) < 30:
            self.problems.append(f"{kind}: {text}")


def _number(value: Any) -> str:
    """A stored meter value as the charger's register text ('1007.0' -> '1007')."""
    try:
        return str(int(float(value)))
    except (TypeError, ValueError):
        return str(value)


@dataclass
class Stored:
    """What the database holds: stations (pk to id), sessions, and meter
    samples of the energy register counted per (station pk, value)."""

    stations: dict[int, str]
    sessions: list[dict[str, Any]]
    samples: list[dict[str, Any]]


async def fetch_stored(database_url: str) -> Stored:
    db = await asyncpg.connect(database_url)
    try:
        stations = {
            row["id"]: row["charge_point_id"]
            for row in await db.fetch("SELECT id, charge_point_id FROM station")
        }
        sessions = await db.fetch(
            "SELECT id, station, charger_transaction_id, status, closed_by, meter_stop_wh"
            " FROM charging_session"
        )
        samples = await db.fetch(
            "SELECT station, value, count(*) AS n FROM meter_value"
            " WHERE measurand = 'Energy.Active.Import.Register' GROUP BY station, value"
        )
    finally:
        await db.close()
    return Stored(stations, [dict(r) for r in sessions], [dict(r) for r in samples])


def compare(stored: Stored, ledger: Ledger, figures: Figures) -> None:
    """Counts what the chargers were answered against what is stored."""
    stations, sessions, samples = stored.stations, stored.sessions, stored.samples
    by_id = {row["id"]: row for row in sessions}
    # 1.6: one session per answered start (its transactionId), its stop kept.
    answered16 = {tx for tx in ledger.sessions16.values()}
    for (cp, n), tx in ledger.sessions16.items():
        figures.checked += 1
        row = by_id.get(tx)
        if row is None or stations.get(row["station"]) != cp:
            figures.problem("lost", f"{cp} session {n} (transactionId {tx})")
    for (cp, tx), stop_wh in ledger.stops16.items():
        figures.checked += 1
        row = by_id.get(tx)
        if row is None or row["status"] != "completed" or row["meter_stop_wh"] != stop_wh:
            figures.problem("lost", f"{cp} stop of {tx}")
    # 2.0.1: one session per transactionId, ended when the Ended was answered.
    by_tx: dict[tuple[str, str], list[Any]] = {}
    for row in sessions:
        cp = stations.get(row["station"], "?")
        if row["charger_transaction_id"] and "-T" in (row["charger_transaction_id"] or ""):
            by_tx.setdefault((cp, row["charger_transaction_id"]), []).append(row)
    for key in ledger.transactions201:
        figures.checked += 1
        rows = by_tx.get(key, [])
        if not rows:
            figures.problem("lost", f"{key[0]} transaction {key[1]}")
        elif len(rows) > 1:
            figures.problem("duplicated", f"{key[0]} transaction {key[1]} x{len(rows)}")
    for key in ledger.ended201:
        figures.checked += 1
        rows = by_tx.get(key, [])
        if not rows or rows[0]["status"] != "completed":
            figures.problem("lost", f"{key[0]} end of {key[1]}")
    for key in by_tx:
        if key not in ledger.transactions201:
            figures.problem("unanswered", f"{key[0]} transaction {key[1]} stored, never answered")
    # Sessions of 1.6 chargers beyond the answered starts are duplicates.
    for row in sessions:
        cp = stations.get(row["station"], "?")
        if "-16-" in cp and row["id"] not in answered16:
            figures.problem("duplicated", f"{cp} session {row['id']} not the answered one")
    # Meter samples: every answered one stored once.
    stored_samples = {
        (stations.get(row["station"], "?"), _number(row["value"])): row["n"] for row in samples
    }
    for key in ledger.samples:
        figures.checked += 1
        n = stored_samples.get(key, 0)
        if n == 0:
            figures.problem("lost", f"{key[0]} sample {key[1]}")
        elif n > 1:
            figures.problem("duplicated", f"{key[0]} sample {key[1]} x{n}")
    for key, n in stored_samples.items():
        if key not in ledger.samples and key[0].startswith("OUT-"):
            figures.problem("unanswered", f"{key[0]} sample {key[1]} stored x{n}, never answered")


# -- the run ----------------------------------------------------------------------


@dataclass
class Plan:
    chargers: int
    samples: int
    hang: float
    pause: float
    gap: float
    call_timeout: float
    write_timeout: float


SHORT = Plan(
    chargers=8, samples=3, hang=3.0, pause=1.0, gap=2.0, call_timeout=6.0, write_timeout=1.5
)
FULL = Plan(
    chargers=60, samples=5, hang=20.0, pause=5.0, gap=10.0, call_timeout=30.0, write_timeout=10.0
)
FAULTS = [(t, m) for t in ("postgres", "redis", "csms") for m in ("stop", "hang", "kill")]


async def run(
    plan: Plan,
    *,
    faults: list[tuple[str, str]] | None = None,
    keep: bool = False,
    out: Callable[[str], None] = print,
) -> Figures:
    root = Path(tempfile.mkdtemp(prefix="csms-outage-"))
    pg = Postgres(root)
    pg.init()
    pg.start()
    pg.create_database()
    redis = Redis(root)
    redis.start()
    csms = Csms(root, pg.url, redis.url, plan.write_timeout)
    services = Services(pg, redis, csms)
    figures = Figures(faults=[])
    started = time.monotonic()
    try:
        csms.migrate()
        csms.start()
        out(
            f"outage suite: PostgreSQL :{pg.port} ({pg.user}), Redis :{redis.port},"
            f" csms :{csms.ocpp_port}, {plan.chargers} chargers, in {root}"
        )
        ledger = Ledger()
        url = f"ws://127.0.0.1:{csms.ocpp_port}/ocpp"
        chargers = [
            Charger(
                f"OUT-{'16' if n % 2 == 0 else '201'}-{n:04d}",
                "1.6" if n % 2 == 0 else "2.0.1",
                lambda: url,
                ledger,
                plan.call_timeout,
            )
            for n in range(plan.chargers)
        ]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(c.run(stop, plan.samples)) for c in chargers]
        await asyncio.sleep(plan.gap)
        for target, mode in FAULTS if faults is None else faults:
            seconds = plan.hang if mode == "hang" else plan.pause
            fault = Fault(target, mode, seconds)
            before = sum(c.sessions for c in chargers)
            t0 = time.monotonic()
            await asyncio.to_thread(services.inject, fault)
            figures.faults.append(f"{target} {mode}")
            await asyncio.sleep(plan.gap)
            out(
                f"  {target:8} {mode:4} {seconds:4.0f} s: done in {time.monotonic() - t0:5.1f} s,"
                f" sessions meanwhile {sum(c.sessions for c in chargers) - before}"
            )
        stop.set()
        done, pending = await asyncio.wait(tasks, timeout=max(120.0, plan.call_timeout * 4))
        for task in pending:
            task.cancel()
        if pending:
            out(f"  {len(pending)} chargers did not finish their session in time")
        for task in done:
            if task.exception() is not None:
                out(f"  charger failed: {task.exception()!r}")
        figures.stuck = len(pending)
        compare(await fetch_stored(pg.url), ledger, figures)
        sessions = sum(c.sessions for c in chargers)
        out(
            f"faults injected: {len(figures.faults)}; sessions completed: {sessions};"
            f" records checked: {figures.checked}; lost: {figures.lost};"
            f" duplicated: {figures.duplicated}; stored unanswered: {figures.unanswered};"
            f" chargers stuck: {figures.stuck}"
        )
        out(
            f"charger retries: {ledger.retries}; reconnects: {ledger.reconnects};"
            f" CALLERRORs: {dict(sorted(ledger.callerrors.items()))};"
            f" {time.monotonic() - started:.0f} s"
        )
        for problem in figures.problems:
            out(f"  {problem}")
        return figures
    finally:
        await asyncio.to_thread(services.close)
        if keep:
            out(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.outage",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--short", action="store_true", help="the CI version (about a minute)")
    parser.add_argument("--chargers", type=int, help="chargers (half 1.6, half 2.0.1)")
    parser.add_argument("--hang", type=float, help="seconds each hang lasts")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--faults", help="comma-separated target:mode to inject (default: all nine), '' for none"
    )
    args = parser.parse_args(argv)
    reason = available()
    if reason is not None:
        print(f"outage suite cannot run: {reason}", file=sys.stderr)
        return 2
    plan = SHORT if args.short else FULL
    if args.chargers:
        plan.chargers = args.chargers
    if args.hang:
        plan.hang = args.hang
    faults = None
    if args.faults is not None:
        faults = [(t, m) for t, m in (f.split(":") for f in args.faults.split(",") if f)]
    figures = asyncio.run(run(plan, faults=faults, keep=args.keep))
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
