"""For operators (under /api/v1): an entity's public registration code,
which drivers register with in the app (only entities that allow customer
self-registration accept them)."""

from __future__ import annotations

import msgspec
from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from admin_ui.api.common import Id
from admin_ui.api.context import ApiContext
from crm.access import Principal
from crm.errors import NotFound


class RegistrationCodeAnswer(msgspec.Struct, frozen=True):
    entity_id: int
    code: str


class RenewCode(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # true: a new code (the old one stops working at once).
    renew: bool = False


class RegistrationCodeController(Controller):
    path = "/entities/{entity_id:int}/registration-code"
    tags = ["entities"]

    @post("/", status_code=200)
    async def issue_code(
        self,
        entity_id: Id,
        principal: NamedDependency[Principal],
        context: NamedDependency[ApiContext],
        data: JSONBody[RenewCode],
    ) -> RegistrationCodeAnswer:
        """The entity's registration code for the drivers' app, made on
        first use (send {}; {"renew": true}: a new one); needs entities:update on the
        entity. Drivers can register with it only while the entity allows
        customer self-registration."""
        principal.require_entity("entities", "update", entity_id)
        if context.drivers is None:
            raise NotFound("this process serves no drivers' app")
        code = await context.drivers.registration_code(entity_id, renew=data.renew)
        return RegistrationCodeAnswer(entity_id, code)
