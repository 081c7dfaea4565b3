"""What the operators' API needs from the running system, handed over by the
composition root (``csms.bootstrap``) so that the API imports no node."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from crm.changes import CrmChangeListener, IgnoreChanges
from crm.services.auth import AuthService


class StationChangeListener(Protocol):
    def stations_changed(self, station_pks: frozenset[int] | None) -> None:
        """These stations' owner, group or access rules changed (None: every
        station, e.g. a station group's rules changed)."""
        ...


class IgnoreStationChanges:
    def stations_changed(self, station_pks: frozenset[int] | None) -> None:
        return None


@dataclass(slots=True)
class ApiContext:
    auth: AuthService = field(default_factory=AuthService)
    crm_changes: CrmChangeListener = field(default_factory=IgnoreChanges)
    station_changes: StationChangeListener = field(default_factory=IgnoreStationChanges)
