"""Who may charge: the verdict on an identifier a charger asks about.

Decisions come from memory. The :class:`Authorizer` caches media by uid
(known and unknown ones, each bounded, least recently used out first), each
station's access (owner, group, rules compiled to sets) and the entity tree,
so a warm decision costs a few dictionary lookups and no query; the open
session check behind ConcurrentTx still asks :class:`ActiveSessions`.

The cache is told when what it holds changes: :meth:`Authorizer.media_changed`,
:meth:`Authorizer.entities_changed`, :meth:`Authorizer.stations_changed`.
Changes reach it through :mod:`csms.domain.invalidation`: at once from this
process, over the bus from the others (with Redis: every node and the CLI).
No entry is trusted for longer than ``max_age`` seconds all the same, which
bounds how long a change whose message was lost (or a change the in-process
bus cannot carry, from another process) takes to count.

A cold miss does not stampede: concurrent lookups of one key share one load.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from datetime import datetime
from typing import Final, Generic, TypeVar

from crm.clock import utcnow
from crm.media import MediaLookup, MediumRecord, MediumStatus
from crm.tree import EntityTree
from csms.domain.access_rules import CompiledAccess, StationAccess, StationAccessSource
from csms.domain.model import AuthorizationStatus, MediumFacts, TokenInfo
from csms.domain.ports import ActiveSessions

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Media held in memory: known ones, and uids that are not (a charger asks
# again for an unknown card; random uids must not push known ones out).
MEDIA_CACHE_SIZE = 200_000
UNKNOWN_MEDIA_CACHE_SIZE = 20_000
STATION_CACHE_SIZE = 100_000
# Seconds an entry is trusted without news of a change (see the module doc).
MAX_AGE = 60.0


class _Missing:
    __slots__ = ()


MISSING: Final = _Missing()


class LoadingCache(Generic[K, V]):
    """A bounded map filled by an async loader, one load per key at a time.

    ``None`` results (nothing there) are kept apart in a bound of their own.
    A load in flight when its key is invalidated still answers the callers
    waiting for it, but its result is not kept.
    """

    def __init__(
        self,
        load: Callable[[K], Awaitable[V | None]],
        *,
        max_size: int,
        max_none: int = 0,
        max_age: float = MAX_AGE,
        ticks: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._max_size = max_size
        self._max_none = max_none
        self._max_age = max_age
        self._ticks = ticks
        self._values: OrderedDict[K, tuple[V, float]] = OrderedDict()
        self._nones: OrderedDict[K, float] = OrderedDict()
        # The load in flight per key; new callers join it.
        self._loading: dict[K, asyncio.Task[V | None]] = {}
        # Every load task until it is done (one whose key was invalidated
        # meanwhile too), so none is only weakly referenced.
        self._tasks: set[asyncio.Task[V | None]] = set()
        self.loads = 0

    def __len__(self) -> int:
        return len(self._values) + len(self._nones)

    def peek(self, key: K) -> V | _Missing | None:
        """The cached value (None: cached as absent), or MISSING."""
        entry = self._values.get(key)
        if entry is not None:
            if self._ticks() - entry[1] <= self._max_age:
                self._values.move_to_end(key)
                return entry[0]
            del self._values[key]
            return MISSING
        stamp = self._nones.get(key)
        if stamp is not None:
            if self._ticks() - stamp <= self._max_age:
                self._nones.move_to_end(key)
                return None
            del self._nones[key]
        return MISSING

    async def get(self, key: K) -> V | None:
        value = self.peek(key)
        if value is MISSING:
            return await self.load(key)
        return value  # type: ignore[return-value]

    async def load(self, key: K) -> V | None:
        """Loads ``key``, or joins the load of it already in flight."""
        task = self._loading.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._fill(key))
            self._tasks.add(task)
            task.add_done_callback(self._done)
            self._loading[key] = task
        # Shielded: a caller that gives up does not cancel the others' load.
        return await asyncio.shield(task)

    def _done(self, task: asyncio.Task[V | None]) -> None:
        self._tasks.discard(task)
        # Every caller of a shared load may have gone (cancelled) before it
        # failed: the exception counts as seen.
        if not task.cancelled():
            task.exception()

    async def _fill(self, key: K) -> V | None:
        me = asyncio.current_task()
        self.loads += 1
        try:
            value = await self._load(key)
        except BaseException:
            if self._loading.get(key) is me:
                del self._loading[key]
            raise
        if self._loading.get(key) is me:
            del self._loading[key]
            self._keep(key, value)
        return value

    def _keep(self, key: K, value: V | None) -> None:
        now = self._ticks()
        if value is None:
            if self._max_none <= 0:
                return
            self._nones[key] = now
            self._nones.move_to_end(key)
            if len(self._nones) > self._max_none:
                self._nones.popitem(last=False)
            return
        self._values[key] = (value, now)
        self._values.move_to_end(key)
        if len(self._values) > self._max_size:
            self._values.popitem(last=False)

    def invalidate(self, keys: Iterable[K]) -> None:
        for key in keys:
            self._values.pop(key, None)
            self._nones.pop(key, None)
            self._loading.pop(key, None)

    def clear(self) -> None:
        self._values.clear()
        self._nones.clear()
        self._loading.clear()


def medium_status(record: MediumRecord, now: datetime) -> AuthorizationStatus:
    """What the medium itself says, before any station's rules."""
    status = record.status
    if status is MediumStatus.BLOCKED or status is MediumStatus.LOST:
        # A lost card must not charge; OCPP has no "lost", Blocked says it.
        return AuthorizationStatus.BLOCKED
    if status is MediumStatus.EXPIRED:
        return AuthorizationStatus.EXPIRED
    if record.valid_until is not None and record.valid_until <= now:
        return AuthorizationStatus.EXPIRED
    if record.valid_from is not None and record.valid_from > now:
        # Not valid yet. OCPP has no status for it: Expired would be false,
        # and a charger keeps Blocked in its local list as a standing
        # refusal; Invalid ("not valid now") is what the card is, and a
        # charger asks again later.
        return AuthorizationStatus.INVALID
    return AuthorizationStatus.ACCEPTED


class SessionMedium(MediumRecord, frozen=True):
    """A medium as authorisation caches it, with what a session keeps of
    it (its id, issuer, bill-to and owner contacts), so starting a session
    costs no query for them."""

    facts: MediumFacts | None = None


def medium_facts(record: MediumRecord) -> MediumFacts:
    """What a session keeps of a medium (only the issuer for a record that
    came without the rest)."""
    if isinstance(record, SessionMedium) and record.facts is not None:
        return record.facts
    return MediumFacts(medium_id=None, issuing_entity_id=record.issuing_entity_id)


_INVALID = TokenInfo(AuthorizationStatus.INVALID)
_ACCEPTED = AuthorizationStatus.ACCEPTED


class Authorizer:
    """Decides from the media registry and the station's access rules,
    through an in-memory cache."""

    __slots__ = ("_access", "_media", "_stations", "_tree", "clock", "sessions")

    def __init__(
        self,
        media: MediaLookup,
        sessions: ActiveSessions,
        access: StationAccessSource,
        *,
        clock: Callable[[], datetime] = utcnow,
        media_cache_size: int = MEDIA_CACHE_SIZE,
        unknown_media_cache_size: int = UNKNOWN_MEDIA_CACHE_SIZE,
        station_cache_size: int = STATION_CACHE_SIZE,
        max_age: float = MAX_AGE,
        ticks: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self._access = access
        self._media: LoadingCache[str, MediumRecord] = LoadingCache(
            media.lookup,
            max_size=media_cache_size,
            max_none=unknown_media_cache_size,
            max_age=max_age,
            ticks=ticks,
        )
        self._stations: LoadingCache[int, CompiledAccess] = LoadingCache(
            self._load_station, max_size=station_cache_size, max_age=max_age, ticks=ticks
        )
        self._tree: LoadingCache[int, EntityTree] = LoadingCache(
            self._load_tree, max_size=1, max_age=max_age, ticks=ticks
        )

    # -- loading ---------------------------------------------------------------

    async def _load_tree(self, _: int) -> EntityTree:
        return await self._access.entity_tree()

    async def _load_station(self, station_pk: int) -> CompiledAccess:
        access = await self._access.station_access(station_pk)
        tree = await self._tree.get(0)
        assert tree is not None
        # A station that is gone has no rules (it cannot be charging either).
        return CompiledAccess.build(access or StationAccess(station_pk), tree)

    async def station(self, station_pk: int) -> CompiledAccess:
        compiled = self._stations.peek(station_pk)
        if isinstance(compiled, CompiledAccess):
            return compiled
        loaded = await self._stations.load(station_pk)
        assert loaded is not None
        return loaded

    async def medium(self, uid: str) -> MediumRecord | None:
        record = self._media.peek(uid)
        if record is MISSING:
            return await self._media.load(uid)
        return record  # type: ignore[return-value]

    # -- deciding ----------------------------------------------------------------

    async def authorize(
        self,
        id_tag: str,
        *,
        station_pk: int,
        connector_id: int | None = None,
        check_concurrency: bool = True,
    ) -> TokenInfo:
        """Accepted, Blocked, Expired, Invalid (unknown, or not valid yet),
        NotAtThisLocation (valid, but this station's rules refuse it) or
        ConcurrentTx (charging on another connector right now)."""
        record = self._media.peek(id_tag)
        if record is MISSING:
            record = await self._media.load(id_tag)
        if record is None:
            return _INVALID
        assert isinstance(record, MediumRecord)
        if (
            record.status is MediumStatus.ACTIVE
            and record.valid_until is None
            and record.valid_from is None
        ):
            status = _ACCEPTED
        else:
            status = medium_status(record, self.clock())
        if status is _ACCEPTED:
            access = self._stations.peek(station_pk)
            if not isinstance(access, CompiledAccess):
                access = await self.station(station_pk)
            if not access.admits(record):
                status = AuthorizationStatus.NOT_AT_THIS_LOCATION
            elif check_concurrency and await self.sessions.active_elsewhere(
                id_tag, station_pk=station_pk, connector_id=connector_id
            ):
                status = AuthorizationStatus.CONCURRENT_TX
        return TokenInfo(
            status=status,
            parent_id=record.group_uid or None,
            expires_at=record.valid_until,
            medium=medium_facts(record),
        )

    # -- invalidation ----------------------------------------------------------------

    def media_changed(self, uids: Iterable[str]) -> None:
        """These media were added, edited, blocked or removed."""
        self._media.invalidate(uids)

    def entities_changed(self) -> None:
        """The entity tree changed: subtree rules are compiled anew."""
        self._tree.clear()
        self._stations.clear()

    def stations_changed(self, station_pks: Iterable[int] | None) -> None:
        """These stations' owner, group or rules changed (None: any station,
        e.g. a station group's rules)."""
        if station_pks is None:
            self._stations.clear()
        else:
            self._stations.invalidate(station_pks)

    @property
    def cached_media(self) -> int:
        return len(self._media)

    @property
    def loads(self) -> dict[str, int]:
        """Loads so far, per kind (for tests and the benchmark)."""
        return {
            "media": self._media.loads,
            "stations": self._stations.loads,
            "tree": self._tree.loads,
        }
