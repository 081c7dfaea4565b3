"""Changes that authorisation depends on, told to every node's cache.

:class:`BroadcastInvalidation` is what the CRM (``CrmChangeListener``) and
the station service (``StationChangeListener``) announce to: it drops the
entries of this node's cache at once and publishes the change on the bus;
:func:`change_handler` applies what other processes published. A lost
message is covered by the cache's entry age.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec

from csms.domain.authorization import Authorizer
from csms.domain.bus import Bus, Handler

log = logging.getLogger(__name__)

TOPIC = "authorization-changes"


class Change(msgspec.Struct, frozen=True, omit_defaults=True):
    # Who published it (a node's name, or the CLI's): it applied it already.
    origin: str
    media: list[str] = []
    entities: bool = False
    stations: list[int] = []
    all_stations: bool = False


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Change).decode


def apply(authorizer: Authorizer, change: Change) -> None:
    if change.media:
        authorizer.media_changed(frozenset(change.media))
    if change.entities:
        authorizer.entities_changed()
    if change.all_stations:
        authorizer.stations_changed(None)
    elif change.stations:
        authorizer.stations_changed(frozenset(change.stations))


def change_handler(authorizer: Authorizer, origin: str) -> Handler:
    """The bus subscriber that applies other processes' changes."""

    def handle(payload: bytes) -> None:
        try:
            change = _decode(payload)
        except msgspec.ValidationError as error:
            log.warning("dropped a malformed authorisation change: %s", error)
            return
        if change.origin != origin:
            apply(authorizer, change)

    return handle


class BroadcastInvalidation:
    """Applies each change to this process's cache (if it has one) and
    publishes it for the other processes."""

    def __init__(self, bus: Bus, origin: str, authorizer: Authorizer | None = None) -> None:
        self._bus = bus
        self._origin = origin
        self._authorizer = authorizer
        # Publications in flight, referenced until they finish.
        self._sending: set[asyncio.Task[int]] = set()

    def media_changed(self, uids: frozenset[str]) -> None:
        self._tell(Change(self._origin, media=sorted(uids)))

    def entities_changed(self) -> None:
        self._tell(Change(self._origin, entities=True))

    def stations_changed(self, station_pks: frozenset[int] | None) -> None:
        if station_pks is None:
            self._tell(Change(self._origin, all_stations=True))
        else:
            self._tell(Change(self._origin, stations=sorted(station_pks)))

    def _tell(self, change: Change) -> None:
        if self._authorizer is not None:
            apply(self._authorizer, change)
        task = asyncio.create_task(self._bus.publish(TOPIC, _encode(change)))
        self._sending.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[int]) -> None:
        self._sending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The others' caches let the entry age out instead (60 s).
            log.warning("could not publish an authorisation change: %s", task.exception())

    async def flush(self) -> None:
        """Waits until every change so far is published (a CLI before it exits)."""
        await asyncio.gather(*list(self._sending), return_exceptions=True)
