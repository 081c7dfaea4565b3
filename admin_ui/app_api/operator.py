"""For operators (under /api/v1): an entity's public registration code,
which drivers register with in the app (only entities that allow customer
self-registration accept them)."""

from __future__ import annotations

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency

from admin_ui.api.common import Id
from admin_ui.api.context import ApiContext
from crm.access import Principal
from crm.errors import NotFound


class RegistrationCodeAnswer(msgspec.Struct, frozen=True):
    entity_id: int
    code: str


class RegistrationCodeController(Controller):
    path = "/entities/{entity_id:int}/registration-code"
    tags = ["entities"]

    @get("/")
    async def get_code(
        self,
        entity_id: Id,
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
    ) -> RegistrationCodeAnswer:
        """The entity's registration code for the drivers' app (made on
        first use); needs entities:update on the entity."""
        return await _code(principal, context, entity_id, renew=False)

    @post("/", status_code=200)
    async def renew_code(
        self,
        entity_id: Id,
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
    ) -> RegistrationCodeAnswer:
        """A new registration code (the old one stops working)."""
        return await _code(principal, context, entity_id, renew=True)


async def _code(
    principal: Principal, context: ApiContext, entity_id: int, *, renew: bool
) -> RegistrationCodeAnswer:
    principal.require_entity("entities", "update", entity_id)
    if context.drivers is None:
        raise NotFound("this process serves no drivers' app")
    code = await context.drivers.registration_code(entity_id, renew=renew)
    return RegistrationCodeAnswer(entity_id, code)
