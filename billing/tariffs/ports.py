"""The storage the tariff service needs (:mod:`billing.services.tariffs`).

Reads on behalf of a user take the request's :class:`~crm.access.Visibility`
and return only rows of visible entities (the piccolo implementation passes
every such query through :func:`crm.storage.scoping.scoped`); the other
reads answer checks the service makes (who owns a station, whether an
entity exists) and never return rows to the user.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

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
from crm.tree import EntityTree


class TariffStore(Protocol):
    # -- tariffs and versions ---------------------------------------------------

    async def page(
        self, visibility: Visibility, filters: TariffFilter, *, limit: int, offset: int
    ) -> tuple[list[TariffEntry], int]:
        """A page of the visible tariffs that match, by id, and how many match."""
        ...

    async def get(self, tariff_id: int, visibility: Visibility) -> TariffEntry | None: ...

    async def by_code(self, owner_entity_id: int, code: str) -> TariffEntry | None:
        """The owner's tariff with this code (the owner is checked already)."""
        ...

    async def versions(self, tariff_id: int) -> list[TariffVersionEntry]:
        """The tariff's versions, oldest ``valid_from`` first."""
        ...

    async def ocpi_at(
        self, tariff_id: int, when: datetime
    ) -> tuple[TariffVersionEntry, str] | None:
        """The version valid at ``when`` and its OCPI JSON text."""
        ...

    async def add(
        self,
        owner_entity_id: int,
        code: str,
        name: str,
        currency: str,
        valid_from: datetime,
        ocpi: str,
    ) -> tuple[TariffEntry, TariffVersionEntry]:
        """A new tariff with its first version, in one transaction; Conflict
        when the owner has the code already (taken meanwhile)."""
        ...

    async def add_version(
        self, tariff_id: int, valid_from: datetime, ocpi: str, name: str | None
    ) -> TariffVersionEntry:
        """A new version (and the tariff's new name, when given); Conflict
        when a version valid from that moment exists."""
        ...

    async def references(self, tariff_id: int) -> tuple[int, int]:
        """How many assignments and CDRs refer to the tariff (its versions)."""
        ...

    async def delete(self, tariff_id: int) -> None: ...

    # -- assignments --------------------------------------------------------------

    async def assignment_page(
        self, visibility: Visibility, filters: AssignmentFilter, *, limit: int, offset: int
    ) -> tuple[list[TariffAssignment], int]: ...

    async def get_assignment(
        self, assignment_id: int, visibility: Visibility
    ) -> TariffAssignment | None: ...

    async def add_assignment(
        self, owner_entity_id: int, data: TariffAssignmentCreate
    ) -> TariffAssignment: ...

    async def delete_assignment(self, assignment_id: int) -> None: ...

    # -- community partners --------------------------------------------------------

    async def partner_page(
        self, visibility: Visibility, entity_id: int | None, *, limit: int, offset: int
    ) -> tuple[list[CommunityPartner], int]: ...

    async def get_partner(
        self, partner_id: int, visibility: Visibility
    ) -> CommunityPartner | None: ...

    async def add_partner(self, entity_id: int, partner_entity_id: int) -> CommunityPartner:
        """Conflict when the entity names that partner already."""
        ...

    async def delete_partner(self, partner_id: int) -> None: ...

    # -- checks ----------------------------------------------------------------------

    async def active_entities(self, entity_ids: Iterable[int]) -> frozenset[int]:
        """Those of the entities that exist and are active."""
        ...

    async def tree(self) -> EntityTree: ...

    async def station_owner(self, station_id: int) -> tuple[bool, int | None]:
        """Whether the station exists, and its owner entity."""
        ...

    async def station_group_owner(self, group_id: int) -> tuple[bool, int | None]:
        """Whether the station group exists, and its owner entity."""
        ...
