"""Registration, e-mail verification, login, token refresh, logout,
password reset and the driver's profile."""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from admin_ui.app_api.common import answers, limit
from admin_ui.app_api.context import AppContext
from crm.drivers.model import Driver, Profile, Registration, TokenPair


class Accepted(msgspec.Struct, frozen=True):
    detail: str


class Verification(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    token: str


class Credentials(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: str
    password: str


class Refresh(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    refresh_token: str


class ResetRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: str


class ResetConfirm(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    token: str
    password: str


class AccountController(Controller):
    tags = ["account"]

    @post(
        "/registrations",
        status_code=HTTP_202_ACCEPTED,
        responses=answers(400, 403, 404, 429),
        security=[],
    )
    async def register(
        self, request: Request, data: JSONBody[Registration], context: NamedDependency[AppContext]
    ) -> Accepted:
        """Register with the entity of a registration code: a mail with a
        verification code follows. The answer is the same whether or not
        the e-mail has an account (the mail says so)."""
        await limit(context, request, "register", data.email)
        await context.accounts.register(data)
        return Accepted("check your mail to confirm your e-mail address")

    @post(
        "/verification",
        status_code=HTTP_204_NO_CONTENT,
        responses=answers(400, 401, 429),
        security=[],
    )
    async def verify(
        self, request: Request, data: JSONBody[Verification], context: NamedDependency[AppContext]
    ) -> None:
        """Confirm the e-mail address with the code from the mail; the app
        token becomes active (charging needs it)."""
        await limit(context, request, "verify")
        await context.accounts.verify(data.token)

    @post("/login", responses=answers(400, 401, 429), security=[], status_code=200)
    async def login(
        self, request: Request, data: JSONBody[Credentials], context: NamedDependency[AppContext]
    ) -> TokenPair:
        """Log in: an access token (send it as 'Authorization: Bearer ...')
        and a refresh token for POST /token."""
        await limit(context, request, "login", data.email)
        return await context.accounts.login(data.email, data.password)

    @post("/token", responses=answers(400, 401, 429), security=[], status_code=200)
    async def refresh(
        self, request: Request, data: JSONBody[Refresh], context: NamedDependency[AppContext]
    ) -> TokenPair:
        """A new pair for a refresh token (which is used up: a second use
        ends the login)."""
        await limit(context, request, "refresh")
        return await context.accounts.refresh(data.refresh_token)

    @delete("/login", status_code=HTTP_204_NO_CONTENT, responses=answers(401))
    async def logout(
        self, driver: NamedDependency[Driver], context: NamedDependency[AppContext]
    ) -> None:
        """Log out: the access and refresh tokens of this login stop working."""
        await context.accounts.logout(driver)

    @post(
        "/password-reset",
        status_code=HTTP_202_ACCEPTED,
        responses=answers(400, 429),
        security=[],
    )
    async def request_reset(
        self, request: Request, data: JSONBody[ResetRequest], context: NamedDependency[AppContext]
    ) -> Accepted:
        """Ask for a password reset code by mail (the same answer for any
        e-mail)."""
        await limit(context, request, "reset", data.email)
        await context.accounts.request_reset(data.email)
        return Accepted("if the address has an account, a reset code is on its way")

    @post(
        "/password-reset/confirm",
        status_code=HTTP_204_NO_CONTENT,
        responses=answers(400, 401, 429),
        security=[],
    )
    async def reset(
        self, request: Request, data: JSONBody[ResetConfirm], context: NamedDependency[AppContext]
    ) -> None:
        """Set a new password with the mailed code; every login ends."""
        await limit(context, request, "reset")
        await context.accounts.reset(data.token, data.password)

    @get("/me", responses=answers(401))
    async def me(
        self, driver: NamedDependency[Driver], context: NamedDependency[AppContext]
    ) -> Profile:
        """Your account: e-mail, whether it is verified, your contact data
        and your app token."""
        return await context.accounts.profile(driver)
