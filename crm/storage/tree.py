"""Reads the entity tree in one query."""

from __future__ import annotations

from crm.tables import Entity
from crm.tree import EntityTree


async def load_tree() -> EntityTree:
    rows = await Entity.select(Entity.id, Entity.parent).run()
    return EntityTree({row["id"]: row["parent"] for row in rows})
