"""Which station a principal may act on: the one rule for every path that
takes a station id from a request (remote commands, local lists, security).

Without the permission for the action at all: Forbidden (403), which tells
nothing about any station. A station outside the action's scope is NotFound
(404), exactly as one that does not exist, so an id tells no one whether
another entity's station exists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from crm.access import Principal, Visibility
from crm.errors import NotFound

T = TypeVar("T")

# Finds a station by primary key among those the visibility shows.
StationFinder = Callable[[Visibility, int], Awaitable[T | None]]


async def station_in_scope(
    principal: Principal, action: str, station_pk: int, find: StationFinder[T]
) -> T:
    """The station ``station_pk`` if ``principal`` may ``action`` it (see
    the module's docstring for the answers otherwise)."""
    principal.require("stations", action)
    station = await find(principal.visible("stations", action), station_pk)
    if station is None:
        raise NotFound(f"there is no station {station_pk}")
    return station
