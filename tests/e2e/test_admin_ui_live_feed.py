"""The live feed behind the operators' live pages (csms.domain.live), with
the in-process bus two nodes share: which stations a stored batch names,
coalescing, nothing for a batch that failed, and the end of the watchers
when the node stops."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from csms.domain.live import LiveFeed, LivePublisher, PublishingSink
from csms.domain.writes import GroupResult, StoreMessage, StoreStatus, WriteGroup
from csms.messaging.in_process import InProcessHub

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def status(station_pk: int) -> StoreStatus:
    return StoreStatus(station_pk, 1, "Charging", "NoError", NOW, NOW)


def message(station_pk: int) -> StoreMessage:
    return StoreMessage(station_pk, "in", 2, "u1", "Heartbeat", "{}", NOW)


class Sink:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    async def apply(self, groups: Sequence[WriteGroup]) -> list[GroupResult]:
        if self.fail:
            raise ConnectionError("database gone")
        return [[None for _ in group.writes] for group in groups]


async def test_a_stored_batch_reaches_another_nodes_watchers_coalesced() -> None:
    """Two batches stored on node one within the flush interval reach a
    watcher on node two as one set of the stations whose state changed (a
    status), not those that only logged a message."""
    hub = InProcessHub()
    one, two = hub.bus(), hub.bus()
    feed = LiveFeed()
    feed.subscribe_to(two)
    await one.start()
    await two.start()
    publisher = LivePublisher(one, flush_seconds=0.05)
    sink = PublishingSink(Sink(), publisher)
    queue = feed.watch()
    await sink.apply([WriteGroup((status(7), message(9)))])
    await sink.apply([WriteGroup((status(8),))])
    assert await asyncio.wait_for(queue.get(), 2) == frozenset({7, 8})
    await asyncio.sleep(0.1)
    assert queue.empty()
    await publisher.close()
    await one.stop()
    await two.stop()


async def test_a_failed_batch_announces_nothing() -> None:
    """A batch the storage refused is not announced (the page would show
    nothing new)."""
    hub = InProcessHub()
    bus = hub.bus()
    feed = LiveFeed()
    feed.subscribe_to(bus)
    await bus.start()
    publisher = LivePublisher(bus, flush_seconds=0.01)
    queue = feed.watch()
    with pytest.raises(ConnectionError):
        await PublishingSink(Sink(fail=True), publisher).apply([WriteGroup((status(7),))])
    await asyncio.sleep(0.05)
    assert queue.empty()
    await bus.stop()


async def test_closing_the_feed_wakes_every_watcher_with_an_empty_set() -> None:
    """When the node stops, each watcher (an open event stream) gets an
    empty set and the feed says closed, so streams end and the server can
    stop."""
    feed = LiveFeed()
    first, second = feed.watch(), feed.watch()
    feed.close()
    assert feed.closed
    assert first.get_nowait() == frozenset()
    assert second.get_nowait() == frozenset()
