"""The resolver that picks the assignment pricing a session: most specific
(station > group > all), then a counterparty match, then priority, then the
newest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.tariffs.assignments import AssignmentRow, Audience, resolve

pytestmark = pytest.mark.backend_independent

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STATION, GROUP, EMP = 10, 20, 30


def row(
    ident: int,
    *,
    station: int | None = None,
    group: int | None = None,
    counterparty: int | None = None,
    priority: int = 0,
    age: int = 0,
) -> AssignmentRow:
    return AssignmentRow(
        id=ident,
        owner_entity_id=1,
        tariff_id=100 + ident,
        audience=Audience.EMP,
        station_id=station,
        station_group_id=group,
        counterparty_entity_id=counterparty,
        priority=priority,
        created_at=T0 - timedelta(days=age),
    )


def pick(*rows: AssignmentRow, group: int | None = GROUP, emp: int | None = EMP) -> int | None:
    found = resolve(rows, station_id=STATION, station_group_id=group, counterparty_entity_id=emp)
    return None if found is None else found.id


def test_no_candidates_resolve_to_none() -> None:
    """Without any assignment nothing prices the session."""
    assert pick() is None


def test_assignments_for_other_stations_groups_or_counterparties_do_not_apply() -> None:
    """An assignment narrowed to another station, another group or another
    counterparty is no candidate, however high its priority."""
    assert (
        pick(
            row(1, station=11, priority=9),
            row(2, group=21, priority=9),
            row(3, counterparty=31, priority=9),
        )
        is None
    )


def test_a_station_beats_a_group_beats_all_stations() -> None:
    """The station's own assignment wins over its group's, which wins over
    one for every station, whatever their priorities."""
    every = row(1, priority=100)
    grouped = row(2, group=GROUP, priority=50)
    own = row(3, station=STATION)
    assert pick(every, grouped, own) == 3
    assert pick(every, grouped) == 2
    assert pick(every) == 1


def test_a_group_assignment_needs_the_station_in_that_group() -> None:
    """A station in no group is priced by the assignment for all stations."""
    assert pick(row(1, group=GROUP), row(2), group=None) == 2


def test_a_counterparty_match_beats_no_counterparty_at_the_same_specificity() -> None:
    """Among station-wide assignments, the one for this EMP wins over the
    one for any EMP, even with a lower priority."""
    assert pick(row(1, station=STATION, priority=5), row(2, station=STATION, counterparty=EMP)) == 2


def test_specificity_comes_before_the_counterparty() -> None:
    """A station assignment for any EMP beats an all-stations one for this EMP."""
    assert pick(row(1, counterparty=EMP), row(2, station=STATION)) == 2


def test_priority_then_newest_decide_among_equals() -> None:
    """Equally specific: the higher priority wins; equal priority: the newest."""
    assert pick(row(1, priority=1, age=0), row(2, priority=2, age=5)) == 2
    assert pick(row(1, age=5), row(2, age=0), row(3, age=3)) == 2


def test_same_moment_the_higher_id_wins() -> None:
    """Created at the same moment, the later row (higher id) wins, so the
    choice never depends on the candidates' order."""
    assert pick(row(2), row(1)) == 2
    assert pick(row(1), row(2)) == 2


def test_no_counterparty_known_only_matches_open_assignments() -> None:
    """A session without a counterparty entity is priced only by assignments
    for any counterparty."""
    assert pick(row(1, counterparty=EMP, priority=9), row(2), emp=None) == 2
