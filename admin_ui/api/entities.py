"""Entities: the organisation's tree."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from admin_ui.api.common import Id, Page, PageParams, QueryId
from admin_ui.api.context import ApiContext
from crm.access import Principal
from crm.entities import Entity, EntityCreate, EntityKind, EntityUpdate, TreeNode
from crm.services.entities import EntityService


def _service(context: ApiContext) -> EntityService:
    return EntityService(changes=context.crm_changes)


class EntityController(Controller):
    path = "/entities"
    tags = ["entities"]

    @get("/")
    async def list_entities(
        self,
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
        page: NamedDependency[PageParams],
        q: Annotated[
            str | None, QueryParameter(description="name or customer number contains")
        ] = None,
        kind: FromQuery[EntityKind | None] = None,
        parent_id: QueryId = None,
        active: FromQuery[bool | None] = None,
    ) -> Page[Entity]:
        """Entities you may see, by id."""
        items, total = await _service(context).list(
            principal,
            q=q,
            kind=kind,
            parent_id=parent_id,
            active=active,
            limit=page.limit,
            offset=page.offset,
        )
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)

    @get("/tree")
    async def entity_tree(
        self, principal: NamedDependency[Principal], context: NamedDependency[ApiContext]
    ) -> list[TreeNode]:
        """The entities you may see as a tree."""
        return await _service(context).tree(principal)

    @get("/{entity_id:int}")
    async def get_entity(
        self,
        entity_id: Id,
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
    ) -> Entity:
        return await _service(context).get(principal, entity_id)

    @post("/")
    async def create_entity(
        self,
        data: JSONBody[EntityCreate],
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
    ) -> Entity:
        """A new entity under ``parent_id``; its CRM contact is created with it."""
        return await _service(context).create(principal, data)

    @patch("/{entity_id:int}")
    async def update_entity(
        self,
        entity_id: Id,
        data: JSONBody[EntityUpdate],
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
    ) -> Entity:
        """Edit, move (``parent_id``) or deactivate (``active``: false)."""
        return await _service(context).update(principal, entity_id, data)

    @delete("/{entity_id:int}", status_code=HTTP_204_NO_CONTENT)
    async def delete_entity(
        self,
        entity_id: Id,
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
    ) -> None:
        """Only an entity nothing refers to; otherwise 409: deactivate it."""
        await _service(context).delete(principal, entity_id)
