"""Group commit: batching by load, failure isolation, nothing lost."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from csms.domain.group_commit import GroupCommitter, WriterClosed
from csms.domain.writes import GroupResult, StoreEvent, WriteGroup

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _group(n: int) -> WriteGroup:
    return WriteGroup((StoreEvent(1, f"e{n}", NOW, NOW),))


class SlowSink:
    """Takes a while per batch, records batch sizes, fails what it is told to."""

    def __init__(self, delay: float = 0.01, poison: set[str] | None = None) -> None:
        self.delay = delay
        self.poison = poison or set()
        self.batches: list[list[str]] = []
        self.down = False

    async def apply(self, groups: Sequence[WriteGroup]) -> list[GroupResult]:
        await asyncio.sleep(self.delay)
        kinds = [g.writes[0].kind for g in groups]  # type: ignore[union-attr]
        if self.down or self.poison & set(kinds):
            raise RuntimeError("refused")
        self.batches.append(kinds)
        return [[None] for _ in groups]


async def test_a_lone_write_commits_without_waiting_for_company() -> None:
    """With nothing else queued, one write is one batch, committed at once."""
    sink = SlowSink(delay=0)
    writer = GroupCommitter(sink)
    writer.start()
    assert await writer.submit(_group(1)) == [None]
    assert sink.batches == [["e1"]]
    await writer.stop()


async def test_writes_arriving_during_a_commit_share_the_next_one() -> None:
    """Groups queued while a batch commits go together in the next batch."""
    sink = SlowSink(delay=0.02)
    writer = GroupCommitter(sink)
    writer.start()
    await asyncio.gather(*(writer.submit(_group(n)) for n in range(50)))
    assert sum(len(b) for b in sink.batches) == 50
    assert len(sink.batches) <= 3
    assert [k for b in sink.batches for k in b] == [f"e{n}" for n in range(50)]
    await writer.stop()


async def test_batch_size_is_capped() -> None:
    """No batch is larger than max_batch."""
    sink = SlowSink(delay=0.005)
    writer = GroupCommitter(sink, max_batch=7)
    writer.start()
    await asyncio.gather(*(writer.submit(_group(n)) for n in range(40)))
    assert max(len(b) for b in sink.batches) <= 7
    await writer.stop()


async def test_one_bad_group_fails_only_its_own_waiter() -> None:
    """When a batch fails, each group is retried alone: only the bad one fails."""
    sink = SlowSink(delay=0.01, poison={"e3"})
    writer = GroupCommitter(sink)
    writer.start()
    results = await asyncio.gather(
        *(writer.submit(_group(n)) for n in range(6)), return_exceptions=True
    )
    assert [isinstance(r, RuntimeError) for r in results] == [
        False,
        False,
        False,
        True,
        False,
        False,
    ]
    assert sorted(k for b in sink.batches for k in b) == ["e0", "e1", "e2", "e4", "e5"]
    await writer.stop()


async def test_an_outage_fails_every_waiter_and_the_writer_recovers() -> None:
    """During an outage every waiter gets the error; afterwards writes commit."""
    sink = SlowSink(delay=0)
    writer = GroupCommitter(sink)
    writer.start()
    sink.down = True
    with pytest.raises(RuntimeError):
        await writer.submit(_group(1))
    sink.down = False
    assert await writer.submit(_group(2)) == [None]
    await writer.stop()


async def test_stop_commits_what_is_queued_then_refuses_more() -> None:
    """Stopping drains the queue (deferred writes included) and then refuses."""
    sink = SlowSink(delay=0.01)
    writer = GroupCommitter(sink)
    writer.start()
    for n in range(5):
        writer.submit_nowait(_group(n))
    await writer.stop()
    assert sorted(k for b in sink.batches for k in b) == [f"e{n}" for n in range(5)]
    with pytest.raises(WriterClosed):
        await writer.submit(_group(9))


async def test_a_write_already_sent_is_awaited_past_the_timeout() -> None:
    """A batch slower than the timeout is not abandoned: its waiter gets the
    outcome (so no caller is told "not stored" about a write that commits)."""
    sink = SlowSink(delay=0.2)
    writer = GroupCommitter(sink, timeout=0.05)
    writer.start()
    assert await writer.submit(_group(1)) == [None]
    await writer.stop()
    assert sink.batches == [["e1"]]


async def test_a_write_still_queued_at_the_timeout_is_dropped_never_stored() -> None:
    """A group queued behind a slow batch past the timeout raises TimeoutError
    for its waiter and is dropped from the next batch: a late commit cannot
    add to what the caller's retry stores."""
    sink = SlowSink(delay=0.2)
    writer = GroupCommitter(sink, timeout=0.05)
    writer.start()
    first = asyncio.create_task(writer.submit(_group(1)))
    await asyncio.sleep(0.01)
    with pytest.raises(TimeoutError):
        await writer.submit(_group(2))
    assert await first == [None]
    assert await writer.submit(_group(3)) == [None]
    await writer.stop()
    assert sink.batches == [["e1"], ["e3"]]
    assert writer.dropped == 1


async def test_writes_that_commit_or_give_up_leave_no_deadline_behind() -> None:
    """The timeout's bookkeeping holds only groups still queued: after
    thousands of committed writes, some given up behind a slow batch and
    some whose caller was cancelled, nothing is left and no timer runs."""
    sink = SlowSink(delay=0.001)
    writer = GroupCommitter(sink, timeout=0.05)
    writer.start()
    for round_ in range(5):
        results = await asyncio.gather(*(writer.submit(_group(n)) for n in range(500)))
        assert results == [[None]] * 500, round_
    cancelled = asyncio.create_task(writer.submit(_group(-1)))
    await asyncio.sleep(0)
    cancelled.cancel()
    sink.delay = 0.2
    slow = asyncio.create_task(writer.submit(_group(1000)))
    await asyncio.sleep(0.01)
    with pytest.raises(TimeoutError):
        await writer.submit(_group(1001))
    assert await slow == [None]
    await asyncio.sleep(0.2)
    assert not writer._waiting and writer._sweeper is None
    await writer.stop()


class RecordingSink:
    """Keeps every batch's groups as the kinds of their writes."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.batches: list[list[list[str]]] = []

    async def apply(self, groups: Sequence[WriteGroup]) -> list[GroupResult]:
        await asyncio.sleep(self.delay)
        self.batches.append([[w.kind for w in g.writes] for g in groups])  # type: ignore[union-attr]
        return [[None] * len(g.writes) for g in groups]


async def test_records_nobody_waits_for_go_with_the_next_batch_as_one_group() -> None:
    """record_nowait's records wake an idle committer and are committed
    together, in order, as one group beside the waited-for writes; records
    made during a commit go in the next one."""
    sink = RecordingSink(delay=0.02)
    writer = GroupCommitter(sink)
    writer.start()
    for n in range(3):
        writer.record_nowait(StoreEvent(1, f"log{n}", NOW, NOW))
    await asyncio.sleep(0.005)  # the first batch is committing
    waited = asyncio.ensure_future(writer.submit(_group(1)))
    writer.record_nowait(StoreEvent(1, "log3", NOW, NOW))
    assert await waited == [None]
    await writer.stop()
    assert sink.batches == [[["log0", "log1", "log2"]], [["e1"], ["log3"]]]


async def test_stop_commits_the_records_made_before_it() -> None:
    """Records made before stop() are committed by it; later ones are
    refused with a warning, not queued."""
    sink = RecordingSink()
    writer = GroupCommitter(sink)
    writer.start()
    writer.record_nowait(StoreEvent(1, "last", NOW, NOW))
    await writer.stop()
    writer.record_nowait(StoreEvent(1, "late", NOW, NOW))
    assert sink.batches == [[["last"]]]
