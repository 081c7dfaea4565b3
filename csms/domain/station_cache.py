"""A station directory cached in memory, so reconnect storms cost no queries.

Entries are loaded in one query at start-up and re-read when older than the
time-to-live, so an operator's change (a new secret, an accepted station)
reaches the gateway within that time even from another process; changes
made in this process are put in the cache at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from csms.domain.model import StationProfile
from csms.domain.ports import StationDirectory


class CachedStationDirectory:
    MISS_TTL = 5.0

    def __init__(
        self,
        directory: StationDirectory,
        *,
        ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, StationProfile | None]] = {}

    async def preload(self) -> int:
        now = self._clock()
        profiles = await self._directory.all_profiles()
        for profile in profiles:
            self._entries[profile.charge_point_id] = (now, profile)
        return len(profiles)

    async def find(self, charge_point_id: str) -> StationProfile | None:
        entry = self._entries.get(charge_point_id)
        if entry is not None:
            # An unknown id is re-read sooner: an operator adding a station
            # the charger already tried should not wait long.
            ttl = self._ttl if entry[1] is not None else min(self._ttl, self.MISS_TTL)
            if self._clock() - entry[0] < ttl:
                return entry[1]
        profile = await self._directory.find(charge_point_id)
        self._entries[charge_point_id] = (self._clock(), profile)
        return profile

    async def find_fresh(self, charge_point_id: str) -> StationProfile | None:
        """Reads through the cache (a boot asks for the current registration)."""
        self.invalidate(charge_point_id)
        return await self.find(charge_point_id)

    async def all_profiles(self) -> list[StationProfile]:
        return await self._directory.all_profiles()

    def put(self, profile: StationProfile) -> None:
        self._entries[profile.charge_point_id] = (self._clock(), profile)

    def invalidate(self, charge_point_id: str) -> None:
        self._entries.pop(charge_point_id, None)
