"""Rating worker processes: the CPU part of rating (charging periods,
pricing, the CDR detail) off the rater's process.

``csms serve`` rates in the process that also answers chargers; with
workers, its event loop only decides audiences, reads and writes, and the
pricing runs in other processes (on other cores). A batch is split into
chunks sent as msgpack (``billing.rating.chunks``), one at a time to each
idle worker. A chunk whose worker died is rated in this process instead,
so nothing is lost, and a new worker takes the dead one's place.

Each worker has a pipe of its own, and only the worker holds the far end.
So a worker that dies, even halfway through writing an answer, ends its
pipe: the rater reads the end of the file, not a message that never
completes. (``concurrent.futures.ProcessPoolExecutor``, used before,
shares one result pipe among its workers: one killed while it wrote an
answer left the pool's reader waiting forever for the rest, and rating
stalled until the process was restarted.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

from billing.ports import CdrRecord
from billing.rating.chunks import ChunkEncoder, decode_records, rate_chunk
from billing.rating.compute import SessionWork, rate_all
from csms.collector import tune_garbage_collector

log = logging.getLogger(__name__)

# Sessions per chunk: small enough that the workers share a batch evenly,
# large enough that the message overhead stays small.
CHUNK_SESSIONS = 100


# Seconds a worker is given to exit when the pool stops, before it is killed.
STOP_SECONDS = 5.0
# Seconds between a worker's looks at whether its parent still lives.
_PARENT_CHECK_SECONDS = 1.0


def _start_worker(parent_pid: int) -> None:
    """Worker initializer: the garbage collector set as a node sets it, and
    the worker exits when the process that started it is gone (killed with
    -9, say), rather than live on as an orphan."""
    tune_garbage_collector()

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="rating-parent-watch", daemon=True).start()


# What starting a worker process raises when it cannot be started: out of
# processes or memory, or (ValueError) a worker died while another was
# being started and CPython passed its closed descriptors on.
_CANNOT_START = (OSError, ValueError, RuntimeError)

# What a worker is asked to do when it should exit.
_EXIT = b""
# A worker's answer when pricing a chunk failed (a chunk's CDRs are never
# empty bytes): the rater prices it itself, where the failure is recorded.
_FAILED = b""


def _serve(connection: Connection, parent_pid: int) -> None:
    """A worker process: prices the chunks it is sent, one at a time, until
    it is asked to exit or its pipe ends."""
    _start_worker(parent_pid)
    while True:
        try:
            payload = connection.recv_bytes()
        except (EOFError, OSError):
            return
        if payload == _EXIT:
            return
        try:
            answer = rate_chunk(payload)
        except Exception:
            log.exception("rating worker %s: pricing a chunk failed", os.getpid())
            answer = _FAILED
        connection.send_bytes(answer)


class WorkerDied(RuntimeError):
    """A worker's pipe ended before it answered: the worker is gone."""


class _Worker:
    """One worker process and the rater's end of its pipe."""

    __slots__ = ("busy", "connection", "process")

    def __init__(self, process: Any, connection: Connection) -> None:
        self.process = process
        self.connection = connection
        self.busy = False

    def exchange(self, payload: bytes) -> bytes:
        """Sends a chunk and waits for its answer (in a thread of the pool's)."""
        try:
            self.connection.send_bytes(payload)
            return self.connection.recv_bytes()
        except (EOFError, OSError) as error:
            raise WorkerDied(f"rating worker {self.process.pid} is gone ({error!r})") from None


class RatingWorkers:
    """A pool of ``processes`` rating worker processes (started on first use,
    with the spawn method: the rater's process holds threads and sockets a
    fork would copy). ``serve`` is what a worker process runs."""

    def __init__(
        self, processes: int, *, serve: Callable[[Connection, int], None] = _serve
    ) -> None:
        if processes < 1:
            raise ValueError("rating workers: at least one process")
        self.processes = processes
        self._serve = serve
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._idle: asyncio.Queue[_Worker] | None = None
        # One thread per worker waits for its answer.
        self._threads: ThreadPoolExecutor | None = None
        self._chunks = ChunkEncoder()

    def _start(self) -> _Worker:
        """A new worker process, started (one of _CANNOT_START when it
        cannot be)."""
        here, there = self._context.Pipe(duplex=True)
        try:
            process = self._context.Process(
                target=self._serve,
                args=(there, os.getpid()),
                name="rating-worker",
                daemon=True,
            )
            process.start()
        except BaseException:
            here.close()
            raise
        finally:
            # Only the worker holds the far end: its death ends the pipe.
            there.close()
        return _Worker(process, here)

    def _fill(self) -> asyncio.Queue[_Worker]:
        """The idle workers, the pool filled up to ``processes`` first."""
        if self._idle is None:
            self._idle = asyncio.Queue()
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self.processes, thread_name_prefix="rating-exchange")
        while len(self._workers) < self.processes:
            worker = self._start()
            self._workers.append(worker)
            self._idle.put_nowait(worker)
        return self._idle

    async def rate(self, works: list[SessionWork]) -> list[CdrRecord]:
        """The CDRs of ``works``, priced in the worker processes."""
        if not works:
            return []
        size = max(1, min(CHUNK_SESSIONS, -(-len(works) // self.processes)))
        chunks = [works[start : start + size] for start in range(0, len(works), size)]
        idle = await self._ready()
        if idle is None:
            log.error(
                "rating workers: none can be started; rating %d sessions in this process",
                len(works),
            )
            return rate_all(works)
        answers = await asyncio.gather(*(self._price(idle, chunk) for chunk in chunks))
        return [record for answer in answers for record in answer]

    async def _ready(self) -> asyncio.Queue[_Worker] | None:
        """The idle workers; the pool is started anew once if a worker cannot
        be started, None if it still cannot."""
        for attempt in (1, 2):
            try:
                return self._fill()
            except _CANNOT_START as error:
                log.warning(
                    "rating workers: cannot start a worker (attempt %d, %s: %s)",
                    attempt,
                    type(error).__name__,
                    error,
                )
                await self.close()
        return None

    async def _price(
        self, idle: asyncio.Queue[_Worker], chunk: list[SessionWork]
    ) -> list[CdrRecord]:
        """One chunk's CDRs, from the next idle worker; in this process when
        that worker dies first."""
        payload = self._chunks.encode(chunk)
        worker = await idle.get()
        worker.busy = True
        assert self._threads is not None
        exchange = asyncio.get_running_loop().run_in_executor(
            self._threads, worker.exchange, payload
        )
        try:
            # Shielded: a cancelled rater leaves the exchange to finish, and
            # the worker goes back to the pool only when it has answered.
            answer = await asyncio.shield(exchange)
        except asyncio.CancelledError:
            exchange.add_done_callback(lambda done: self._settle(worker, idle, done))
            raise
        except Exception as error:
            log.error("%s; rating %d sessions in this process", error, len(chunk))
            self._replace(worker, idle)
            return rate_all(chunk)
        self._release(worker, idle)
        if answer == _FAILED:
            log.error(
                "rating worker failed to price %d sessions; rating them in this process", len(chunk)
            )
            return rate_all(chunk)
        return decode_records(answer)

    def _settle(
        self, worker: _Worker, idle: asyncio.Queue[_Worker], exchange: asyncio.Future[bytes]
    ) -> None:
        """An exchange nobody waited for ended: its worker is idle again, or
        replaced if it died."""
        if exchange.cancelled() or exchange.exception() is not None:
            self._replace(worker, idle)
        else:
            self._release(worker, idle)

    def _release(self, worker: _Worker, idle: asyncio.Queue[_Worker]) -> None:
        worker.busy = False
        if worker in self._workers:
            idle.put_nowait(worker)

    def _replace(self, worker: _Worker, idle: asyncio.Queue[_Worker]) -> None:
        """A dead worker leaves the pool and a new one takes its place (if
        none can be started, the pool runs one short until the next batch
        fills it)."""
        if worker in self._workers:
            self._workers.remove(worker)
        worker.connection.close()
        worker.process.join(0)
        if self._idle is not idle:  # the pool was closed meanwhile
            return
        try:
            fresh = self._start()
        except _CANNOT_START as error:
            log.warning(
                "rating workers: cannot start a worker (%s: %s)", type(error).__name__, error
            )
            return
        self._workers.append(fresh)
        idle.put_nowait(fresh)

    def cpu_seconds(self) -> float:
        """CPU time the live worker processes have used (Linux; 0 elsewhere)."""
        total = 0
        for worker in self._workers:
            try:
                with open(f"/proc/{worker.process.pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / os.sysconf("SC_CLK_TCK")

    async def close(self) -> None:
        """Stops the workers: each idle one is asked to exit, and every one
        is given ``STOP_SECONDS``, then killed (a busy one's answer is not
        waited for: its exchange ends with its pipe)."""
        workers, self._workers = self._workers, []
        self._idle = None
        threads, self._threads = self._threads, None

        def stop() -> None:
            for worker in workers:
                if not worker.busy:
                    with contextlib.suppress(OSError):  # a worker already gone
                        worker.connection.send_bytes(_EXIT)
            deadline = time.monotonic() + STOP_SECONDS
            for worker in workers:
                worker.process.join(max(0.0, deadline - time.monotonic()))
            for worker in workers:
                if worker.process.is_alive():
                    log.warning("rating worker %s did not exit; killing it", worker.process.pid)
                    worker.process.kill()
                    worker.process.join(STOP_SECONDS)
                worker.connection.close()

        if workers:
            await asyncio.get_running_loop().run_in_executor(None, stop)
        if threads is not None:
            threads.shutdown(wait=False)
