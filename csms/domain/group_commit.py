"""Group commit: many chargers' writes share one database transaction.

One transaction per message does not scale (SQLite opens a connection per
statement outside a transaction; PostgreSQL pays a round trip and a WAL flush
per commit). The committer takes whatever groups queued up while the previous
batch was committing and applies them together, so the batch size follows the
load: one group per commit when quiet, hundreds under a storm, and no added
delay either way.

If a batch fails, each of its groups is retried alone, so one bad record
fails only its own charger's call and a storage outage fails them all.

A failed or timed-out submit means "not stored": a group whose caller gave up
(the write timeout passed, or its task was cancelled) while it was still
queued is dropped before its batch is sent, and the timeout stops counting
once the group is on its way to the database: a batch already sent is awaited,
never abandoned. So a late commit cannot add to what a charger's retry stores
(the issue-14 stall: PostgreSQL hung for 51 s, calls answered InternalError
were committed afterwards next to their retries).

With ``in_flight`` above one (PostgreSQL: its server works on one batch while
the node forms and sends the next), a batch may start while others commit,
but never with a group that shares a conflict key (a station, the station
rows: :func:`csms.domain.writes.conflict_keys`) with a batch in flight or
with an earlier group still held back: such a group waits, in order, for a
later batch. So one station's writes still commit in the order they came.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from typing import Protocol

from csms.domain.writes import GroupResult, Write, WriteGroup, conflict_keys

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


class _Entry:
    """A queued group, its waiter (None: nobody waits) and whether its batch
    was sent to the database (from then on it is never given up)."""

    __slots__ = ("future", "group", "keys", "queued", "sent")

    def __init__(
        self,
        group: WriteGroup,
        future: asyncio.Future[GroupResult] | None,
        *,
        queued: int = 1,
    ) -> None:
        self.group = group
        self.future = future
        self.sent = False
        # The queue entries it stands for, marked done when its batch is over:
        # itself, or for the records' group (made when a batch is formed) the
        # wake-ups that came with it, so stop() waits for its commit.
        self.queued = queued
        # Its conflict keys, once asked (only with batches in flight at once).
        self.keys: frozenset[Hashable] | None = None

    @property
    def abandoned(self) -> bool:
        """Its caller gave up (timed out or cancelled): it must not be stored."""
        return self.future is not None and self.future.done()


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
        in_flight: int = 1,
        keys: Callable[[WriteGroup], frozenset[Hashable]] = conflict_keys,
    ) -> None:
        if in_flight < 1:
            raise ValueError("at least one batch must be allowed in flight")
        self._sink = sink
        self._max_batch = max_batch
        self._in_flight = in_flight
        self._keys = keys
        # Batches being committed (in_flight > 1): their tasks, and the
        # conflict keys of each; groups taken from the queue but held back
        # because a batch in flight shares a key with them, in order.
        self._flying: dict[asyncio.Task[None], frozenset[Hashable]] = {}
        self._landed = asyncio.Event()
        self._held: list[_Entry] = []
        self._observer = observer or _NullObserver()
        self._clock = clock
        self._timeout = timeout
        self._queue: asyncio.Queue[_Entry] = asyncio.Queue()
        # The waited-for groups not yet sent, with their deadlines, in the
        # order they were queued: batches are taken in that order, so the
        # sent ones are always at the front, and with one timeout for all
        # the deadlines are in order too. One timer checks the front now
        # and then, instead of a timer per write (its creation and cancel
        # were a tenth of a MeterValues' cost on the event loop).
        self._waiting: deque[tuple[float, _Entry]] = deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._sweep_interval = min(1.0, timeout / 10) if timeout else 1.0
        self.dropped = 0
        # Records nobody waits for, committed with the next batch as one
        # group (record_nowait); a _WAKE entry in the queue stands for them.
        self._records: list[Write] = []
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    @property
    def pending(self) -> int:
        """Groups waiting for the next batch."""
        return self._queue.qsize() + len(self._held)

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
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def submit(self, group: WriteGroup) -> GroupResult:
        """Queue a group and wait until it is committed (or failed).

        Raises TimeoutError if the group is still queued ``timeout`` seconds
        later; it is then dropped, never stored. Once its batch is sent the
        call waits for the database's outcome, however long that takes."""
        if self._closing:
            raise WriterClosed("the writer is shutting down")
        loop = self._loop or asyncio.get_running_loop()
        future: asyncio.Future[GroupResult] = loop.create_future()
        entry = _Entry(group, future)
        self._queue.put_nowait(entry)
        # The waiter may give up (timeout, or its task is cancelled when the
        # socket closes): a group not yet sent is then dropped from its
        # batch.
        if self._timeout is not None:
            self._waiting.append((loop.time() + self._timeout, entry))
            if self._sweeper is None:
                self._sweeper = loop.call_later(self._sweep_interval, self._sweep)
        return await future

    def _sweep(self) -> None:
        """Gives up the groups whose write timeout passed while queued."""
        self._sweeper = None
        loop = self._loop or asyncio.get_running_loop()
        now = loop.time()
        waiting = self._waiting
        while waiting:
            deadline, entry = waiting[0]
            if entry.sent or entry.abandoned:
                waiting.popleft()
            elif deadline <= now:
                waiting.popleft()
                _give_up(entry)
            else:
                break
        if waiting:
            self._sweeper = loop.call_later(self._sweep_interval, self._sweep)

    def submit_nowait(self, group: WriteGroup) -> None:
        """Queue a group nobody waits for; a failure is logged."""
        if self._closing:
            log.warning("writer closing, dropped deferred write %s", _describe(group))
            return
        self._queue.put_nowait(_Entry(group, None))

    def record_nowait(self, write: Write) -> None:
        """Queue a record nobody waits for, to be committed with the next
        batch in one group with the others queued so (the message log: a
        group of its own per call cost the event loop a queue entry, a group
        and their handling each). If that group fails, its records are
        lost together, and logged."""
        if self._closing:
            log.warning("writer closing, dropped deferred record %s", type(write).__name__)
            return
        if not self._records:
            self._queue.put_nowait(_WAKE)
        self._records.append(write)

    async def _run(self) -> None:
        while True:
            await self._next_batch()

    async def _next_batch(self) -> None:
        """Takes one batch from the queue and commits it (or, with batches
        in flight, starts its commit). One batch per call, so that what it
        held (every group, with its records' payloads) is let go when it
        returns: as locals of a loop they stayed in memory until the next
        write came, at idle the whole last batch of a boot storm."""
        queue = self._queue
        if self._in_flight > 1:
            await self._wait_for_a_slot()
        taken = [] if self._held else [await queue.get()]
        while len(taken) + len(self._held) < self._max_batch and not queue.empty():
            taken.append(queue.get_nowait())
        # Every entry taken from the queue is marked done once: these
        # now, the others when their batch is over.
        candidates: list[_Entry] = []
        given_up = wakes = 0
        for entry in (*self._held, *taken):
            if entry is _WAKE:
                wakes += 1
            elif entry.abandoned:
                given_up += 1
                queue.task_done()
            else:
                candidates.append(entry)
        self._held = []
        if given_up:
            self.dropped += given_up
            log.debug("dropped %d write groups their callers gave up", given_up)
        batch = self._clear_of_flight(candidates) if self._flying else candidates
        if self._records:
            records, self._records = self._records, []
            batch.append(_Entry(WriteGroup(tuple(records)), None, queued=wakes))
        elif wakes:
            # Their records went with an earlier batch.
            for _ in range(wakes):
                queue.task_done()
        if not batch:
            if self._flying:
                # Everything is held back by batches in flight.
                await self._next_landing()
            return
        for entry in batch:
            entry.sent = True
        waiting = self._waiting
        while waiting and waiting[0][1].sent:
            waiting.popleft()
        if self._in_flight == 1:
            await self._commit_and_finish(batch)
            return
        keys = frozenset().union(*(self._keys_of(entry) for entry in batch))
        task = asyncio.create_task(self._commit_and_finish(batch), name="group-commit-batch")
        self._flying[task] = keys
        task.add_done_callback(self._batch_landed)

    async def _wait_for_a_slot(self) -> None:
        while len(self._flying) >= self._in_flight:
            await self._next_landing()

    async def _next_landing(self) -> None:
        self._landed.clear()
        await self._landed.wait()

    def _batch_landed(self, task: asyncio.Task[None]) -> None:
        self._flying.pop(task, None)
        self._landed.set()
        if not task.cancelled() and task.exception() is not None:
            log.critical("write batch task died", exc_info=task.exception())

    def _keys_of(self, entry: _Entry) -> frozenset[Hashable]:
        if entry.keys is None:
            entry.keys = self._keys(entry.group)
        return entry.keys

    def _clear_of_flight(self, candidates: list[_Entry]) -> list[_Entry]:
        """The candidates that share no key with a batch in flight nor with
        an earlier candidate held back; the others are held, in order."""
        blocked: set[Hashable] = set().union(*self._flying.values())
        batch: list[_Entry] = []
        for entry in candidates:
            keys = self._keys_of(entry)
            if blocked.isdisjoint(keys):
                batch.append(entry)
            else:
                self._held.append(entry)
                blocked |= keys
        return batch

    async def _commit_and_finish(self, batch: list[_Entry]) -> None:
        try:
            await self._commit(batch)
        except Exception as error:
            # A bug, not a storage error: fail the waiters, keep serving.
            log.exception("write batch crashed")
            for entry in batch:
                _settle(entry, error=error)
        finally:
            for entry in batch:
                for _ in range(entry.queued):
                    self._queue.task_done()

    async def _commit(self, batch: list[_Entry]) -> None:
        started = self._clock()
        try:
            results = await self._sink.apply([entry.group for entry in batch])
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
                # A caller cancelled meanwhile got no answer: its group, not
                # committed, is not retried either.
                if not entry.abandoned:
                    await self._commit([entry])
            return
        self._observer.batch_committed(len(batch), self._clock() - started)
        for entry, result in zip(batch, results, strict=True):
            _settle(entry, result=result)


# Stands in the queue for the records of record_nowait (never stored itself).
_WAKE = _Entry(WriteGroup(()), None)


def _settle(
    entry: _Entry,
    *,
    result: GroupResult | None = None,
    error: BaseException | None = None,
) -> None:
    future = entry.future
    if future is None:
        if error is not None:
            log.error("deferred write failed: %s: %s", _describe(entry.group), error)
        return
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result if result is not None else [])


def _give_up(entry: _Entry) -> None:
    """The write timeout passed: a group still queued is given up (and
    dropped from its batch); one already sent is waited for."""
    future = entry.future
    if future is not None and not future.done() and not entry.sent:
        future.set_exception(TimeoutError("the write was not sent to the database in time"))


def _describe(group: WriteGroup) -> str:
    counts: dict[str, int] = {}
    for write in group.writes:
        name = type(write).__name__
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(name if n == 1 else f"{n} {name}" for name, n in counts.items())


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("group commit task died", exc_info=task.exception())
