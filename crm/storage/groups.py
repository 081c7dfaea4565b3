"""Groups and their members in the database."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from crm.access import NOTHING, Visibility
from crm.groups import Group
from crm.storage.scoping import scoped
from crm.storage.search import icontains
from crm.storage.users import visible_user_ids
from crm.tables import Group as GroupTable
from crm.tables import GroupMember


def _list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = json.loads(value or "[]")
    return list(value or [])


class PiccoloGroups:
    async def _members(self, group_ids: list[int], users: Visibility) -> dict[int, list[int]]:
        """Members of the groups, only those the asker may see as users."""
        if not group_ids:
            return {}
        query = GroupMember.select(GroupMember.group, GroupMember.user).where(
            GroupMember.group.is_in(group_ids)
        )
        if not users.everything:
            query = query.where(GroupMember.user.is_in(visible_user_ids(users)))
        rows = await query.order_by(GroupMember.user).run()
        members: dict[int, list[int]] = {}
        for row in rows:
            members.setdefault(row["group"], []).append(row["user"])
        return members

    def _group(self, row: dict[str, Any], members: dict[int, list[int]]) -> Group:
        return Group(
            id=row["id"],
            owner_entity_id=row["owner_entity"],
            name=row["name"],
            description=row["description"],
            scope=row["scope"],
            permissions=_list(row["permissions"]),
            hidden_fields=_list(row["hidden_fields"]),
            member_ids=members.get(row["id"], []),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    async def list(
        self,
        visibility: Visibility,
        *,
        q: str | None = None,
        owner_entity_id: int | None = None,
        users: Visibility = NOTHING,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Group], int]:
        query = scoped(GroupTable.select(), GroupTable.owner_entity, visibility)
        count = scoped(GroupTable.count(), GroupTable.owner_entity, visibility)
        if q:
            query = query.where(icontains(GroupTable.name, q))
            count = count.where(icontains(GroupTable.name, q))
        if owner_entity_id is not None:
            query = query.where(GroupTable.owner_entity == owner_entity_id)
            count = count.where(GroupTable.owner_entity == owner_entity_id)
        rows = await query.order_by(GroupTable.id).limit(limit).offset(offset).run()
        members = await self._members([row["id"] for row in rows], users)
        return [self._group(row, members) for row in rows], await count.run()

    async def get(
        self, visibility: Visibility, group_id: int, users: Visibility = NOTHING
    ) -> Group | None:
        row = await (
            scoped(GroupTable.select(), GroupTable.owner_entity, visibility)
            .where(GroupTable.id == group_id)
            .first()
            .run()
        )
        if row is None:
            return None
        return self._group(row, await self._members([group_id], users))

    async def create(self, values: dict[str, Any], now: datetime) -> int:
        (row,) = (
            await GroupTable.insert(
                GroupTable(
                    owner_entity=values["owner_entity_id"],
                    name=values["name"],
                    description=values["description"],
                    scope=values["scope"],
                    permissions=values["permissions"],
                    hidden_fields=values["hidden_fields"],
                    created_at=now,
                    updated_at=now,
                )
            )
            .returning(GroupTable.id)
            .run()
        )
        return int(row["id"])

    async def update(self, group_id: int, values: dict[str, Any], now: datetime) -> None:
        changes: dict[Any, Any] = {getattr(GroupTable, k): v for k, v in values.items()}
        changes[GroupTable.updated_at] = now
        await GroupTable.update(changes).where(GroupTable.id == group_id).run()

    async def delete(self, group_id: int) -> None:
        await GroupTable.delete().where(GroupTable.id == group_id).run()

    async def name_taken(self, owner_entity_id: int, name: str, group_id: int | None) -> bool:
        query = GroupTable.exists().where(
            (GroupTable.owner_entity == owner_entity_id) & (GroupTable.name == name)
        )
        if group_id is not None:
            query = query.where(GroupTable.id != group_id)
        return bool(await query.run())
