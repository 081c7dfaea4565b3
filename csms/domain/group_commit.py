"""Group commit: many chargers' writes share one database transaction.

One transaction per message does not scale (SQLite opens a connection per
statement outside a transaction; PostgreSQL pays a round trip and a WAL flush
per commit). The committer takes whatever groups queued up while the previous
batch was committing and applies them together, so the batch size follows the
load: one group per commit when quiet, hundreds under a storm, and no added
delay either way.

If a batch fails, each of its groups is retried alone, so one bad record
fails only its own charger's call and a storage outage fails them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from csms.domain.writes import GroupResult, WriteGroup

log = logging.getLogger(__name__)


class WriteSink(Protocol):
    """Storage that applies a batch of write groups in one transaction."""

    async def apply(self, groups: Sequence[WriteGroup]) -> list[GroupResult]: ...


class CommitObserver(Protocol):
    def batch_committed(self, size: int, seconds: float) -> None: ...

    def batch_failed(self, size: int) -> None: ...


class _NullObserver:
    def batch_committed(self, size: int, seconds: float) -> None:
        pass

    def batch_failed(self, size: int) -> None:
        pass


class WriterClosed(RuntimeError):
    """The committer is stopping and takes no more writes."""


class GroupCommitter:
    """Queues write groups and commits them in batches on one background task."""

    def __init__(
        self,
        sink: WriteSink,
        *,
        max_batch: int = 2000,
        observer: CommitObserver | None = None,
        timeout: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._sink = sink
        self._max_batch = max_batch
        self._observer = observer or _NullObserver()
        self._clock = clock
        self._timeout = timeout
        self._queue: asyncio.Queue[tuple[WriteGroup, asyncio.Future[GroupResult] | None]] = (
            asyncio.Queue()
        )
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    @property
    def pending(self) -> int:
        """Groups waiting for the next batch."""
        return self._queue.qsize()

    def start(self) -> None:
        if self._task is None:
            # Kept: get_running_loop() costs a getpid() call on Python 3.11,
            # on every submit (2% of the event loop under load).
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.create_task(self._run(), name="group-commit")
            self._task.add_done_callback(_log_crash)

    async def stop(self) -> None:
        """Commit everything already queued, then stop."""
        self._closing = True
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def submit(self, group: WriteGroup) -> GroupResult:
        """Queue a group and wait until it is committed (or failed).

        Raises TimeoutError after ``timeout`` seconds; the write itself goes
        on and may still commit, which is why retried writes are idempotent."""
        if self._closing:
            raise WriterClosed("the writer is shutting down")
        loop = self._loop or asyncio.get_running_loop()
        future: asyncio.Future[GroupResult] = loop.create_future()
        self._queue.put_nowait((group, future))
        # The waiter may give up (timeout, or its task is cancelled when the
        # socket closes); the group stays in the batch and the write goes on,
        # and settling a future that is already done is skipped. A timer on
        # the future itself costs far less per call than wait_for(shield()).
        if self._timeout is None:
            return await future
        timer = loop.call_later(self._timeout, _give_up, future)
        try:
            return await future
        finally:
            timer.cancel()

    def submit_nowait(self, group: WriteGroup) -> None:
        """Queue a group nobody waits for; a failure is logged."""
        if self._closing:
            log.warning("writer closing, dropped deferred write %s", _describe(group))
            return
        self._queue.put_nowait((group, None))

    async def _run(self) -> None:
        queue = self._queue
        while True:
            batch = [await queue.get()]
            while len(batch) < self._max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                await self._commit(batch)
            except Exception as error:
                # A bug, not a storage error: fail the waiters, keep serving.
                log.exception("write batch crashed")
                for entry in batch:
                    _settle(entry, error=error)
            finally:
                for _ in batch:
                    queue.task_done()

    async def _commit(
        self, batch: list[tuple[WriteGroup, asyncio.Future[GroupResult] | None]]
    ) -> None:
        started = self._clock()
        try:
            results = await self._sink.apply([group for group, _ in batch])
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._observer.batch_failed(len(batch))
            if len(batch) == 1:
                _settle(batch[0], error=error)
                return
            log.warning(
                "batch of %d write groups failed (%s); retrying each alone", len(batch), error
            )
            for entry in batch:
                await self._commit([entry])
            return
        self._observer.batch_committed(len(batch), self._clock() - started)
        for entry, result in zip(batch, results, strict=True):
            _settle(entry, result=result)


def _settle(
    entry: tuple[WriteGroup, asyncio.Future[GroupResult] | None],
    *,
    result: GroupResult | None = None,
    error: BaseException | None = None,
) -> None:
    group, future = entry
    if future is None:
        if error is not None:
            log.error("deferred write failed: %s: %s", _describe(group), error)
        return
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result if result is not None else [])


def _give_up(future: asyncio.Future[GroupResult]) -> None:
    if not future.done():
        future.set_exception(TimeoutError("the write did not commit in time"))


def _describe(group: WriteGroup) -> str:
    return ", ".join(type(write).__name__ for write in group.writes)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("group commit task died", exc_info=task.exception())
