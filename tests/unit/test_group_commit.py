"""Group commit: batching by load, failure isolation, nothing lost."""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Hashable, Sequence
from datetime import UTC, datetime

import pytest

from csms.domain.group_commit import GroupCommitter, WriterClosed
from csms.domain.writes import (
    STATION_ROWS,
    GroupResult,
    StoreBoot,
    StoreEvent,
    StoreExchange,
    StoreLastSeen,
    StoreMeterValues,
    StoreNewStation,
    StorePresence,
    WriteGroup,
    conflict_keys,
)

pytestmark = pytest.mark.backend_independent

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


class ForgettingSink:
    """Counts the writes it is given and keeps none of them."""

    def __init__(self) -> None:
        self.writes = 0

    async def apply(self, groups: Sequence[WriteGroup]) -> list[GroupResult]:
        self.writes += sum(len(g.writes) for g in groups)
        return [[None] * len(g.writes) for g in groups]


async def test_an_idle_committer_holds_nothing_of_its_last_batch() -> None:
    """Once its batch is committed and the queue is empty, the committer
    keeps none of the batch's writes: at idle the last batch of a boot
    storm (a message-log record per call, with the charger's frame) would
    otherwise stay in memory until the next write came."""
    sink = ForgettingSink()
    writer = GroupCommitter(sink)
    writer.start()
    request = b'[2,"m-1","MeterValues",{}]' + b" " * 600
    references = sys.getrefcount(request)
    writer.record_nowait(
        StoreExchange(1, "m-1", "MeterValues", request, 2, b'[3,"m-1",{}]', 3, NOW)
    )
    assert sys.getrefcount(request) == references + 1
    assert await writer.submit(_group(1)) == [None]
    await asyncio.sleep(0)  # the committer is back waiting for the queue
    assert sink.writes == 2
    assert sys.getrefcount(request) == references
    await writer.stop()


def _station_group(station: int, n: int) -> WriteGroup:
    return WriteGroup((StoreEvent(station, f"s{station}-{n}", NOW, NOW),))


def _by_station(group: WriteGroup) -> frozenset[Hashable]:
    """Conflict keys for these tests: a group's station."""
    (write,) = group.writes
    assert isinstance(write, StoreEvent)
    return frozenset({write.station_pk})


class FlightSink:
    """Commits batches that overlap, each after a random delay (so a later
    batch may land first); keeps the commit order and the most batches that
    were in flight at once."""

    def __init__(
        self, seed: int = 7, most_delay: float = 0.004, delays: list[float] | None = None
    ) -> None:
        self.random = random.Random(seed)
        self.most_delay = most_delay
        # Fixed delays for the first batches, in order, instead of random ones.
        self.delays = list(delays or [])
        self.committed: list[str] = []
        self.batches: list[list[str]] = []
        self.flying = 0
        self.most_flying = 0

    async def apply(self, groups: Sequence[WriteGroup]) -> list[GroupResult]:
        self.flying += 1
        self.most_flying = max(self.most_flying, self.flying)
        kinds = [w.kind for g in groups for w in g.writes]  # type: ignore[union-attr]
        try:
            delay = self.delays.pop(0) if self.delays else self.random.uniform(0, self.most_delay)
            await asyncio.sleep(delay)
        finally:
            self.flying -= 1
        self.batches.append(kinds)
        self.committed.extend(kinds)
        return [[None] * len(g.writes) for g in groups]


async def test_a_second_batch_commits_while_the_first_is_in_flight() -> None:
    """With two batches allowed in flight, groups of other stations queued
    while a batch commits start at once instead of waiting for it."""
    sink = FlightSink(delays=[0.2, 0.0])
    writer = GroupCommitter(sink, in_flight=2, keys=_by_station)
    writer.start()
    first = asyncio.ensure_future(writer.submit(_station_group(1, 0)))
    await asyncio.sleep(0.01)
    assert await writer.submit(_station_group(2, 0)) == [None]
    assert not first.done(), "the second batch waited for the first"
    assert sink.most_flying == 2
    assert await first == [None]
    await writer.stop()


async def test_a_group_of_a_station_in_flight_waits_for_its_batch() -> None:
    """A group whose station has a batch in flight is held back (and the
    groups of that station after it), while other stations' groups go; it
    commits after its station's earlier group."""
    sink = FlightSink(most_delay=0, delays=[0.1])
    writer = GroupCommitter(sink, in_flight=2, keys=_by_station)
    writer.start()
    first = asyncio.ensure_future(writer.submit(_station_group(1, 0)))
    await asyncio.sleep(0.005)
    later = [
        asyncio.ensure_future(writer.submit(_station_group(station, n)))
        for station, n in ((1, 1), (2, 0), (1, 2), (3, 0))
    ]
    await asyncio.sleep(0.03)
    assert [task.done() for task in later] == [False, True, False, True]
    assert writer.pending == 2
    await asyncio.gather(first, *later)
    await writer.stop()
    ones = [kind for kind in sink.committed if kind.startswith("s1-")]
    assert ones == ["s1-0", "s1-1", "s1-2"]


@pytest.mark.parametrize("seed", range(5))
async def test_each_stations_writes_commit_in_order_with_batches_overlapping(
    seed: int,
) -> None:
    """Twenty stations write thirty groups each, waited for and not, while
    batches of random length overlap and land out of order: every group is
    committed once, each station's in the order it came, and two batches
    were in flight at once."""
    sink = FlightSink(seed=seed)
    writer = GroupCommitter(sink, in_flight=2, keys=_by_station, max_batch=25)
    writer.start()
    chance = random.Random(seed)

    async def station(number: int) -> None:
        for n in range(30):
            if chance.random() < 0.5:
                writer.submit_nowait(_station_group(number, n))
            else:
                assert await writer.submit(_station_group(number, n)) == [None]
            await asyncio.sleep(chance.uniform(0, 0.002))

    await asyncio.gather(*(station(number) for number in range(20)))
    await writer.stop()
    assert sorted(sink.committed) == sorted(f"s{s}-{n}" for s in range(20) for n in range(30))
    for number in range(20):
        mine = [kind for kind in sink.committed if kind.startswith(f"s{number}-")]
        assert mine == [f"s{number}-{n}" for n in range(30)], number
    assert sink.most_flying == 2


async def test_a_held_group_past_its_timeout_is_dropped_never_stored() -> None:
    """A group held back behind its station's batch in flight is not sent:
    when the write timeout passes it is given up and never stored."""
    sink = SlowSink(delay=0.2)
    writer = GroupCommitter(sink, in_flight=2, keys=_by_station, timeout=0.05)
    writer.start()
    first = asyncio.ensure_future(writer.submit(_station_group(1, 0)))
    await asyncio.sleep(0.01)
    with pytest.raises(TimeoutError):
        await writer.submit(_station_group(1, 1))
    assert await first == [None]
    assert await writer.submit(_station_group(1, 2)) == [None]
    await writer.stop()
    assert sink.batches == [["s1-0"], ["s1-2"]]
    assert writer.dropped == 1


async def test_stop_commits_the_groups_held_back() -> None:
    """stop() waits for the held-back groups too, then for every batch."""
    sink = FlightSink(most_delay=0.01)
    writer = GroupCommitter(sink, in_flight=2, keys=_by_station)
    writer.start()
    for n in range(10):
        writer.submit_nowait(_station_group(1, n))
        writer.submit_nowait(_station_group(2, n))
    await writer.stop()
    assert [k for k in sink.committed if k.startswith("s1-")] == [f"s1-{n}" for n in range(10)]
    assert len(sink.committed) == 20


def test_conflict_keys_name_the_station_and_the_station_rows() -> None:
    """Writes about a station's sessions, samples and connectors conflict by
    station; boots, presence and last seen also by the station rows (lock
    order); the message log and events with nothing."""
    samples = StoreMeterValues(4, 1, None, (), NOW)
    assert conflict_keys(WriteGroup((samples,))) == {4}
    boot = StoreBoot(5, NOW, "V", "M")
    assert conflict_keys(WriteGroup((boot, StoreEvent(5, "booted", NOW, NOW)))) == {
        5,
        STATION_ROWS,
    }
    assert conflict_keys(WriteGroup((StorePresence(6, False, "n", "ocpp1.6", NOW),))) == {
        6,
        STATION_ROWS,
    }
    assert conflict_keys(WriteGroup((StoreLastSeen({1: NOW, 2: NOW}),))) == {STATION_ROWS}
    assert conflict_keys(WriteGroup((StoreNewStation("CP", "Accepted", NOW),))) == {STATION_ROWS}
    message = StoreExchange(7, "u", "Heartbeat", b"[]", 2, b"[]", 3, NOW)
    assert conflict_keys(WriteGroup((message, StoreEvent(7, "x", NOW, NOW)))) == frozenset()
    with pytest.raises(ValueError):
        GroupCommitter(FlightSink(), in_flight=0)
