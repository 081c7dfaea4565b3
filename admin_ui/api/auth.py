"""Logging in and out, who am I, and switching the active entity."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from admin_ui.api.common import SESSION_COOKIE, request_token
from admin_ui.api.context import ApiContext
from crm.access import Principal


class LoginRequest(msgspec.Struct, frozen=True):
    email: str
    password: str
    # api: a bearer token for scripts; ui: also sets the browser's session cookie.
    kind: Literal["api", "ui"] = "api"


class LoginAnswer(msgspec.Struct, frozen=True):
    token: str
    token_type: str
    expires_at: datetime
    user_id: int
    active_entity_id: int


class Me(msgspec.Struct, frozen=True):
    user_id: int
    active_entity_id: int
    entity_ids: list[int]
    # "resource:action" -> own, subtree or all
    permissions: dict[str, str]
    # resource -> the fields hidden from you on some rows you see (hidden
    # fields are decided per row: rows your narrower groups show may have them)
    hidden_fields: dict[str, list[str]]


class SwitchEntity(msgspec.Struct, frozen=True):
    entity_id: int


def me_of(principal: Principal) -> Me:
    return Me(
        user_id=principal.user_id,
        active_entity_id=principal.active_entity_id,
        entity_ids=sorted(principal.member_entity_ids),
        permissions={
            f"{resource}:{action}": scope.label
            for (resource, action), scope in sorted(principal.profile.scopes.items())
        },
        hidden_fields={
            resource: sorted(fields)
            for resource in sorted(principal.profile.hidden_from)
            if (fields := principal.hidden_fields(resource))
        },
    )


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post("/login")
    async def login(
        self,
        request: Request,
        data: JSONBody[LoginRequest],
        context: NamedDependency[ApiContext],
    ) -> Response[LoginAnswer]:
        """Log in with e-mail and password: a bearer token for the API, or
        (kind "ui") a browser session cookie as well. Too many failures for
        the account or from your address: 429 with Retry-After."""
        address = request.client.host if request.client else None
        result = await context.auth.login(data.email, data.password, data.kind, address)
        response = Response(
            LoginAnswer(
                token=result.token,
                token_type="Bearer",
                expires_at=result.expires_at,
                user_id=result.user_id,
                active_entity_id=result.active_entity_id,
            )
        )
        if data.kind == "ui":
            response.set_cookie(
                SESSION_COOKIE,
                result.token,
                httponly=True,
                samesite="strict",
                secure=False,
                max_age=context.auth.session_hours * 3600,
            )
        return response

    @delete("/login", status_code=HTTP_204_NO_CONTENT)
    async def logout(
        self, request: Request, context: NamedDependency[ApiContext]
    ) -> Response[None]:
        """Log out: the token or session stops working at once."""
        await context.auth.logout(request_token(request))
        response: Response[None] = Response(None, status_code=HTTP_204_NO_CONTENT)
        response.delete_cookie(SESSION_COOKIE)
        return response

    @get("/me")
    async def me(self, principal: NamedDependency[Principal]) -> Me:
        """Who you are, the entity you work in and what you may do there."""
        return me_of(principal)

    @put("/entity")
    async def switch_entity(
        self,
        request: Request,
        data: JSONBody[SwitchEntity],
        context: NamedDependency[ApiContext],
    ) -> Me:
        """Work in another of your entities from now on (per request, send
        the X-Entity-Id header instead)."""
        principal = await context.auth.switch_entity(request_token(request), data.entity_id)
        return me_of(principal)
