"""Document layouts per entity (texts, payment terms, logo, display name,
language; :mod:`billing.documents.layouts`), for a principal.

Permission resource ``billing``: ``read`` to see an entity's layout, ``run``
to change it (whoever issues an entity's documents decides what they say).
Without the permission at all: Forbidden. An entity outside the scope of
that permission does not exist for the user (NotFound), like one that does
not exist at all.

Saved layouts reach documents through ``SqlDirectory.entities``, which
merges them into ``EntityInfo.branding`` (:func:`billing.documents.layouts.
branding_keys`); a document keeps the texts it was issued with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from billing.documents.layouts import (
    DocumentLayout,
    DocumentLayoutUpdate,
    LayoutError,
    checked_changes,
)
from crm.access import Principal
from crm.clock import utcnow
from crm.errors import InvalidInput, NotFound

RESOURCE = "billing"


class LayoutStore(Protocol):
    async def get(self, entity_id: int) -> DocumentLayout | None: ...

    async def put(
        self, entity_id: int, changes: dict[str, str], now: datetime
    ) -> DocumentLayout: ...


class InvalidLayout(InvalidInput):
    """Layout fields that cannot be saved; ``errors``: (field, problem)."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{name}: {problem}" for name, problem in self.errors))


@dataclass(slots=True)
class LayoutService:
    store: LayoutStore
    clock: Callable[[], datetime] = field(default=utcnow)

    def _require(self, principal: Principal, entity_id: int, action: str) -> None:
        principal.require(RESOURCE, action)
        if entity_id not in principal.tree or entity_id not in principal.visible(RESOURCE, action):
            raise NotFound(f"entity {entity_id} does not exist")

    async def get(self, principal: Principal, entity_id: int) -> DocumentLayout:
        """The entity's layout; never saved: the defaults (``updated_at`` None)."""
        self._require(principal, entity_id, "read")
        return await self.store.get(entity_id) or DocumentLayout(entity_id=entity_id)

    async def update(
        self, principal: Principal, entity_id: int, data: DocumentLayoutUpdate
    ) -> DocumentLayout:
        """Sets the fields ``data`` gives (validated: texts' fields and
        syntax, lengths, the logo a PNG of at most 256 KiB); the others stay."""
        self._require(principal, entity_id, "run")
        try:
            changes = checked_changes(data)
        except LayoutError as error:
            raise InvalidLayout(error.errors) from None
        if not changes:
            return await self.store.get(entity_id) or DocumentLayout(entity_id=entity_id)
        return await self.store.put(entity_id, changes, self.clock())
