"""A station's local authorisation list: what it should hold, and bringing
it there with as few and as small SendLocalList calls as possible.

Free of I/O except through the ports at the bottom.

**What the list holds.** Every medium the station's access rules admit
(:class:`~csms.domain.access_rules.CompiledAccess`, compiled with the
entity tree), with its group as parent id and ``valid_until`` as expiry:

- active media get ``Accepted``;
- blocked and lost media get ``Blocked``, expired ones (status expired or
  ``valid_until`` past) ``Expired``: a charger that is offline refuses them
  from its list instead of letting an unknown card charge under
  ``AllowOfflineTxForUnknownId``, and the list overrides a stale
  ``Accepted`` in its authorisation cache (OCPP gives the list precedence);
- media that are not valid yet (``valid_from`` ahead) are left out: no OCPP
  status says "later", and a standing refusal in the list would outlive the
  date; the charger asks the CSMS about them when online;
- media the rules refuse are left out whatever their status (the charger
  asks, and is told NotAtThisLocation/Invalid).

**Versions and differential updates.** We keep what the station last
acknowledged (version and entries). A sync asks the station for its
version; if it is the one we recorded (and above 0), only the changes are
sent as a Differential (added or changed entries with their status,
removed ones without, i.e. status None), else the whole list as Full.
Nothing to change: nothing is sent.

**Parts.** A station takes at most ``items_per_message`` entries per call
(1.6 ``SendLocalListMaxLength``, 2.0.1
``LocalAuthListCtrlr.ItemsPerMessage``). A longer Full list goes as a first
Full part and then Differential parts; a longer Differential as several.
Each part carries the next version (v+1, v+2, ...): a charger refuses a
Differential whose version is not above the one it holds, so parts with one
shared version would be refused after the first.

**Recording.** The new state is recorded after each part the station
answered ``Accepted`` (so an interrupted multi-part sync leaves a true record
and the next sync continues with a Differential). ``VersionMismatch`` is
retried once as a Full list; ``Failed``, ``NotSupported`` (or a 1.6 version
of -1: no local list support), a timeout, busy or not connected stop the
sync and are given back to the operator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

import msgspec

from crm.access import Principal, Visibility
from crm.clock import utcnow
from crm.errors import InvalidInput, NotFound
from crm.media import MediumRecord, MediumStatus
from csms.commands.model import Command, GetLocalListVersion, LocalListEntry, SendLocalList
from csms.commands.outcomes import Answered, Outcome
from csms.domain.access_rules import CompiledAccess, StationAccess, StationAccessSource
from csms.domain.station_scope import station_in_scope

DEFAULT_ITEMS_PER_MESSAGE = 100
# What a station may be configured to take per message (a sanity bound).
MAX_ITEMS_PER_MESSAGE = 10_000

ACCEPTED = "Accepted"
BLOCKED = "Blocked"
EXPIRED = "Expired"

UpdateKind = Literal["full", "differential"]


# -- what the list should hold (pure) ---------------------------------------------------


def entry_for(medium: MediumRecord, access: CompiledAccess, now: datetime) -> LocalListEntry | None:
    """The medium's entry in this station's list, or None if it has none."""
    if not access.admits(medium):
        return None
    if medium.valid_from is not None and medium.valid_from > now:
        return None
    status = medium.status
    if status is MediumStatus.BLOCKED or status is MediumStatus.LOST:
        verdict = BLOCKED
    elif status is MediumStatus.EXPIRED or (
        medium.valid_until is not None and medium.valid_until <= now
    ):
        verdict = EXPIRED
    else:
        verdict = ACCEPTED
    return LocalListEntry(
        id_tag=medium.uid,
        status=verdict,
        expires_at=medium.valid_until,
        parent_id=medium.group_uid or None,
    )


def wanted_entries(
    media: Iterable[MediumRecord], access: CompiledAccess, now: datetime
) -> dict[str, LocalListEntry]:
    """The station's whole list, by id tag."""
    wanted: dict[str, LocalListEntry] = {}
    for medium in media:
        entry = entry_for(medium, access, now)
        if entry is not None:
            wanted[entry.id_tag] = entry
    return wanted


class Changes(msgspec.Struct, frozen=True):
    """What turns one list into another: entries to add, to change (both
    with their status) and to remove (status None), each sorted by id tag."""

    added: tuple[LocalListEntry, ...] = ()
    changed: tuple[LocalListEntry, ...] = ()
    removed: tuple[LocalListEntry, ...] = ()

    @property
    def entries(self) -> list[LocalListEntry]:
        return sorted((*self.added, *self.changed, *self.removed), key=lambda e: e.id_tag)

    def __len__(self) -> int:
        return len(self.added) + len(self.changed) + len(self.removed)


def changes(held: Mapping[str, LocalListEntry], wanted: Mapping[str, LocalListEntry]) -> Changes:
    added = tuple(wanted[tag] for tag in sorted(wanted.keys() - held.keys()))
    changed = tuple(
        wanted[tag] for tag in sorted(wanted.keys() & held.keys()) if wanted[tag] != held[tag]
    )
    removed = tuple(LocalListEntry(id_tag=tag) for tag in sorted(held.keys() - wanted.keys()))
    return Changes(added, changed, removed)


def apply(
    held: Mapping[str, LocalListEntry], update: UpdateKind, entries: Iterable[LocalListEntry]
) -> dict[str, LocalListEntry]:
    """The list a station holds after it accepted a part."""
    result = {} if update == "full" else dict(held)
    for entry in entries:
        if entry.status is None:
            result.pop(entry.id_tag, None)
        else:
            result[entry.id_tag] = entry
    return result


class HeldList(msgspec.Struct, frozen=True):
    """What a station holds as it last acknowledged, and how many entries
    it takes per message (None: the setting)."""

    version: int = 0
    entries: tuple[LocalListEntry, ...] = ()
    items_per_message: int | None = None

    def by_tag(self) -> dict[str, LocalListEntry]:
        return {entry.id_tag: entry for entry in self.entries}


class Part(msgspec.Struct, frozen=True):
    """One SendLocalList call."""

    update: UpdateKind
    version: int
    entries: tuple[LocalListEntry, ...]

    def command(self) -> SendLocalList:
        return SendLocalList(version=self.version, update=self.update, entries=self.entries)


class Plan(msgspec.Struct, frozen=True):
    """What a sync sends: ``update`` none when the station holds the list
    already."""

    update: UpdateKind | Literal["none"]
    parts: tuple[Part, ...]
    added: int = 0
    changed: int = 0
    removed: int = 0

    @property
    def version(self) -> int | None:
        return self.parts[-1].version if self.parts else None


def _chunks(entries: Sequence[LocalListEntry], size: int) -> list[tuple[LocalListEntry, ...]]:
    return [tuple(entries[i : i + size]) for i in range(0, len(entries), size)]


def plan(
    charger_version: int,
    held: HeldList | None,
    wanted: Mapping[str, LocalListEntry],
    items_per_message: int,
    *,
    full: bool = False,
) -> Plan:
    """The calls that bring a station whose list has ``charger_version`` to
    ``wanted``, given what we recorded it holds (``held``)."""
    if items_per_message < 1:
        raise ValueError("items_per_message must be at least 1")
    if not full and held is not None and held.version > 0 and charger_version == held.version:
        diff = changes(held.by_tag(), wanted)
        if not diff:
            return Plan("none", ())
        parts = tuple(
            Part("differential", held.version + i, chunk)
            for i, chunk in enumerate(_chunks(diff.entries, items_per_message), start=1)
        )
        return Plan(
            "differential",
            parts,
            added=len(diff.added),
            changed=len(diff.changed),
            removed=len(diff.removed),
        )
    base = max(charger_version, held.version if held is not None else 0, 0)
    entries = [wanted[tag] for tag in sorted(wanted)]
    chunks = _chunks(entries, items_per_message) or [()]
    parts = tuple(
        Part("full" if i == 1 else "differential", base + i, chunk)
        for i, chunk in enumerate(chunks, start=1)
    )
    return Plan("full", parts, added=len(entries))


# -- the service -------------------------------------------------------------------------


class SyncResult(msgspec.Struct, frozen=True):
    """What a sync did. ``synced``: the station now holds the wanted list.
    ``update``: full, differential or none (nothing to change). ``version``:
    the version it holds now as far as we know (None: nothing recorded).
    ``parts``: calls the station accepted. ``outcome``: what stopped the sync
    (a status other than Accepted, a timeout, not connected...)."""

    synced: bool
    update: str
    version: int | None
    entries: int
    sent: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    parts: int = 0
    retried_full: bool = False
    outcome: Outcome | None = None


class StationRef(msgspec.Struct, frozen=True):
    station_pk: int
    charge_point_id: str
    owner_entity_id: int | None


class LocalListView(msgspec.Struct, frozen=True):
    """What the API shows: the list the station holds as it acknowledged it."""

    station_id: int
    version: int | None
    items_per_message: int | None
    entries: list[LocalListEntry]
    updated_at: datetime | None = None


class SyncRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``full``: send the whole list even when a differential would do.
    ``items_per_message``: the most entries this station takes per call,
    remembered for it (default: ``CSMS_LOCAL_LIST_ITEMS_PER_MESSAGE``)."""

    full: bool = False
    items_per_message: int | None = None


class HeldListStore(Protocol):
    async def held(self, station_pk: int) -> HeldList | None: ...

    async def updated_at(self, station_pk: int) -> datetime | None: ...

    async def record(
        self, station_pk: int, version: int, entries: Mapping[str, LocalListEntry]
    ) -> None:
        """Stores what the station holds now (keeps items_per_message)."""
        ...

    async def set_items_per_message(self, station_pk: int, items: int | None) -> None: ...


class MediaSource(Protocol):
    async def all_media(self) -> list[MediumRecord]:
        """Every medium of the registry (unscoped: the list is the station's)."""
        ...


class Stations(Protocol):
    async def station_ref(self, visibility: Visibility, station_pk: int) -> StationRef | None:
        """The station if the visibility admits its owner."""
        ...


class CommandSender(Protocol):
    async def send(
        self, charge_point_id: str, command: Command, *, timeout: float | None = None
    ) -> Outcome: ...


def answered_version(outcome: Answered) -> int | None:
    """The list version in a GetLocalListVersion answer, whatever the
    version-neutral spelling of the translator."""
    for key in ("version", "list_version", "version_number", "listVersion", "versionNumber"):
        value = outcome.data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


async def command_station(stations: Stations, principal: Principal, station_pk: int) -> StationRef:
    """The station, if the principal may send it commands: the one rule of
    ``station_in_scope`` (403 without the permission, 404 outside its scope)."""
    return await station_in_scope(principal, "command", station_pk, stations.station_ref)


@dataclass(slots=True)
class LocalListService:
    store: HeldListStore
    media: MediaSource
    access: StationAccessSource
    commands: CommandSender
    stations: Stations
    items_per_message: int = DEFAULT_ITEMS_PER_MESSAGE
    clock: Callable[[], datetime] = utcnow
    # One sync per station at a time on this node.
    _locks: dict[int, asyncio.Lock] = field(default_factory=dict)

    async def wanted(self, station_pk: int) -> dict[str, LocalListEntry]:
        access = await self.access.station_access(station_pk)
        tree = await self.access.entity_tree()
        compiled = CompiledAccess.build(access or StationAccess(station_pk), tree)
        return wanted_entries(await self.media.all_media(), compiled, self.clock())

    async def view(self, principal: Principal, station_pk: int) -> LocalListView:
        principal.require("stations", "read")
        station = await self.stations.station_ref(principal.visible("stations"), station_pk)
        if station is None:
            raise NotFound(f"there is no station {station_pk}")
        held = await self.store.held(station_pk)
        return LocalListView(
            station_id=station_pk,
            version=held.version if held is not None else None,
            items_per_message=held.items_per_message if held is not None else None,
            entries=list(held.entries) if held is not None else [],
            updated_at=await self.store.updated_at(station_pk) if held is not None else None,
        )

    async def sync_for(
        self, principal: Principal, station_pk: int, request: SyncRequest
    ) -> SyncResult:
        station = await command_station(self.stations, principal, station_pk)
        if request.items_per_message is not None:
            if not 1 <= request.items_per_message <= MAX_ITEMS_PER_MESSAGE:
                raise InvalidInput(
                    f"items_per_message is 1 to {MAX_ITEMS_PER_MESSAGE}, "
                    f"not {request.items_per_message}"
                )
            await self.store.set_items_per_message(station_pk, request.items_per_message)
        return await self.sync(station.station_pk, station.charge_point_id, full=request.full)

    async def sync(
        self, station_pk: int, charge_point_id: str, *, full: bool = False
    ) -> SyncResult:
        lock = self._locks.setdefault(station_pk, asyncio.Lock())
        async with lock:
            return await self._sync(station_pk, charge_point_id, full)

    async def _sync(self, station_pk: int, charge_point_id: str, full: bool) -> SyncResult:
        wanted = await self.wanted(station_pk)
        held = await self.store.held(station_pk)
        asked = await self.commands.send(charge_point_id, GetLocalListVersion())
        recorded = held.version if held is not None else None
        if not isinstance(asked, Answered):
            return SyncResult(False, "none", recorded, len(wanted), outcome=asked)
        charger_version = answered_version(asked)
        if charger_version is None or charger_version < 0:
            # 1.6: -1 says the station has no local list.
            return SyncResult(
                False,
                "none",
                recorded,
                len(wanted),
                outcome=Answered("NotSupported", dict(asked.data)),
            )
        items = (held.items_per_message if held is not None else None) or self.items_per_message
        the_plan = plan(charger_version, held, wanted, items, full=full)
        result = await self._send(station_pk, charge_point_id, the_plan, held, len(wanted))
        mismatch = (
            isinstance(result.outcome, Answered) and result.outcome.status == "VersionMismatch"
        )
        if not mismatch:
            return result
        # The station's list is not what we thought: once more, whole.
        held = await self.store.held(station_pk)
        attempted = max(part.version for part in the_plan.parts)
        base = HeldList(version=attempted, items_per_message=items)
        retry = plan(max(charger_version, attempted), base, wanted, items, full=True)
        again = await self._send(station_pk, charge_point_id, retry, held, len(wanted))
        return msgspec.structs.replace(again, retried_full=True, parts=again.parts + result.parts)

    async def _send(
        self,
        station_pk: int,
        charge_point_id: str,
        the_plan: Plan,
        held: HeldList | None,
        total: int,
    ) -> SyncResult:
        current = held.by_tag() if held is not None else {}
        version = held.version if held is not None else None
        accepted = 0
        sent = 0
        for part in the_plan.parts:
            outcome = await self.commands.send(charge_point_id, part.command())
            if not (isinstance(outcome, Answered) and outcome.status == ACCEPTED):
                return SyncResult(
                    False,
                    the_plan.update,
                    version,
                    total,
                    sent=sent,
                    added=the_plan.added,
                    changed=the_plan.changed,
                    removed=the_plan.removed,
                    parts=accepted,
                    outcome=outcome,
                )
            current = apply(current, part.update, part.entries)
            version = part.version
            await self.store.record(station_pk, version, current)
            accepted += 1
            sent += len(part.entries)
        return SyncResult(
            True,
            the_plan.update,
            version,
            total,
            sent=sent,
            added=the_plan.added,
            changed=the_plan.changed,
            removed=the_plan.removed,
            parts=accepted,
        )
