"""Rating worker processes: the CPU part of rating (charging periods,
pricing, the CDR detail) off the rater's process.

``csms serve`` rates in the process that also answers chargers; with
workers, its event loop only decides audiences, reads and writes, and the
pricing runs in other processes (on other cores). A batch is split into
chunks sent as msgpack (``billing.rating.chunks``). A chunk
whose worker died is rated in this process instead, so nothing is lost to
a broken pool; the pool is then started anew.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

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


class RatingWorkers:
    """A pool of ``processes`` rating worker processes (started on first use,
    with the spawn method: the rater's process holds threads and sockets a
    fork would copy)."""

    def __init__(self, processes: int) -> None:
        if processes < 1:
            raise ValueError("rating workers: at least one process")
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._chunks = ChunkEncoder()

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(os.getpid(),),
            )
        return self._pool

    async def rate(self, works: list[SessionWork]) -> list[CdrRecord]:
        """The CDRs of ``works``, priced in the worker processes."""
        if not works:
            return []
        loop = asyncio.get_running_loop()
        size = max(1, min(CHUNK_SESSIONS, -(-len(works) // self.processes)))
        chunks = [works[start : start + size] for start in range(0, len(works), size)]
        payloads = [self._chunks.encode(chunk) for chunk in chunks]
        futures = await self._submit(loop, payloads)
        if futures is None:
            log.error(
                "rating workers: none can be started; rating %d sessions in this process",
                len(works),
            )
            return rate_all(works)
        answers = await asyncio.gather(*futures, return_exceptions=True)
        records: list[CdrRecord] = []
        broken = False
        for chunk, answer in zip(chunks, answers, strict=True):
            if isinstance(answer, BaseException):
                if isinstance(answer, asyncio.CancelledError):
                    raise answer
                broken = broken or isinstance(answer, BrokenProcessPool)
                log.error(
                    "rating worker failed (%s: %s); rating %d sessions in this process",
                    type(answer).__name__,
                    answer,
                    len(chunk),
                )
                records += rate_all(chunk)
            else:
                records += decode_records(answer)
        if broken:
            await self.close()
        return records

    async def _submit(
        self, loop: asyncio.AbstractEventLoop, payloads: list[bytes]
    ) -> list[asyncio.Future[bytes]] | None:
        """The payloads handed to the pool, which is started anew once if it
        cannot take them; None if it still cannot."""
        for attempt in (1, 2):
            futures: list[asyncio.Future[bytes]] = []
            try:
                pool = self._executor()
                for payload in payloads:
                    futures.append(loop.run_in_executor(pool, rate_chunk, payload))
                return futures
            except BrokenProcessPool:  # a worker died since the last batch
                log.warning(
                    "rating workers: the pool broke (attempt %d); starting it anew", attempt
                )
            except (OSError, ValueError, RuntimeError) as error:
                # Starting a worker failed: out of processes or memory, or a
                # worker died while another was being started (CPython then
                # passes the dead one's closed descriptors on: ValueError).
                log.warning(
                    "rating workers: cannot start a worker (attempt %d, %s: %s)",
                    attempt,
                    type(error).__name__,
                    error,
                )
            for future in futures:  # handed out before the failure: not waited for
                future.cancel()
            await self.close()
        return None

    def cpu_seconds(self) -> float:
        """CPU time the live worker processes have used (Linux; 0 elsewhere)."""
        if self._pool is None:
            return 0.0
        total = 0
        for pid in list(getattr(self._pool, "_processes", None) or {}):
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / os.sysconf("SC_CLK_TCK")

    async def close(self) -> None:
        """Stops the workers: each is asked to exit and given
        ``STOP_SECONDS``, then killed. (A worker killed while it waited for
        work dies holding the task queue's lock; the others then never
        read their exit request, and the pool's own shutdown would wait
        for them forever.)"""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())

        def stop() -> None:
            pool.shutdown(wait=False, cancel_futures=True)
            deadline = time.monotonic() + STOP_SECONDS
            for process in processes:
                process.join(max(0.0, deadline - time.monotonic()))
            for process in processes:
                if process.is_alive():
                    log.warning("rating worker %s did not exit; killing it", process.pid)
                    process.kill()
                    process.join(STOP_SECONDS)

        await asyncio.get_running_loop().run_in_executor(None, stop)
