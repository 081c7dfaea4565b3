"""The gateway's in-memory station directory (csms.domain.station_cache)."""

from __future__ import annotations

import pytest

from csms.domain.model import RegistrationStatus, StationProfile
from csms.domain.station_cache import CachedStationDirectory

pytestmark = pytest.mark.backend_independent


class _Directory:
    """A station table in memory that counts its reads."""

    def __init__(self) -> None:
        self.profiles: dict[str, StationProfile] = {}
        self.reads = 0

    async def find(self, charge_point_id: str) -> StationProfile | None:
        self.reads += 1
        return self.profiles.get(charge_point_id)

    async def all_profiles(self) -> list[StationProfile]:
        return list(self.profiles.values())


def _profile(charge_point_id: str) -> StationProfile:
    return StationProfile(
        pk=1, charge_point_id=charge_point_id, registration_status=RegistrationStatus.ACCEPTED
    )


async def test_a_station_added_after_its_charger_was_refused_is_found_at_once() -> None:
    """A station added by another process while its charger retries is found
    at the charger's next attempt, not after a cached miss expires (README
    walkthrough: it was refused for about 10 s)."""
    table = _Directory()
    now = [100.0]
    cache = CachedStationDirectory(table, clock=lambda: now[0])
    assert await cache.find("CP-1") is None
    table.profiles["CP-1"] = _profile("CP-1")
    now[0] += 0.5
    found = await cache.find("CP-1")
    assert found is not None and found.charge_point_id == "CP-1"


async def test_unknown_ids_fill_no_memory_and_known_ones_are_read_once() -> None:
    """Made-up ids are read each time and never kept; a known station is read
    once within the time-to-live."""
    table = _Directory()
    table.profiles["KNOWN"] = _profile("KNOWN")
    cache = CachedStationDirectory(table, clock=lambda: 0.0)
    for n in range(100):
        assert await cache.find(f"MADE-UP-{n}") is None
    assert cache._entries == {}
    reads = table.reads
    for _ in range(5):
        assert await cache.find("KNOWN") is not None
    assert table.reads == reads + 1
