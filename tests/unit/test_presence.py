"""Which stations were heard from, and when their last-seen times are
handed over for writing (csms.domain.presence).

Run: ``python -m pytest tests/unit/test_presence.py -q``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from csms.domain.presence import Presence

pytestmark = pytest.mark.backend_independent

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
FIVE = timedelta(seconds=5)


class Clock:
    """A wall clock and a monotonic one, advanced together."""

    def __init__(self) -> None:
        self.now = T0
        self.ticks = 1000.0

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.ticks

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.ticks += seconds


def presence_on(clock: Clock) -> Presence:
    return Presence(offline_after=600, clock=clock, monotonic=clock.monotonic)


def test_a_station_is_handed_over_once_it_was_first_heard_long_enough_ago() -> None:
    """A station heard at 0 s and 3 s is not due at 4 s; at 5 s it is, with
    its latest time (3 s), and it is not handed over twice."""
    clock = Clock()
    presence = presence_on(clock)
    presence.seen(1)
    clock.advance(3)
    presence.seen(1)
    clock.advance(1)
    assert presence.take_unflushed(FIVE) == {}
    clock.advance(1)
    assert presence.take_unflushed(FIVE) == {1: T0 + timedelta(seconds=3)}
    assert presence.take_unflushed(FIVE) == {}
    assert presence.take_unflushed() == {}


def test_a_fleet_is_handed_over_in_the_order_and_spread_it_was_heard() -> None:
    """Stations first heard a second apart come due a second apart, each
    hand-over holding only those that are due."""
    clock = Clock()
    presence = presence_on(clock)
    for station in range(1, 11):
        presence.seen(station)
        clock.advance(1)
    # Now 10 s: stations 1 to 6 were first heard 5 s ago or more.
    assert list(presence.take_unflushed(FIVE)) == [1, 2, 3, 4, 5, 6]
    clock.advance(1)
    assert list(presence.take_unflushed(FIVE)) == [7]
    presence.seen(1)  # heard again after its hand-over: a new first time
    clock.advance(2)
    assert list(presence.take_unflushed(FIVE)) == [8, 9]
    assert presence.take_unflushed() == {
        10: T0 + timedelta(seconds=9),
        1: T0 + timedelta(seconds=11),
    }


def test_a_station_that_left_is_still_handed_over() -> None:
    """A station whose socket closed before its hand-over is handed over with
    the time it was first heard; every other entry is untouched."""
    clock = Clock()
    presence = presence_on(clock)
    presence.seen(1)
    presence.seen(2)
    clock.advance(2)
    presence.seen(1)
    presence.forget(1)
    clock.advance(3)
    assert presence.take_unflushed(FIVE) == {1: T0, 2: T0}
    assert presence.silent() == []


def test_taking_everything_ignores_how_long_ago() -> None:
    """At shutdown every station not yet written is handed over at once."""
    clock = Clock()
    presence = presence_on(clock)
    presence.seen(1)
    clock.advance(1)
    presence.seen(2)
    assert presence.take_unflushed() == {1: T0, 2: T0 + timedelta(seconds=1)}
    assert presence.take_unflushed() == {}


def test_a_wall_clock_set_back_holds_no_station() -> None:
    """The wall clock set back an hour (a time server's correction) does not
    keep stations heard afterwards waiting for that hour: when a station is
    due goes by the monotonic clock; the times handed over are the wall's."""
    clock = Clock()
    presence = presence_on(clock)
    presence.seen(1)
    clock.now -= timedelta(hours=1)
    presence.seen(2)
    clock.advance(5)
    assert presence.take_unflushed(FIVE) == {1: T0, 2: T0 - timedelta(hours=1)}
