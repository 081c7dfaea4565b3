"""What the rater reads about tariffs, without a user: the assignments of an
entity for an audience, the version of a tariff valid at a moment, and an
entity's community.

Implemented by :class:`billing.storage.tariffs.PiccoloTariffLookup` and the
in-memory twin :class:`billing.storage.memory_tariffs.MemoryTariffs`. Both
parse each version's OCPI text once and keep it per version id: versions
are never changed.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

import msgspec

from billing.tariffs.assignments import AssignmentRow, Audience
from billing.tariffs.model import Tariff

__all__ = ["AssignmentRow", "Audience", "RatingTariffs", "TariffLookup", "TariffVersionRow"]


class TariffVersionRow(msgspec.Struct, frozen=True, kw_only=True):
    """One version of a tariff: valid from ``valid_from`` until the next
    version's ``valid_from``; ``tariff`` is its parsed OCPI object."""

    id: int
    tariff_id: int
    valid_from: datetime
    tariff: Tariff
    currency: str


class RatingTariffs(msgspec.Struct, frozen=True, kw_only=True):
    """What a batch of sessions may be priced with: every assignment of the
    batch's sellers per (owner entity, audience), in id order, and every
    version of the tariffs they assign, oldest ``valid_from`` first."""

    assignments: dict[tuple[int, str], list[AssignmentRow]]
    versions: dict[int, list[TariffVersionRow]]


class TariffLookup(Protocol):
    async def rating_tariffs(self, owner_entity_ids: Collection[int]) -> RatingTariffs:
        """The assignments of these entities for every audience and the
        versions of every tariff they assign, in a few queries (the rater
        asks once per batch)."""
        ...

    async def assignments_for(self, owner_entity_id: int, audience: str) -> list[AssignmentRow]:
        """Every assignment ``owner_entity_id`` made for ``audience``
        (``emp``, ``customer``, ``sub_cpo``); pick one with
        :func:`billing.tariffs.assignments.resolve`."""
        ...

    async def version_at(self, tariff_id: int, when: datetime) -> TariffVersionRow | None:
        """The version valid at ``when``: the latest ``valid_from`` at or
        before it; None when the tariff has none yet (or does not exist)."""
        ...

    async def version_rows(self, tariff_id: int) -> list[TariffVersionRow]:
        """Every version of the tariff, oldest ``valid_from`` first (the
        rater picks the one valid at each session's start itself, one
        lookup per tariff and batch)."""
        ...

    async def community_of(self, entity_id: int) -> set[int]:
        """Every entity ``entity_id`` counts as its community: its own
        subtree (itself included) and the partners it named. Sessions of
        media these issued are not invoiced by station."""
        ...
