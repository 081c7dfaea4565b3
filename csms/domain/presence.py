"""Which stations were heard from, and when.

Every message a station sends counts as a sign of life. Last-seen times are
kept in memory and written in merged batches (one statement per flush, not
one per heartbeat); a connected station silent for longer than
``offline_after`` seconds is reported so the node can close its socket and
mark it offline.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class Presence:
    def __init__(
        self, offline_after: float, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._offline_after = timedelta(seconds=offline_after)
        self._clock = clock
        self._last_seen: dict[int, datetime] = {}
        self._unflushed: dict[int, datetime] = {}

    def seen(self, station_pk: int) -> datetime:
        now = self._clock()
        self._last_seen[station_pk] = now
        self._unflushed[station_pk] = now
        return now

    def forget(self, station_pk: int) -> None:
        """The station's socket closed on this node."""
        self._last_seen.pop(station_pk, None)

    def take_unflushed(self) -> dict[int, datetime]:
        """Last-seen times not yet written, handed over once."""
        unflushed, self._unflushed = self._unflushed, {}
        return unflushed

    def silent(self) -> list[int]:
        """Connected stations that have been silent for too long."""
        cutoff = self._clock() - self._offline_after
        return [pk for pk, seen in self._last_seen.items() if seen < cutoff]
