"""An in-memory twin of :mod:`billing.storage.tariffs` for unit tests: one
object is both the service's ``TariffStore`` and the rater's
``TariffLookup``. Tests set up the world it checks against (entities,
stations, station groups, CDRs referring to versions) with its ``add_*``
methods; visibility is applied as the scoping function applies it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec

from billing.tariffs.assignments import AssignmentRow, Audience
from billing.tariffs.lookup import RatingTariffs, TariffVersionRow
from billing.tariffs.model import Tariff, parse_tariff
from billing.tariffs.records import (
    AssignmentFilter,
    CommunityPartner,
    TariffAssignment,
    TariffAssignmentCreate,
    TariffEntry,
    TariffFilter,
    TariffVersionEntry,
)
from crm.access import Visibility
from crm.errors import Conflict
from crm.tree import EntityTree


@dataclass
class _Version:
    entry: TariffVersionEntry
    ocpi: str


@dataclass
class MemoryTariffs:
    entities: dict[int, int | None] = field(default_factory=dict)
    inactive: set[int] = field(default_factory=set)
    stations: dict[int, int | None] = field(default_factory=dict)
    station_groups: dict[int, int | None] = field(default_factory=dict)
    # CDRs: the version id each one was priced with.
    cdr_versions: list[int] = field(default_factory=list)
    tariffs: dict[int, TariffEntry] = field(default_factory=dict)
    _versions: dict[int, _Version] = field(default_factory=dict)
    assignments: dict[int, TariffAssignment] = field(default_factory=dict)
    partners: dict[int, CommunityPartner] = field(default_factory=dict)
    _next_id: int = 0
    _parsed: dict[int, Tariff] = field(default_factory=dict)
    # How many times a version's OCPI text was parsed (the cache's test).
    parses: int = 0

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    # -- setting up the world -----------------------------------------------------------

    def add_entity(self, entity_id: int, parent: int | None = None, *, active: bool = True) -> int:
        self.entities[entity_id] = parent
        if not active:
            self.inactive.add(entity_id)
        return entity_id

    def add_station(self, station_id: int, owner: int | None) -> int:
        self.stations[station_id] = owner
        return station_id

    def add_station_group(self, group_id: int, owner: int | None) -> int:
        self.station_groups[group_id] = owner
        return group_id

    # -- tariffs and versions ---------------------------------------------------------------

    async def page(
        self, visibility: Visibility, filters: TariffFilter, *, limit: int, offset: int
    ) -> tuple[list[TariffEntry], int]:
        found = [
            t
            for _, t in sorted(self.tariffs.items())
            if t.owner_entity_id in visibility
            and filters.owner_entity_id in (None, t.owner_entity_id)
            and filters.code in (None, t.code)
        ]
        return found[offset : offset + limit], len(found)

    async def get(self, tariff_id: int, visibility: Visibility) -> TariffEntry | None:
        tariff = self.tariffs.get(tariff_id)
        return tariff if tariff is not None and tariff.owner_entity_id in visibility else None

    async def by_code(self, owner_entity_id: int, code: str) -> TariffEntry | None:
        return next(
            (
                t
                for t in self.tariffs.values()
                if t.owner_entity_id == owner_entity_id and t.code == code
            ),
            None,
        )

    async def versions(self, tariff_id: int) -> list[TariffVersionEntry]:
        return sorted(
            (v.entry for v in self._versions.values() if v.entry.tariff_id == tariff_id),
            key=lambda v: v.valid_from,
        )

    def _version_at(self, tariff_id: int, when: datetime) -> _Version | None:
        valid = [
            v
            for v in self._versions.values()
            if v.entry.tariff_id == tariff_id and v.entry.valid_from <= when
        ]
        return max(valid, key=lambda v: v.entry.valid_from, default=None)

    async def ocpi_at(
        self, tariff_id: int, when: datetime
    ) -> tuple[TariffVersionEntry, str] | None:
        version = self._version_at(tariff_id, when)
        return (version.entry, version.ocpi) if version else None

    async def add(
        self,
        owner_entity_id: int,
        code: str,
        name: str,
        currency: str,
        valid_from: datetime,
        ocpi: str,
    ) -> tuple[TariffEntry, TariffVersionEntry]:
        if await self.by_code(owner_entity_id, code) is not None:
            raise Conflict(f"entity {owner_entity_id} has a tariff {code!r} already")
        now = datetime.now(UTC)
        tariff = TariffEntry(
            id=self._id(),
            owner_entity_id=owner_entity_id,
            code=code,
            name=name,
            currency=currency,
            created_at=now,
            updated_at=now,
        )
        self.tariffs[tariff.id] = tariff
        return tariff, await self.add_version(tariff.id, valid_from, ocpi, None)

    async def add_version(
        self, tariff_id: int, valid_from: datetime, ocpi: str, name: str | None
    ) -> TariffVersionEntry:
        valid_from = valid_from.astimezone(UTC)
        if any(
            v.entry.tariff_id == tariff_id and v.entry.valid_from == valid_from
            for v in self._versions.values()
        ):
            raise Conflict(
                f"tariff {tariff_id} has a version valid from {valid_from.isoformat()} already "
                "(versions are never changed)"
            )
        now = datetime.now(UTC)
        entry = TariffVersionEntry(
            id=self._id(), tariff_id=tariff_id, valid_from=valid_from, created_at=now
        )
        self._versions[entry.id] = _Version(entry, ocpi)
        tariff = self.tariffs[tariff_id]
        changes: dict[str, object] = {"updated_at": now}
        if name is not None:
            changes["name"] = name
        self.tariffs[tariff_id] = msgspec.structs.replace(tariff, **changes)
        return entry

    async def references(self, tariff_id: int) -> tuple[int, int]:
        versions = {v.entry.id for v in self._versions.values() if v.entry.tariff_id == tariff_id}
        return (
            sum(1 for a in self.assignments.values() if a.tariff_id == tariff_id),
            sum(1 for v in self.cdr_versions if v in versions),
        )

    async def delete(self, tariff_id: int) -> None:
        self.tariffs.pop(tariff_id, None)
        for key in [k for k, v in self._versions.items() if v.entry.tariff_id == tariff_id]:
            del self._versions[key]

    # -- assignments ----------------------------------------------------------------------

    async def assignment_page(
        self, visibility: Visibility, filters: AssignmentFilter, *, limit: int, offset: int
    ) -> tuple[list[TariffAssignment], int]:
        found = [
            a
            for _, a in sorted(self.assignments.items())
            if a.owner_entity_id in visibility
            and filters.owner_entity_id in (None, a.owner_entity_id)
            and filters.tariff_id in (None, a.tariff_id)
            and filters.audience in (None, a.audience)
        ]
        return found[offset : offset + limit], len(found)

    async def get_assignment(
        self, assignment_id: int, visibility: Visibility
    ) -> TariffAssignment | None:
        found = self.assignments.get(assignment_id)
        return found if found is not None and found.owner_entity_id in visibility else None

    async def add_assignment(
        self, owner_entity_id: int, data: TariffAssignmentCreate
    ) -> TariffAssignment:
        assignment = TariffAssignment(
            id=self._id(),
            owner_entity_id=owner_entity_id,
            tariff_id=data.tariff_id,
            audience=data.audience,
            station_id=data.station_id,
            station_group_id=data.station_group_id,
            counterparty_entity_id=data.counterparty_entity_id,
            priority=data.priority,
            created_at=datetime.now(UTC),
        )
        self.assignments[assignment.id] = assignment
        return assignment

    async def delete_assignment(self, assignment_id: int) -> None:
        self.assignments.pop(assignment_id, None)

    # -- community partners -----------------------------------------------------------------

    async def partner_page(
        self, visibility: Visibility, entity_id: int | None, *, limit: int, offset: int
    ) -> tuple[list[CommunityPartner], int]:
        found = [
            p
            for _, p in sorted(self.partners.items())
            if p.entity_id in visibility and entity_id in (None, p.entity_id)
        ]
        return found[offset : offset + limit], len(found)

    async def get_partner(self, partner_id: int, visibility: Visibility) -> CommunityPartner | None:
        found = self.partners.get(partner_id)
        return found if found is not None and found.entity_id in visibility else None

    async def add_partner(self, entity_id: int, partner_entity_id: int) -> CommunityPartner:
        if any(
            p.entity_id == entity_id and p.partner_entity_id == partner_entity_id
            for p in self.partners.values()
        ):
            raise Conflict(
                f"entity {entity_id} counts entity {partner_entity_id} as community already"
            )
        partner = CommunityPartner(
            id=self._id(),
            entity_id=entity_id,
            partner_entity_id=partner_entity_id,
            created_at=datetime.now(UTC),
        )
        self.partners[partner.id] = partner
        return partner

    async def delete_partner(self, partner_id: int) -> None:
        self.partners.pop(partner_id, None)

    # -- checks -------------------------------------------------------------------------------

    async def active_entities(self, entity_ids: Iterable[int]) -> frozenset[int]:
        return frozenset(e for e in entity_ids if e in self.entities and e not in self.inactive)

    async def tree(self) -> EntityTree:
        return EntityTree(self.entities)

    async def station_owner(self, station_id: int) -> tuple[bool, int | None]:
        if station_id not in self.stations:
            return False, None
        return True, self.stations[station_id]

    async def station_group_owner(self, group_id: int) -> tuple[bool, int | None]:
        if group_id not in self.station_groups:
            return False, None
        return True, self.station_groups[group_id]

    # -- the rater's lookup ------------------------------------------------------------------

    async def rating_tariffs(self, owner_entity_ids: Collection[int]) -> RatingTariffs:
        assignments: dict[tuple[int, str], list[AssignmentRow]] = {}
        for owner in set(owner_entity_ids):
            for audience in Audience:
                found = await self.assignments_for(owner, audience.value)
                if found:
                    assignments[(owner, audience.value)] = found
        tariff_ids = {a.tariff_id for found in assignments.values() for a in found}
        return RatingTariffs(
            assignments=assignments,
            versions={tariff_id: await self.version_rows(tariff_id) for tariff_id in tariff_ids},
        )

    async def assignments_for(self, owner_entity_id: int, audience: str) -> list[AssignmentRow]:
        return [
            AssignmentRow(
                id=a.id,
                owner_entity_id=a.owner_entity_id,
                tariff_id=a.tariff_id,
                audience=a.audience,
                station_id=a.station_id,
                station_group_id=a.station_group_id,
                counterparty_entity_id=a.counterparty_entity_id,
                priority=a.priority,
                created_at=a.created_at,
            )
            for _, a in sorted(self.assignments.items())
            if a.owner_entity_id == owner_entity_id and a.audience.value == audience
        ]

    async def version_at(self, tariff_id: int, when: datetime) -> TariffVersionRow | None:
        version = self._version_at(tariff_id, when)
        if version is None:
            return None
        tariff = self._parsed.get(version.entry.id)
        if tariff is None:
            self.parses += 1
            tariff = self._parsed[version.entry.id] = parse_tariff(version.ocpi)
        return TariffVersionRow(
            id=version.entry.id,
            tariff_id=tariff_id,
            valid_from=version.entry.valid_from,
            tariff=tariff,
            currency=self.tariffs[tariff_id].currency,
        )

    async def version_rows(self, tariff_id: int) -> list[TariffVersionRow]:
        entries = sorted(
            (v.entry for v in self._versions.values() if v.entry.tariff_id == tariff_id),
            key=lambda entry: entry.valid_from,
        )
        found = []
        for entry in entries:
            row = await self.version_at(tariff_id, entry.valid_from)
            if row is not None:
                found.append(row)
        return found

    async def community_of(self, entity_id: int) -> set[int]:
        tree = EntityTree(self.entities)
        own = set(tree.subtree(entity_id)) or {entity_id}
        return own | {
            p.partner_entity_id for p in self.partners.values() if p.entity_id == entity_id
        }
