"""Live station state for the operators' pages, across nodes.

Every node announces, on the bus, which stations changed: after each batch
of the group commit has been stored, the stations its records name (boot,
connect/disconnect, status, session start/stop/events, meter values,
station events) are published on :data:`TOPIC`, coalesced to at most one
message per :data:`FLUSH_SECONDS`. Every node's :class:`LiveFeed` hears
them and wakes the pages that watch those stations, so a page served by one
node follows chargers held by another. The message only says "look again":
the page reads the state from the services, as it does on load (scope and
hidden fields hold exactly as there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import msgspec

from csms.domain.bus import Bus
from csms.domain.group_commit import WriteSink
from csms.domain.writes import (
    GroupResult,
    StoreBoot,
    StoreEvent,
    StoreMeterValues,
    StorePresence,
    StoreSessionStart,
    StoreSessionStop,
    StoreStatus,
    StoreTransactionEvent,
    WriteGroup,
)

log = logging.getLogger(__name__)

TOPIC = "station-live"
FLUSH_SECONDS = 0.2
# Changes a page has not taken yet; a page that lags further misses some
# (it reads the whole state again on the next one).
WATCH_QUEUE = 64
_LIVE_RECORDS = (
    StoreBoot,
    StorePresence,
    StoreStatus,
    StoreSessionStart,
    StoreSessionStop,
    StoreTransactionEvent,
    StoreMeterValues,
    StoreEvent,
)


class LiveChange(msgspec.Struct, frozen=True):
    stations: list[int]


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(LiveChange).decode


class LivePublisher:
    """Collects changed stations and publishes them on the bus, coalesced."""

    def __init__(self, bus: Bus | None = None, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.bus = bus
        self._flush_seconds = flush_seconds
        self._pending: set[int] = set()
        self._task: asyncio.Task[None] | None = None

    def changed(self, station_pks: set[int]) -> None:
        if not station_pks or self.bus is None:
            return
        self._pending |= station_pks
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush(), name="live-publish")
            self._task.add_done_callback(_log_failure)

    async def _flush(self) -> None:
        await asyncio.sleep(self._flush_seconds)
        stations, self._pending = sorted(self._pending), set()
        if stations and self.bus is not None:
            await self.bus.publish(TOPIC, _encode(LiveChange(stations)))

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("live station changes not published: %r", task.exception())


class PublishingSink:
    """A write sink that tells the :class:`LivePublisher` which stations its
    stored batches changed (only after the batch was stored)."""

    def __init__(self, sink: WriteSink, publisher: LivePublisher) -> None:
        self._sink = sink
        self.publisher = publisher

    async def apply(self, groups: Sequence[WriteGroup]) -> list[GroupResult]:
        results = await self._sink.apply(groups)
        self.publisher.changed(
            {
                write.station_pk
                for group in groups
                for write in group.writes
                if isinstance(write, _LIVE_RECORDS)
            }
        )
        return results


class LiveFeed:
    """This node's listeners for station changes heard on the bus."""

    def __init__(self) -> None:
        self._watchers: set[asyncio.Queue[frozenset[int]]] = set()
        # Set when the node stops: every watcher gets an empty set and ends.
        self.closed = False

    def subscribe_to(self, bus: Bus) -> None:
        """Listens on the bus (before the bus starts: Redis needs that)."""
        bus.subscribe(TOPIC, self._heard)

    def _heard(self, payload: bytes) -> None:
        try:
            change = _decode(payload)
        except msgspec.DecodeError:
            log.warning("undecodable live change on the bus: %r", payload[:200])
            return
        stations = frozenset(change.stations)
        for queue in self._watchers:
            if queue.full():
                continue
            queue.put_nowait(stations)

    def watch(self) -> asyncio.Queue[frozenset[int]]:
        """A queue of changed-station sets; :meth:`unwatch` it when done."""
        queue: asyncio.Queue[frozenset[int]] = asyncio.Queue(maxsize=WATCH_QUEUE)
        self._watchers.add(queue)
        return queue

    def close(self) -> None:
        """Wakes every watcher with an empty set; they end (node stopping)."""
        self.closed = True
        for queue in self._watchers:
            while queue.full():
                queue.get_nowait()
            queue.put_nowait(frozenset())

    def unwatch(self, queue: asyncio.Queue[frozenset[int]]) -> None:
        self._watchers.discard(queue)

    @property
    def watchers(self) -> int:
        return len(self._watchers)
