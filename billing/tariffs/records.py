"""Tariffs as stored data: what the service answers and accepts.

A tariff (``TariffEntry``) belongs to an entity and is named by its OCPI id,
its ``code``, unique per owner; what it costs lives in its versions, each
valid from a moment on until the next one and never changed. Assignments
(``TariffAssignment``) say which tariff prices which audience's sessions;
community partners (``CommunityPartner``) are the entities an entity counts
as its community besides its own subtree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from billing.tariffs.assignments import Audience

NAME_MAX = 200


class TariffVersionEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One version of a tariff (its OCPI object: GET /tariffs/{id}/ocpi)."""

    id: int
    tariff_id: int
    valid_from: datetime
    created_at: datetime


class TariffEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    owner_entity_id: int
    code: str
    name: str
    currency: str
    created_at: datetime
    updated_at: datetime


class TariffDetail(msgspec.Struct, frozen=True, kw_only=True):
    """A tariff with its versions, oldest ``valid_from`` first."""

    id: int
    owner_entity_id: int
    code: str
    name: str
    currency: str
    created_at: datetime
    updated_at: datetime
    versions: list[TariffVersionEntry]


class TariffCreate(msgspec.Struct, frozen=True, kw_only=True):
    """An OCPI 2.2.1 Tariff to import for ``owner_entity_id`` (default: the
    user's active entity). Its ``id`` is the tariff's code: a code the
    owner has already gets a new version. ``valid_from`` defaults to the
    tariff's ``start_date_time``, else now."""

    ocpi: Any
    owner_entity_id: int | None = None
    valid_from: datetime | None = None
    name: str | None = None


class TariffVersionCreate(msgspec.Struct, frozen=True, kw_only=True):
    """A new version of a tariff: an OCPI Tariff with the tariff's code and
    currency, valid from ``valid_from`` (default: its start_date_time, else
    now)."""

    ocpi: Any
    valid_from: datetime | None = None


class TariffImported(msgspec.Struct, frozen=True, kw_only=True):
    """What an import did: ``created`` a tariff, or added ``version`` to it."""

    created: bool
    version: TariffVersionEntry
    tariff: TariffDetail


class TariffFilter(msgspec.Struct, frozen=True, kw_only=True):
    owner_entity_id: int | None = None
    code: str | None = None


class TariffAssignment(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    owner_entity_id: int
    tariff_id: int
    audience: Audience
    station_id: int | None
    station_group_id: int | None
    counterparty_entity_id: int | None
    priority: int
    created_at: datetime


class TariffAssignmentCreate(msgspec.Struct, frozen=True, kw_only=True):
    """Assign a tariff: the tariff's owner is the assigning entity. A
    station or a station group narrows it (not both), a counterparty entity
    narrows it to one buyer (emp) or seller (sub_cpo)."""

    tariff_id: int
    audience: Audience
    station_id: int | None = None
    station_group_id: int | None = None
    counterparty_entity_id: int | None = None
    priority: int = 0


class AssignmentFilter(msgspec.Struct, frozen=True, kw_only=True):
    owner_entity_id: int | None = None
    tariff_id: int | None = None
    audience: Audience | None = None


class CommunityPartner(msgspec.Struct, frozen=True, kw_only=True):
    """``entity_id`` counts ``partner_entity_id`` as its community."""

    id: int
    entity_id: int
    partner_entity_id: int
    created_at: datetime


class CommunityPartnerCreate(msgspec.Struct, frozen=True, kw_only=True):
    partner_entity_id: int
    # Default: the user's active entity.
    entity_id: int | None = None
