"""Creating, editing, moving, deactivating and reading entities."""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from crm.access import Principal, Scope
from crm.changes import CrmChangeListener, IgnoreChanges
from crm.clock import utcnow
from crm.entities import Entity, EntityCreate, EntityKind, EntityUpdate, TreeNode, checked_fields
from crm.errors import Conflict, Forbidden, InvalidInput, NotFound
from crm.fields import without_hidden
from crm.storage.entities import PiccoloEntities
from crm.storage.tree import load_tree

RESOURCE = "entities"


@dataclass(slots=True)
class EntityService:
    changes: CrmChangeListener = field(default_factory=IgnoreChanges)
    storage: PiccoloEntities = field(default_factory=PiccoloEntities)
    clock: Callable[[], datetime] = utcnow

    def _shown(self, principal: Principal, entity: Entity) -> Entity:
        return without_hidden(entity, principal.row_hidden_fields(RESOURCE, entity.id))

    async def list(
        self,
        principal: Principal,
        *,
        q: str | None = None,
        kind: EntityKind | None = None,
        parent_id: int | None = None,
        active: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Entity], int]:
        principal.require(RESOURCE, "read")
        rows, total = await self.storage.list(
            principal.visible(RESOURCE, "read"),
            q=q,
            kind=kind.value if kind else None,
            parent_id=parent_id,
            active=active,
            limit=limit,
            offset=offset,
        )
        return [self._shown(principal, row) for row in rows], total

    async def get(self, principal: Principal, entity_id: int) -> Entity:
        principal.require(RESOURCE, "read")
        entity = await self.storage.get(principal.visible(RESOURCE, "read"), entity_id)
        if entity is None:
            raise NotFound(f"no entity {entity_id}")
        return self._shown(principal, entity)

    async def tree(self, principal: Principal) -> builtins.list[TreeNode]:
        """The visible entities as a forest: an entity whose parent the user
        cannot see is shown as a root."""
        principal.require(RESOURCE, "read")
        rows = await self.storage.names(principal.visible(RESOURCE, "read"))
        visible = {row["id"] for row in rows}
        children: dict[int | None, list[dict]] = {}
        for row in rows:
            parent = row["parent"] if row["parent"] in visible else None
            children.setdefault(parent, []).append(row)

        def build(parent: int | None) -> list[TreeNode]:
            return [
                TreeNode(
                    id=row["id"],
                    name=row["name"],
                    kind=EntityKind(row["kind"]),
                    active=row["active"],
                    children=build(row["id"]),
                )
                for row in children.get(parent, [])
            ]

        return build(None)

    async def create(self, principal: Principal, data: EntityCreate) -> Entity:
        """A new entity with its CRM contact. Under a parent the user may
        create entities in; a new root only for users who see all entities."""
        scope = principal.require(RESOURCE, "create")
        if data.parent_id is None:
            if scope is not Scope.ALL:
                raise Forbidden("only users who see all entities may create a root entity")
        else:
            self._require_parent(principal, data.parent_id, "create")
        fields = checked_fields(msgspec.structs.asdict(data))
        entity_id = await self.storage.create(fields, self.clock())
        self.changes.entities_changed()
        return await self._fresh(principal, entity_id)

    def _require_parent(self, principal: Principal, parent_id: int, action: str) -> None:
        # An entity the user may not know of is answered as an absent one.
        if parent_id not in principal.tree or not principal.sees_entity(parent_id):
            raise InvalidInput(f"there is no entity {parent_id} to be the parent")
        if parent_id not in principal.visible(RESOURCE, action):
            raise Forbidden(f"you may not {action} entities under entity {parent_id}")

    async def _fresh(self, principal: Principal, entity_id: int) -> Entity:
        # The request's principal knows the tree as it was before this
        # change: a new entity (or one just moved) is read with the tree as
        # it is now, so a subtree user sees the child they just created.
        principal = dataclasses.replace(principal, tree=await load_tree())
        entity = await self.storage.get(principal.visible(RESOURCE, "read"), entity_id)
        if entity is None:
            # Created or moved out of what the user can read (a parent seen
            # only with create rights): tell them without showing it.
            raise NotFound(f"entity {entity_id} is saved but outside what you may read")
        return self._shown(principal, entity)

    async def update(self, principal: Principal, entity_id: int, data: EntityUpdate) -> Entity:
        """Edits fields, moves the entity (``parent_id``, never under its own
        descendant) or deactivates it (``active``: false)."""
        scope = principal.require(RESOURCE, "update")
        if await self.storage.get(principal.visible(RESOURCE, "update"), entity_id) is None:
            raise NotFound(f"no entity {entity_id}")
        changes = {
            name: value
            for name, value in msgspec.structs.asdict(data).items()
            if value is not msgspec.UNSET
        }
        fields = checked_fields(changes)
        tree_changed = False
        if "parent_id" in fields:
            new_parent = fields["parent_id"]
            tree = await load_tree()
            if new_parent is None:
                if scope is not Scope.ALL:
                    raise Forbidden("only users who see all entities may make an entity a root")
            else:
                self._require_parent(principal, new_parent, "update")
            tree.check_move(entity_id, new_parent)
            tree_changed = tree.parent(entity_id) != new_parent
        if fields.get("active") is False and entity_id == principal.active_entity_id:
            raise InvalidInput("you cannot deactivate the entity you are working in")
        if not fields:
            return await self.get(principal, entity_id)
        await self.storage.update(entity_id, fields, self.clock())
        if tree_changed or "active" in fields:
            self.changes.entities_changed()
        return await self._fresh(principal, entity_id)

    async def delete(self, principal: Principal, entity_id: int) -> None:
        """Deletes an entity nothing refers to (one created by mistake);
        anything else is deactivated instead, so history keeps its owner."""
        principal.require(RESOURCE, "delete")
        if await self.storage.get(principal.visible(RESOURCE, "delete"), entity_id) is None:
            raise NotFound(f"no entity {entity_id}")
        if entity_id == principal.active_entity_id:
            raise InvalidInput("you cannot delete the entity you are working in")
        references = await self.storage.references(entity_id)
        if references:
            listed = ", ".join(f"{count} {kind}" for kind, count in references.items())
            raise Conflict(
                f"entity {entity_id} is referred to by {listed}; deactivate it instead "
                '(PATCH {"active": false})'
            )
        await self.storage.delete(entity_id)
        self.changes.entities_changed()
