"""The map of connected stations on this node: charge point id to connection."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True, eq=False)
class Connected:
    """One live socket and what serves it."""

    charge_point_id: str
    station_pk: int
    protocol: str
    socket: Any
    # The protocol-level connection (set once serving starts); remote
    # commands send their calls through it.
    rpc: Any = None


class ConnectionRegistry:
    def __init__(self) -> None:
        self._by_id: dict[str, Connected] = {}
        self._by_pk: dict[int, Connected] = {}

    def add(self, entry: Connected) -> Connected | None:
        """Registers a connection; returns the one it replaces, if any."""
        previous = self._by_id.get(entry.charge_point_id)
        self._by_id[entry.charge_point_id] = entry
        self._by_pk[entry.station_pk] = entry
        return previous

    def remove(self, entry: Connected) -> bool:
        """Unregisters a connection unless a newer one replaced it; True if
        it was the current one."""
        if self._by_id.get(entry.charge_point_id) is not entry:
            return False
        del self._by_id[entry.charge_point_id]
        if self._by_pk.get(entry.station_pk) is entry:
            del self._by_pk[entry.station_pk]
        return True

    def get(self, charge_point_id: str) -> Connected | None:
        return self._by_id.get(charge_point_id)

    def by_pk(self, station_pk: int) -> Connected | None:
        return self._by_pk.get(station_pk)

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Connected]:
        return iter(list(self._by_id.values()))
