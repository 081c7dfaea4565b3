"""A station directory cached in memory, so reconnect storms cost no queries.

Entries are loaded in one query at start-up and re-read when older than the
time-to-live, so an operator's change (a new secret, an accepted station)
reaches the gateway within that time even from another process; changes
made in this process are put in the cache at once. An unknown id is never
cached: a station added (by the CLI, another node) while its charger keeps
retrying is admitted at the charger's next attempt, and a charger trying
made-up ids fills no memory; each such attempt costs one indexed query.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from csms.domain.model import StationProfile
from csms.domain.ports import StationDirectory


class CachedStationDirectory:
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
        self._entries: dict[str, tuple[float, StationProfile]] = {}

    async def preload(self) -> int:
        now = self._clock()
        profiles = await self._directory.all_profiles()
        for profile in profiles:
            self._entries[profile.charge_point_id] = (now, profile)
        return len(profiles)

    async def find(self, charge_point_id: str) -> StationProfile | None:
        entry = self._entries.get(charge_point_id)
        if entry is not None and self._clock() - entry[0] < self._ttl:
            return entry[1]
        profile = await self._directory.find(charge_point_id)
        if profile is None:
            self._entries.pop(charge_point_id, None)
        else:
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
