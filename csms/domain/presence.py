"""Which stations were heard from, and when.

Every message a station sends counts as a sign of life. Last-seen times are
kept in memory and written in merged batches (not one statement per
heartbeat); a connected station silent for longer than ``offline_after``
seconds is reported so the node can close its socket and mark it offline.

A station's time is handed over for writing a fixed while after it was
first heard since its last write, so the writes follow the fleet's
messages, spread over time. Handing over every station heard in the last
five seconds at once put 5,000 stations' rows into one commit (70 ms on a
slow machine), and every charger's answer waiting on that commit waited
for it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class Presence:
    def __init__(
        self,
        offline_after: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._offline_after = timedelta(seconds=offline_after)
        self._clock = clock
        self._monotonic = monotonic
        self._last_seen: dict[int, datetime] = {}
        # When each station was first heard since its time was last handed
        # over, in that order (a dict keeps a key's first place): on the
        # monotonic clock, which says when it is due (a wall clock set back
        # would hold every later station behind it), and the time itself.
        self._unflushed: dict[int, tuple[float, datetime]] = {}

    def seen(self, station_pk: int) -> datetime:
        now = self._clock()
        self._last_seen[station_pk] = now
        if station_pk not in self._unflushed:
            self._unflushed[station_pk] = (self._monotonic(), now)
        return now

    def forget(self, station_pk: int) -> None:
        """The station's socket closed on this node."""
        self._last_seen.pop(station_pk, None)

    def take_unflushed(self, heard_for: timedelta | None = None) -> dict[int, datetime]:
        """Last-seen times not yet written, handed over once: of the
        stations first heard (since their last hand-over) at least
        ``heard_for`` ago, or of all. A station that left since keeps the
        time it was first heard (its socket's close wrote a later one,
        which the write does not go back on)."""
        cutoff = None if heard_for is None else self._monotonic() - heard_for.total_seconds()
        taken: dict[int, datetime] = {}
        for station_pk, (heard_at, first) in self._unflushed.items():
            if cutoff is not None and heard_at > cutoff:
                break
            taken[station_pk] = self._last_seen.get(station_pk, first)
        if len(taken) == len(self._unflushed):
            self._unflushed = {}
        else:
            for station_pk in taken:
                del self._unflushed[station_pk]
        return taken

    def silent(self) -> list[int]:
        """Connected stations that have been silent for too long."""
        cutoff = self._clock() - self._offline_after
        return [pk for pk, seen in self._last_seen.items() if seen < cutoff]
