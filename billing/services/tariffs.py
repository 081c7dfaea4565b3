"""Tariffs, their assignments and community partners: the use cases, each
taking the request's principal.

Everything here is the ``tariffs`` resource of the permission vocabulary
(``tariffs:read``, ``tariffs:create``, ``tariffs:update``,
``tariffs:delete``), scoped by the owning entity: a tariff's owner, an
assignment's assigning entity (the tariff's owner), a community partner
row's naming entity. A row of an entity the user may not read does not exist
for them (NotFound); one they may read but not change is Forbidden.

Tariffs are versioned and versions are never changed: importing an OCPI
Tariff whose ``id`` (the code) the owner has already adds a version valid
from the given moment (default: its ``start_date_time``, else now).
Importing needs ``tariffs:create`` on the owner, and ``tariffs:update`` too
when it adds a version to an existing tariff. A tariff is deleted only when nothing refers to it:
no assignment, no CDR priced with one of its versions.

What an assignment may name, by audience (the assigning entity is the
tariff's owner):

- ``emp`` (the station owner charges the medium's EMP): a station or
  station group owned by the assigning entity itself (a child's stations
  are the child's to price); a counterparty is the EMP, any active entity
  other than the assigning one.
- ``customer`` (the issuing EMP charges its end customers): any station or
  station group the user may read (customers charge anywhere); no
  counterparty (the buyer is the medium's bill-to contact).
- ``sub_cpo`` (the parent pays a sub-CPO): a station or group owned by a
  child of the assigning entity, the counterparty is such a child, and
  when both are named the station's (group's) owner is the counterparty.

A station and a station group together are refused: the station alone
decides. Stations and groups that are not as required are answered alike
whether or not they exist, so the message tells nothing about other
entities' stations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from billing.tariffs.assignments import Audience
from billing.tariffs.model import Tariff, TariffError, parse_tariff, tariff_to_json
from billing.tariffs.ports import TariffStore
from billing.tariffs.records import (
    NAME_MAX,
    AssignmentFilter,
    CommunityPartner,
    CommunityPartnerCreate,
    TariffAssignment,
    TariffAssignmentCreate,
    TariffCreate,
    TariffDetail,
    TariffEntry,
    TariffFilter,
    TariffImported,
    TariffVersionCreate,
    TariffVersionEntry,
)
from crm.access import Principal
from crm.clock import utcnow
from crm.errors import Conflict, InvalidInput, NotFound

RESOURCE = "tariffs"
# PostgreSQL's integer.
PRIORITY_LIMIT = 2**31 - 1


class InvalidTariff(InvalidInput):
    """A tariff that is not valid OCPI 2.2.1: ``errors`` holds (path,
    message) for every bad field, paths inside the OCPI object."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__(
            "not a valid OCPI 2.2.1 tariff: "
            + "; ".join(f"{path}: {message}" for path, message in self.errors)
        )


def _parsed(ocpi: Any) -> Tariff:
    if not isinstance(ocpi, bytes | str | dict):
        raise InvalidTariff([("(document)", "must be an object")])
    try:
        return parse_tariff(ocpi)
    except TariffError as error:
        raise InvalidTariff(error.errors) from None


def _checked_time(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidInput(f"{name}: give a time zone, e.g. 2030-01-01T00:00:00Z")
    return value


def _checked_name(name: str | None) -> str | None:
    if name is None:
        return None
    name = name.strip()
    if len(name) > NAME_MAX:
        raise InvalidInput(f"name: at most {NAME_MAX} characters")
    return name


def _detail(tariff: TariffEntry, versions: list[TariffVersionEntry]) -> TariffDetail:
    return TariffDetail(
        id=tariff.id,
        owner_entity_id=tariff.owner_entity_id,
        code=tariff.code,
        name=tariff.name,
        currency=tariff.currency,
        created_at=tariff.created_at,
        updated_at=tariff.updated_at,
        versions=versions,
    )


@dataclass(slots=True)
class TariffService:
    store: TariffStore
    clock: Callable[[], datetime] = field(default=utcnow)

    # -- reading ------------------------------------------------------------------------

    async def list_tariffs(
        self, principal: Principal, filters: TariffFilter, *, limit: int, offset: int
    ) -> tuple[list[TariffEntry], int]:
        """A page of the tariffs of entities the user may read, by id."""
        principal.require(RESOURCE, "read")
        return await self.store.page(
            principal.visible(RESOURCE, "read"), filters, limit=limit, offset=offset
        )

    async def _visible(self, principal: Principal, tariff_id: int) -> TariffEntry:
        tariff = await self.store.get(tariff_id, principal.visible(RESOURCE, "read"))
        if tariff is None:
            raise NotFound(f"no tariff {tariff_id}")
        return tariff

    async def get(self, principal: Principal, tariff_id: int) -> TariffDetail:
        """A tariff with its versions (404 for one the user may not read)."""
        principal.require(RESOURCE, "read")
        tariff = await self._visible(principal, tariff_id)
        return _detail(tariff, await self.store.versions(tariff.id))

    async def export(self, principal: Principal, tariff_id: int, at: datetime | None = None) -> str:
        """The OCPI JSON of the version valid at ``at`` (default: now),
        numbers exactly as imported."""
        principal.require(RESOURCE, "read")
        tariff = await self._visible(principal, tariff_id)
        when = _checked_time(at, "at") or self.clock()
        found = await self.store.ocpi_at(tariff.id, when)
        if found is None:
            raise NotFound(f"tariff {tariff_id} has no version valid at {when.isoformat()}")
        return found[1]

    # -- importing ------------------------------------------------------------------------

    async def _check_owner(self, principal: Principal, action: str, entity_id: int) -> None:
        principal.require_entity(RESOURCE, action, entity_id)
        if entity_id not in await self.store.active_entities([entity_id]):
            raise InvalidInput(
                f"owner_entity_id: entity {entity_id} does not exist or is deactivated"
            )

    async def import_tariff(self, principal: Principal, data: TariffCreate) -> TariffImported:
        """Creates the tariff named by the OCPI ``id`` for the owner, or adds
        a version to the owner's tariff of that code. InvalidTariff names
        every bad field of the OCPI object."""
        principal.require(RESOURCE, "create")
        owner = (
            data.owner_entity_id if data.owner_entity_id is not None else principal.active_entity_id
        )
        name = _checked_name(data.name)
        valid_from = _checked_time(data.valid_from, "valid_from")
        tariff = _parsed(data.ocpi)
        await self._check_owner(principal, "create", owner)
        existing = await self.store.by_code(owner, tariff.id)
        if existing is not None:
            principal.require_entity(RESOURCE, "update", owner)
            version = await self._add_version(existing, tariff, valid_from, name)
            current = await self.store.get(existing.id, principal.visible(RESOURCE, "read"))
            return TariffImported(
                created=False,
                version=version,
                tariff=_detail(current or existing, await self.store.versions(existing.id)),
            )
        entry, version = await self.store.add(
            owner,
            tariff.id,
            name if name is not None else _default_name(tariff),
            tariff.currency,
            valid_from or tariff.start_date_time or self.clock(),
            tariff_to_json(tariff).decode(),
        )
        return TariffImported(created=True, version=version, tariff=_detail(entry, [version]))

    async def add_version(
        self, principal: Principal, tariff_id: int, data: TariffVersionCreate
    ) -> TariffImported:
        """A new version of a tariff the user may update; its OCPI ``id``
        and ``currency`` must be the tariff's."""
        principal.require(RESOURCE, "update")
        current = await self._visible(principal, tariff_id)
        principal.require_entity(RESOURCE, "update", current.owner_entity_id)
        valid_from = _checked_time(data.valid_from, "valid_from")
        version = await self._add_version(current, _parsed(data.ocpi), valid_from, None)
        return TariffImported(
            created=False,
            version=version,
            tariff=_detail(current, await self.store.versions(current.id)),
        )

    async def _add_version(
        self,
        current: TariffEntry,
        tariff: Tariff,
        valid_from: datetime | None,
        name: str | None,
    ) -> TariffVersionEntry:
        problems = []
        if tariff.id != current.code:
            problems.append(("id", f"must be {current.code!r}, the tariff's code"))
        if tariff.currency != current.currency:
            problems.append(("currency", f"must be {current.currency}, the tariff's currency"))
        if problems:
            raise InvalidTariff(problems)
        return await self.store.add_version(
            current.id,
            valid_from or tariff.start_date_time or self.clock(),
            tariff_to_json(tariff).decode(),
            name,
        )

    async def delete(self, principal: Principal, tariff_id: int) -> None:
        """Deletes a tariff nothing refers to; Conflict when an assignment
        or a CDR does."""
        principal.require(RESOURCE, "delete")
        current = await self._visible(principal, tariff_id)
        principal.require_entity(RESOURCE, "delete", current.owner_entity_id)
        assignments, cdrs = await self.store.references(tariff_id)
        if assignments or cdrs:
            raise Conflict(
                f"tariff {tariff_id} is in use: {assignments} assignment(s) and {cdrs} CDR(s) "
                "refer to it; remove its assignments first (a tariff that priced CDRs is kept)"
            )
        await self.store.delete(tariff_id)

    # -- assignments ------------------------------------------------------------------------

    async def list_assignments(
        self, principal: Principal, filters: AssignmentFilter, *, limit: int, offset: int
    ) -> tuple[list[TariffAssignment], int]:
        principal.require(RESOURCE, "read")
        return await self.store.assignment_page(
            principal.visible(RESOURCE, "read"), filters, limit=limit, offset=offset
        )

    async def assign(self, principal: Principal, data: TariffAssignmentCreate) -> TariffAssignment:
        """Assigns a tariff of the user's visible entities for its owner
        (see the module for what each audience may name)."""
        principal.require(RESOURCE, "create")
        tariff = await self.store.get(data.tariff_id, principal.visible(RESOURCE, "read"))
        if tariff is None:
            raise NotFound(f"tariff_id: no tariff {data.tariff_id}")
        owner = tariff.owner_entity_id
        principal.require_entity(RESOURCE, "create", owner)
        if data.station_id is not None and data.station_group_id is not None:
            raise InvalidInput(
                "station_id, station_group_id: name a station or a station group, not both"
            )
        if not -PRIORITY_LIMIT <= data.priority <= PRIORITY_LIMIT:
            raise InvalidInput(f"priority: between -{PRIORITY_LIMIT} and {PRIORITY_LIMIT}")
        if data.audience is Audience.EMP:
            await self._check_emp(data, owner)
        elif data.audience is Audience.CUSTOMER:
            await self._check_customer(principal, data)
        else:
            await self._check_sub_cpo(data, owner)
        return await self.store.add_assignment(owner, data)

    async def _check_emp(self, data: TariffAssignmentCreate, owner: int) -> None:
        if data.station_id is not None:
            exists, station_owner = await self.store.station_owner(data.station_id)
            if not exists or station_owner != owner:
                raise InvalidInput(f"station_id: no station {data.station_id} of entity {owner}")
        if data.station_group_id is not None:
            exists, group_owner = await self.store.station_group_owner(data.station_group_id)
            if not exists or group_owner != owner:
                raise InvalidInput(
                    f"station_group_id: no station group {data.station_group_id} of entity {owner}"
                )
        counterparty = data.counterparty_entity_id
        if counterparty is not None:
            if counterparty == owner:
                raise InvalidInput(
                    "counterparty_entity_id: the EMP cannot be the assigning entity itself"
                )
            if counterparty not in await self.store.active_entities([counterparty]):
                raise InvalidInput(
                    f"counterparty_entity_id: entity {counterparty} does not exist "
                    "or is deactivated"
                )

    async def _check_customer(self, principal: Principal, data: TariffAssignmentCreate) -> None:
        if data.counterparty_entity_id is not None:
            raise InvalidInput(
                "counterparty_entity_id: not for audience customer "
                "(the buyer is the medium's bill-to contact)"
            )
        if data.station_id is not None:
            exists, owner = await self.store.station_owner(data.station_id)
            if not exists or owner not in principal.visible("stations", "read"):
                raise InvalidInput(f"station_id: no station {data.station_id} that you can see")
        if data.station_group_id is not None:
            exists, owner = await self.store.station_group_owner(data.station_group_id)
            if not exists or owner not in principal.visible("station_groups", "read"):
                raise InvalidInput(
                    f"station_group_id: no station group {data.station_group_id} that you can see"
                )

    async def _check_sub_cpo(self, data: TariffAssignmentCreate, owner: int) -> None:
        children = set((await self.store.tree()).children(owner))
        counterparty = data.counterparty_entity_id
        if counterparty is not None and (
            counterparty not in children
            or counterparty not in await self.store.active_entities([counterparty])
        ):
            raise InvalidInput(
                f"counterparty_entity_id: entity {counterparty} is not an active sub-CPO "
                f"(child) of entity {owner}"
            )
        named = (
            ("station_id", "station", data.station_id, self.store.station_owner),
            ("station_group_id", "station group", data.station_group_id,
             self.store.station_group_owner),
        )  # fmt: skip
        for field_name, noun, row_id, owner_of in named:
            if row_id is None:
                continue
            exists, row_owner = await owner_of(row_id)
            if not exists or row_owner not in children:
                raise InvalidInput(
                    f"{field_name}: no {noun} {row_id} of a sub-CPO (child) of entity {owner}"
                )
            if counterparty is not None and row_owner != counterparty:
                raise InvalidInput(
                    f"{field_name}: {noun} {row_id} is not the counterparty "
                    f"{counterparty}'s (it is entity {row_owner}'s)"
                )

    async def unassign(self, principal: Principal, assignment_id: int) -> None:
        principal.require(RESOURCE, "delete")
        current = await self.store.get_assignment(
            assignment_id, principal.visible(RESOURCE, "read")
        )
        if current is None:
            raise NotFound(f"no tariff assignment {assignment_id}")
        principal.require_entity(RESOURCE, "delete", current.owner_entity_id)
        await self.store.delete_assignment(assignment_id)

    # -- community partners -----------------------------------------------------------------

    async def list_partners(
        self, principal: Principal, entity_id: int | None, *, limit: int, offset: int
    ) -> tuple[list[CommunityPartner], int]:
        principal.require(RESOURCE, "read")
        return await self.store.partner_page(
            principal.visible(RESOURCE, "read"), entity_id, limit=limit, offset=offset
        )

    async def add_partner(
        self, principal: Principal, data: CommunityPartnerCreate
    ) -> CommunityPartner:
        """The entity (default: the active one) counts the partner as its
        community. Its own subtree always is, so naming one of it is refused."""
        principal.require(RESOURCE, "create")
        entity = data.entity_id if data.entity_id is not None else principal.active_entity_id
        principal.require_entity(RESOURCE, "create", entity)
        partner = data.partner_entity_id
        active = await self.store.active_entities([entity, partner])
        if entity not in active:
            raise InvalidInput(f"entity_id: entity {entity} does not exist or is deactivated")
        if partner not in active:
            raise InvalidInput(
                f"partner_entity_id: entity {partner} does not exist or is deactivated"
            )
        if partner in (await self.store.tree()).subtree(entity):
            raise InvalidInput(
                f"partner_entity_id: entity {partner} is in entity {entity}'s own subtree, "
                "which is always its community"
            )
        return await self.store.add_partner(entity, partner)

    async def remove_partner(self, principal: Principal, partner_id: int) -> None:
        principal.require(RESOURCE, "delete")
        current = await self.store.get_partner(partner_id, principal.visible(RESOURCE, "read"))
        if current is None:
            raise NotFound(f"no community partner {partner_id}")
        principal.require_entity(RESOURCE, "delete", current.entity_id)
        await self.store.delete_partner(partner_id)


def _default_name(tariff: Tariff) -> str:
    """The first alternative text, else the code."""
    for text in tariff.tariff_alt_text:
        if text.text.strip():
            return text.text.strip()[:NAME_MAX]
    return tariff.id
