"""Users and groups: who may log in, and what they may do and see."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from admin_ui.api.common import Id, Page, PageParams, QueryId
from admin_ui.api.context import ApiContext
from crm.access import Principal
from crm.groups import Group, GroupCreate, GroupUpdate
from crm.services.groups import GroupService
from crm.services.users import UserService
from crm.users import GroupMembershipCreate, MembershipCreate, User, UserCreate, UserUpdate


def _users(context: ApiContext) -> UserService:
    return UserService(password_strength=context.auth.password_strength)


class UserController(Controller):
    path = "/users"
    tags = ["users"]

    @get("/")
    async def list_users(
        self,
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
        page: NamedDependency[PageParams],
        q: FromQuery[str | None] = None,
        entity_id: QueryId = None,
        group_id: QueryId = None,
        active: FromQuery[bool | None] = None,
    ) -> Page[User]:
        """Users with a membership in an entity you may see."""
        items, total = await _users(context).list(
            principal,
            q=q,
            entity_id=entity_id,
            group_id=group_id,
            active=active,
            limit=page.limit,
            offset=page.offset,
        )
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)

    @get("/{user_id:int}")
    async def get_user(
        self,
        user_id: Id,
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
    ) -> User:
        return await _users(context).get(principal, user_id)

    @post("/")
    async def create_user(
        self,
        data: JSONBody[UserCreate],
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
    ) -> User:
        """A user of one or more entities, optionally in groups and with a password."""
        return await _users(context).create(principal, data)

    @patch("/{user_id:int}")
    async def update_user(
        self,
        user_id: Id,
        data: JSONBody[UserUpdate],
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
    ) -> User:
        """Name, e-mail, default entity, password; ``active``: false ends every login."""
        return await _users(context).update(principal, user_id, data)

    @post("/{user_id:int}/memberships")
    async def add_membership(
        self,
        user_id: Id,
        data: JSONBody[MembershipCreate],
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
    ) -> User:
        return await _users(context).add_membership(principal, user_id, data.entity_id)

    @delete("/{user_id:int}/memberships/{entity_id:int}", status_code=HTTP_204_NO_CONTENT)
    async def remove_membership(
        self,
        user_id: Id,
        entity_id: Id,
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
    ) -> None:
        await _users(context).remove_membership(principal, user_id, entity_id)

    @post("/{user_id:int}/groups")
    async def add_to_group(
        self,
        user_id: Id,
        data: JSONBody[GroupMembershipCreate],
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
    ) -> User:
        """Only with a group whose rights you hold yourself."""
        return await _users(context).add_to_group(principal, user_id, data.group_id)

    @delete("/{user_id:int}/groups/{group_id:int}", status_code=HTTP_204_NO_CONTENT)
    async def remove_from_group(
        self,
        user_id: Id,
        group_id: Id,
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
    ) -> None:
        await _users(context).remove_from_group(principal, user_id, group_id)


class GroupController(Controller):
    path = "/groups"
    tags = ["groups"]

    @get("/")
    async def list_groups(
        self,
        principal: NamedDependency[Principal],
        page: NamedDependency[PageParams],
        q: FromQuery[str | None] = None,
        owner_entity_id: QueryId = None,
    ) -> Page[Group]:
        items, total = await GroupService().list(
            principal, q=q, owner_entity_id=owner_entity_id, limit=page.limit, offset=page.offset
        )
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)

    @get("/{group_id:int}")
    async def get_group(self, group_id: Id, principal: NamedDependency[Principal]) -> Group:
        return await GroupService().get(principal, group_id)

    @post("/")
    async def create_group(
        self, data: JSONBody[GroupCreate], principal: NamedDependency[Principal]
    ) -> Group:
        """Permissions ("contacts:read", "media:*", "*"), a scope (own,
        subtree, all) and hidden fields ("contacts.iban"); never more than
        you hold yourself."""
        return await GroupService().create(principal, data)

    @patch("/{group_id:int}")
    async def update_group(
        self,
        group_id: Id,
        data: JSONBody[GroupUpdate],
        principal: NamedDependency[Principal],
    ) -> Group:
        return await GroupService().update(principal, group_id, data)

    @delete("/{group_id:int}", status_code=HTTP_204_NO_CONTENT)
    async def delete_group(self, group_id: Id, principal: NamedDependency[Principal]) -> None:
        await GroupService().delete(principal, group_id)
