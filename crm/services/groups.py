"""Managing groups: what their members may do and see."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from msgspec import UnsetType

from crm.access import Principal
from crm.clock import utcnow
from crm.errors import Conflict, InvalidInput, NotFound
from crm.groups import Group, GroupCreate, GroupUpdate, check_name, grant_of
from crm.storage.groups import PiccoloGroups

RESOURCE = "groups"


@dataclass(slots=True)
class GroupService:
    storage: PiccoloGroups = field(default_factory=PiccoloGroups)
    clock: Callable[[], datetime] = utcnow

    async def list(
        self,
        principal: Principal,
        *,
        q: str | None = None,
        owner_entity_id: int | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Group], int]:
        principal.require(RESOURCE, "read")
        return await self.storage.list(
            principal.visible(RESOURCE, "read"),
            q=q,
            owner_entity_id=owner_entity_id,
            users=principal.visible("users", "read"),
            limit=limit,
            offset=offset,
        )

    async def get(self, principal: Principal, group_id: int, action: str = "read") -> Group:
        principal.require(RESOURCE, action)
        group = await self.storage.get(
            principal.visible(RESOURCE, action), group_id, principal.visible("users", "read")
        )
        if group is None:
            raise NotFound(f"no group {group_id}")
        return group

    async def create(self, principal: Principal, data: GroupCreate) -> Group:
        owner = data.owner_entity_id or principal.active_entity_id
        principal.require_entity(RESOURCE, "create", owner)
        grant = grant_of(data.scope, data.permissions, data.hidden_fields)
        principal.require_covers(grant)
        name = check_name(data.name)
        if await self.storage.name_taken(owner, name, None):
            raise Conflict(f"entity {owner} has a group named {name!r} already")
        group_id = await self.storage.create(
            {
                "owner_entity_id": owner,
                "name": name,
                "description": data.description,
                "scope": grant.scope.label,
                "permissions": sorted(grant.permissions),
                "hidden_fields": sorted(grant.hidden_fields),
            },
            self.clock(),
        )
        return await self.get(principal, group_id)

    async def update(self, principal: Principal, group_id: int, data: GroupUpdate) -> Group:
        current = await self.get(principal, group_id, "update")
        # Editing a group is granting its rights anew (to its members), so
        # the editor must hold what it had as well as what it will have.
        principal.require_covers(
            grant_of(current.scope, current.permissions, current.hidden_fields)
        )
        grant = grant_of(
            current.scope if isinstance(data.scope, UnsetType) else data.scope,
            current.permissions if isinstance(data.permissions, UnsetType) else data.permissions,
            current.hidden_fields
            if isinstance(data.hidden_fields, UnsetType)
            else data.hidden_fields,
        )
        principal.require_covers(grant)
        values: dict[str, object] = dict(
            scope=grant.scope.label,
            permissions=sorted(grant.permissions),
            hidden_fields=sorted(grant.hidden_fields),
        )
        if not isinstance(data.name, UnsetType):
            name = check_name(data.name)
            if await self.storage.name_taken(current.owner_entity_id, name, group_id):
                raise Conflict(f"entity {current.owner_entity_id} has a group named {name!r}")
            values["name"] = name
        if not isinstance(data.description, UnsetType):
            if len(data.description) > 2000:
                raise InvalidInput("a description has at most 2000 characters")
            values["description"] = data.description
        await self.storage.update(group_id, values, self.clock())
        return await self.get(principal, group_id)

    async def delete(self, principal: Principal, group_id: int) -> None:
        group = await self.get(principal, group_id, "delete")
        principal.require_covers(grant_of(group.scope, group.permissions, group.hidden_fields))
        await self.storage.delete(group_id)
