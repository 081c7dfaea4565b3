"""Storage interfaces the domain services depend on.

Each has a piccolo implementation in :mod:`csms.storage` and an in-memory
twin in :mod:`csms.storage.memory` for fast tests of the domain logic.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import msgspec

from csms.domain.model import StationProfile


class StationDirectory(Protocol):
    """Reads what the gateway needs to know about stations."""

    async def find(self, charge_point_id: str) -> StationProfile | None: ...

    async def all_profiles(self) -> list[StationProfile]: ...


class ActiveSessions(Protocol):
    """Reads the sessions that are still open."""

    async def active_elsewhere(
        self, id_tag: str, *, station_pk: int, connector_id: int | None
    ) -> bool:
        """Whether ``id_tag`` has an open session on a connected station
        somewhere else: on another station when ``connector_id`` is None (an
        Authorize, which may be for stopping), else on any other connector.
        A stale session of an offline station does not lock the driver out."""
        ...


class OpenSession(msgspec.Struct, frozen=True):
    session_id: int
    station_pk: int
    connector_id: int
    started_at: datetime | None
    # The last energy register reading (Wh) the system has, if any.
    last_register_wh: int | None
    last_activity_at: datetime | None


class StaleSessionStore(Protocol):
    """Finds and closes sessions a charger never stopped."""

    async def superseded(self) -> list[tuple[OpenSession, datetime]]:
        """Open sessions whose connector has since started a later session,
        each with the later session's start time."""
        ...

    async def inactive_since(self, cutoff: datetime) -> list[OpenSession]:
        """Open sessions with no start, meter value or stop after ``cutoff``."""
        ...

    async def close_by_rule(
        self, session: OpenSession, *, rule: str, stopped_at: datetime, now: datetime
    ) -> bool:
        """Close an open session; False if it was closed meanwhile."""
        ...
