"""Users, their entity memberships and their groups in the database.

A user belongs to no single entity, so whom a request may see is decided
through memberships: a user is visible when one of their memberships is,
and only visible memberships and groups are shown.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from crm.access import Visibility
from crm.errors import Conflict
from crm.storage.integrity import is_unique_violation
from crm.storage.scoping import scoped
from crm.storage.search import icontains
from crm.tables import Group, GroupMember, LoginSession, Membership
from crm.tables import User as UserTable
from crm.users import User


def visible_user_ids(visibility: Visibility) -> Any:
    """A subquery of the users with a membership in a visible entity."""
    return scoped(Membership.select(Membership.user), Membership.entity, visibility)


class PiccoloUsers:
    async def _links(
        self, user_ids: list[int], entities: Visibility, groups: Visibility
    ) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
        if not user_ids:
            return {}, {}
        memberships = await scoped(
            Membership.select(Membership.user, Membership.entity).where(
                Membership.user.is_in(user_ids)
            ),
            Membership.entity,
            entities,
        ).order_by(Membership.entity)
        group_rows = await scoped(
            GroupMember.select(GroupMember.user, GroupMember.group).where(
                GroupMember.user.is_in(user_ids)
            ),
            GroupMember.group.owner_entity,
            groups,
        ).order_by(GroupMember.group)
        entity_ids: dict[int, list[int]] = {}
        group_ids: dict[int, list[int]] = {}
        for row in memberships:
            entity_ids.setdefault(row["user"], []).append(row["entity"])
        for row in group_rows:
            group_ids.setdefault(row["user"], []).append(row["group"])
        return entity_ids, group_ids

    def _user(
        self,
        row: dict[str, Any],
        entity_ids: dict[int, list[int]],
        group_ids: dict[int, list[int]],
        visibility: Visibility,
    ) -> User:
        default = row["default_entity"]
        return User(
            id=row["id"],
            name=row["name"],
            default_entity_id=default if default in visibility else None,
            active=row["active"],
            entity_ids=entity_ids.get(row["id"], []),
            group_ids=group_ids.get(row["id"], []),
            created_at=row["created_at"],
            email=row["email"],
            last_login_at=row["last_login_at"],
        )

    _COLUMNS = (
        UserTable.id,
        UserTable.name,
        UserTable.email,
        UserTable.default_entity,
        UserTable.active,
        UserTable.created_at,
        UserTable.last_login_at,
    )

    async def list(
        self,
        visibility: Visibility,
        groups: Visibility,
        *,
        q: str | None = None,
        entity_id: int | None = None,
        group_id: int | None = None,
        active: bool | None = None,
        limit: int = 50,
        offset: int = 0,
        search_email: bool = True,
    ) -> tuple[list[User], int]:
        conditions = [UserTable.id.is_in(visible_user_ids(visibility))]
        if q:
            conditions.append(
                icontains(UserTable.email, q) | icontains(UserTable.name, q)
                if search_email
                else icontains(UserTable.name, q)
            )
        if entity_id is not None:
            conditions.append(
                UserTable.id.is_in(
                    Membership.select(Membership.user).where(Membership.entity == entity_id)
                )
            )
        if group_id is not None:
            conditions.append(
                UserTable.id.is_in(
                    GroupMember.select(GroupMember.user).where(GroupMember.group == group_id)
                )
            )
        if active is not None:
            conditions.append(UserTable.active == active)
        query = UserTable.select(*self._COLUMNS)
        count = UserTable.count()
        for condition in conditions:
            query = query.where(condition)
            count = count.where(condition)
        rows = await query.order_by(UserTable.id).limit(limit).offset(offset).run()
        entity_ids, group_ids = await self._links([r["id"] for r in rows], visibility, groups)
        return [self._user(r, entity_ids, group_ids, visibility) for r in rows], await count.run()

    async def get(self, visibility: Visibility, groups: Visibility, user_id: int) -> User | None:
        row = (
            await UserTable.select(*self._COLUMNS)
            .where(UserTable.id == user_id)
            .where(UserTable.id.is_in(visible_user_ids(visibility)))
            .first()
            .run()
        )
        if row is None:
            return None
        entity_ids, group_ids = await self._links([user_id], visibility, groups)
        return self._user(row, entity_ids, group_ids, visibility)

    async def all_entity_ids(self, user_id: int) -> set[int]:
        rows = await Membership.select(Membership.entity).where(Membership.user == user_id)
        return {row["entity"] for row in rows}

    async def default_entity(self, user_id: int) -> int:
        row = (
            await UserTable.select(UserTable.default_entity).where(UserTable.id == user_id).first()
        )
        return int(row["default_entity"]) if row else 0

    async def create(
        self,
        *,
        email: str,
        name: str,
        password_hash: str,
        default_entity_id: int,
        entity_ids: builtins.list[int],
        group_ids: builtins.list[int],
        now: datetime,
    ) -> int:
        try:
            async with UserTable._meta.db.transaction():
                if await UserTable.exists().where(UserTable.email == email):
                    raise Conflict(f"a user with e-mail {email!r} exists already")
                (row,) = await UserTable.insert(
                    UserTable(
                        email=email,
                        name=name,
                        password_hash=password_hash,
                        default_entity=default_entity_id,
                        created_at=now,
                        updated_at=now,
                    )
                ).returning(UserTable.id)
                user_id = int(row["id"])
                for entity_id in entity_ids:
                    await Membership.insert(
                        Membership(user=user_id, entity=entity_id, created_at=now)
                    )
                for group_id in group_ids:
                    await GroupMember.insert(
                        GroupMember(group=group_id, user=user_id, created_at=now)
                    )
                return user_id
        except Exception as error:
            if is_unique_violation(error):
                raise Conflict(f"a user with e-mail {email!r} exists already") from None
            raise

    async def update(self, user_id: int, values: dict[str, Any], now: datetime) -> None:
        changes: dict[Any, Any] = {getattr(UserTable, k): v for k, v in values.items()}
        changes[UserTable.updated_at] = now
        try:
            async with UserTable._meta.db.transaction():
                if "email" in values and await UserTable.exists().where(
                    (UserTable.email == values["email"]) & (UserTable.id != user_id)
                ):
                    raise Conflict(f"a user with e-mail {values['email']!r} exists already")
                await UserTable.update(changes).where(UserTable.id == user_id)
                if values.get("active") is False or "password_hash" in values:
                    # Deactivated or a new password: every login ends now.
                    await LoginSession.delete().where(LoginSession.user == user_id)
        except Exception as error:
            if is_unique_violation(error):
                raise Conflict("that e-mail address is taken") from None
            raise

    async def add_membership(self, user_id: int, entity_id: int, now: datetime) -> bool:
        if await Membership.exists().where(
            (Membership.user == user_id) & (Membership.entity == entity_id)
        ):
            return False
        await Membership.insert(Membership(user=user_id, entity=entity_id, created_at=now))
        return True

    async def remove_membership(self, user_id: int, entity_id: int) -> bool:
        async with Membership._meta.db.transaction():
            deleted = (
                await Membership.delete()
                .where((Membership.user == user_id) & (Membership.entity == entity_id))
                .returning(Membership.id)
            )
            # Logins working in that entity end.
            await LoginSession.delete().where(
                (LoginSession.user == user_id) & (LoginSession.active_entity == entity_id)
            )
        return bool(deleted)

    async def add_to_group(self, user_id: int, group_id: int, now: datetime) -> bool:
        if await GroupMember.exists().where(
            (GroupMember.user == user_id) & (GroupMember.group == group_id)
        ):
            return False
        await GroupMember.insert(GroupMember(group=group_id, user=user_id, created_at=now))
        return True

    async def remove_from_group(self, user_id: int, group_id: int) -> bool:
        deleted = (
            await GroupMember.delete()
            .where((GroupMember.user == user_id) & (GroupMember.group == group_id))
            .returning(GroupMember.id)
        )
        return bool(deleted)

    async def group_exists(self, group_id: int) -> bool:
        return bool(await Group.exists().where(Group.id == group_id))
