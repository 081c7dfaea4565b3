"""Figures over many rows for the dashboard and the sortable lists: rows
read page by page through the services (500 at a time, up to a cap), the
stations' states counted from their connectors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from csms.domain.station_admin import ConnectorState, Station

T = TypeVar("T")

PAGE = 500
# Rows a dashboard figure or a sorted list reads at most.
CAP = 20_000
CHARGING = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE", "Occupied"})
FAULTED = frozenset({"Faulted"})

Fetch = Callable[[int, int], Awaitable[tuple[list[T], int]]]


async def all_rows(fetch: Fetch[T], cap: int = CAP) -> tuple[list[T], int]:
    """Every row ``fetch(limit, offset)`` gives, up to ``cap``; and the total."""
    rows, total = await fetch(PAGE, 0)
    while len(rows) < min(total, cap):
        more, total = await fetch(PAGE, len(rows))
        if not more:
            break
        rows.extend(more)
    return rows[:cap], total


@dataclass(slots=True, frozen=True)
class Fault:
    station: Station
    connector: ConnectorState


@dataclass(slots=True)
class FleetState:
    online: int = 0
    offline: int = 0
    charging: int = 0
    faulted: int = 0
    faults: list[Fault] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.online + self.offline


def fleet_state(stations: list[Station], recent_faults: int = 10) -> FleetState:
    """Stations online and offline, charging (a connected station with a
    connector charging) and faulted (a connected station with a faulted
    connector), and the latest faults first."""
    state = FleetState()
    for station in stations:
        if not station.connected:
            state.offline += 1
            continue
        state.online += 1
        statuses = {c.status for c in station.connectors}
        if statuses & CHARGING:
            state.charging += 1
        if statuses & FAULTED:
            state.faulted += 1
        state.faults.extend(
            Fault(station, c)
            for c in station.connectors
            if c.status in FAULTED or (c.error_code and c.error_code != "NoError")
        )
    epoch = datetime.min.replace(tzinfo=None)
    state.faults.sort(
        key=lambda f: (
            f.connector.status_at.replace(tzinfo=None) if f.connector.status_at else epoch
        ),
        reverse=True,
    )
    del state.faults[recent_faults:]
    return state


def _when(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else 0.0


STATION_SORTS: dict[str, Callable[[Station], object]] = {
    "charge_point_id": lambda s: s.charge_point_id.lower(),
    "state": lambda s: (not s.connected, s.charge_point_id.lower()),
    "city": lambda s: (s.city.lower(), s.charge_point_id.lower()),
    "last_seen": lambda s: _when(s.last_seen_at),
}
