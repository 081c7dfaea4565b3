"""Managing users: their entities, groups, passwords and activation.

Whoever adds a user to an entity must be allowed to manage users there, and
whoever puts a user in a group must hold every right the group gives
(:meth:`crm.access.Principal.covers`), so no one hands out more than they have.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from msgspec import UnsetType

from crm.access import Principal
from crm.clock import utcnow
from crm.errors import InvalidInput, NotFound
from crm.fields import without_hidden
from crm.groups import grant_of
from crm.passwords import hash_password_off_loop
from crm.services.groups import GroupService
from crm.storage.users import PiccoloUsers
from crm.users import User, UserCreate, UserUpdate, check_email, check_name

RESOURCE = "users"


@dataclass(slots=True)
class UserService:
    password_strength: str = "standard"
    storage: PiccoloUsers = field(default_factory=PiccoloUsers)
    groups: GroupService = field(default_factory=GroupService)
    clock: Callable[[], datetime] = utcnow

    def _shown(self, principal: Principal, user: User) -> User:
        # A user is seen through their visible memberships (the only ones
        # the answer lists): the narrowest of them decides the fields.
        if not user.entity_ids:
            return without_hidden(user, principal.hidden_fields(RESOURCE))
        first, *others = user.entity_ids
        return without_hidden(user, principal.row_hidden_fields(RESOURCE, first, others))

    async def list(
        self,
        principal: Principal,
        *,
        q: str | None = None,
        entity_id: int | None = None,
        group_id: int | None = None,
        active: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[User], int]:
        principal.require(RESOURCE, "read")
        users, total = await self.storage.list(
            principal.visible(RESOURCE, "read"),
            principal.visible("groups", "read"),
            q=q,
            entity_id=entity_id,
            group_id=group_id,
            active=active,
            limit=limit,
            offset=offset,
            # A search by e-mail where some row hides it would tell whose
            # address it is: then the search is by name only.
            search_email="email" not in principal.hidden_fields(RESOURCE),
        )
        return [self._shown(principal, user) for user in users], total

    async def get(self, principal: Principal, user_id: int, action: str = "read") -> User:
        principal.require(RESOURCE, action)
        user = await self.storage.get(
            principal.visible(RESOURCE, action), principal.visible("groups", "read"), user_id
        )
        if user is None:
            raise NotFound(f"no user {user_id}")
        return self._shown(principal, user)

    async def _require_group_grantable(self, principal: Principal, group_id: int) -> None:
        group = await self.groups.storage.get(principal.visible("groups", "read"), group_id)
        if group is None:
            raise InvalidInput(f"there is no group {group_id}")
        principal.require_covers(grant_of(group.scope, group.permissions, group.hidden_fields))

    async def create(self, principal: Principal, data: UserCreate) -> User:
        principal.require(RESOURCE, "create")
        if not data.entity_ids:
            raise InvalidInput("a user belongs to at least one entity")
        entity_ids = list(dict.fromkeys(data.entity_ids))
        for entity_id in entity_ids:
            if entity_id not in principal.tree:
                raise InvalidInput(f"there is no entity {entity_id}")
            principal.require_entity(RESOURCE, "create", entity_id)
        default = data.default_entity_id if data.default_entity_id is not None else entity_ids[0]
        if default not in entity_ids:
            raise InvalidInput("default_entity_id must be one of entity_ids")
        group_ids = list(dict.fromkeys(data.group_ids))
        for group_id in group_ids:
            await self._require_group_grantable(principal, group_id)
        password_hash = (
            await hash_password_off_loop(data.password, self.password_strength)
            if data.password
            else ""
        )
        user_id = await self.storage.create(
            email=check_email(data.email),
            name=check_name(data.name),
            password_hash=password_hash,
            default_entity_id=default,
            entity_ids=entity_ids,
            group_ids=group_ids,
            now=self.clock(),
        )
        return await self.get(principal, user_id)

    async def update(self, principal: Principal, user_id: int, data: UserUpdate) -> User:
        await self.get(principal, user_id, "update")
        values: dict[str, object] = {}
        if not isinstance(data.name, UnsetType):
            values["name"] = check_name(data.name)
        if not isinstance(data.email, UnsetType):
            values["email"] = check_email(data.email)
        if not isinstance(data.default_entity_id, UnsetType):
            if data.default_entity_id not in await self.storage.all_entity_ids(user_id):
                raise InvalidInput("the default entity must be one the user belongs to")
            values["default_entity"] = data.default_entity_id
        if not isinstance(data.active, UnsetType):
            if data.active is False and user_id == principal.user_id:
                raise InvalidInput("you cannot deactivate yourself")
            values["active"] = data.active
        if not isinstance(data.password, UnsetType):
            values["password_hash"] = await hash_password_off_loop(
                data.password, self.password_strength
            )
        if values:
            await self.storage.update(user_id, values, self.clock())
        return await self.get(principal, user_id)

    async def add_membership(self, principal: Principal, user_id: int, entity_id: int) -> User:
        await self.get(principal, user_id, "update")
        if entity_id not in principal.tree:
            raise InvalidInput(f"there is no entity {entity_id}")
        principal.require_entity(RESOURCE, "update", entity_id)
        await self.storage.add_membership(user_id, entity_id, self.clock())
        return await self.get(principal, user_id)

    async def remove_membership(self, principal: Principal, user_id: int, entity_id: int) -> User:
        await self.get(principal, user_id, "update")
        if entity_id not in principal.visible(RESOURCE, "update"):
            raise NotFound(f"user {user_id} has no membership in entity {entity_id}")
        if entity_id == await self.storage.default_entity(user_id):
            raise InvalidInput("this is the user's default entity; choose another default first")
        if not await self.storage.remove_membership(user_id, entity_id):
            raise NotFound(f"user {user_id} has no membership in entity {entity_id}")
        return await self.get(principal, user_id)

    async def add_to_group(self, principal: Principal, user_id: int, group_id: int) -> User:
        await self.get(principal, user_id, "update")
        await self._require_group_grantable(principal, group_id)
        await self.storage.add_to_group(user_id, group_id, self.clock())
        return await self.get(principal, user_id)

    async def remove_from_group(self, principal: Principal, user_id: int, group_id: int) -> User:
        await self.get(principal, user_id, "update")
        await self._require_group_grantable(principal, group_id)
        if not await self.storage.remove_from_group(user_id, group_id):
            raise NotFound(f"user {user_id} is not in group {group_id}")
        return await self.get(principal, user_id)
