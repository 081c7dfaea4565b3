"""The drivers' app API for tests: an app with it mounted, entities with a
registration code, drivers registered and verified through the API (the
verification code read from the mail outbox, as a driver reads their mail)."""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar.testing import AsyncTestClient

from admin_ui.api.context import ApiContext
from admin_ui.app import create_app
from admin_ui.app_api.context import AppContext
from admin_ui.app_api.limits import limiter_for
from admin_ui.app_api.wiring import drivers_app
from crm.storage.drivers import PiccoloDriverStore
from crm.tables import MailOutbox
from csms.settings import Settings
from tests.loop_pools import pool_for_the_apps_loop
from tests.world import make_entity

APP = "/app/v1"
PASSWORD = "a long enough password"


def app_context(**settings: Any) -> AppContext:
    """The node's context; with Redis, rate limits under a key prefix of
    this context alone (tests must not count each other's attempts)."""
    chosen = dataclasses.replace(Settings.from_env(), **settings)
    context = drivers_app(chosen)
    if chosen.redis_url:
        context.limiter = limiter_for(
            chosen.redis_url, os.environ["CSMS_REDIS_PREFIX"] + f"app-{secrets.token_hex(6)}:"
        )
    return context


@asynccontextmanager
async def drivers_client(
    context: AppContext | None = None, api: ApiContext | None = None
) -> AsyncIterator[AsyncTestClient]:
    async def ready() -> dict[str, str]:
        return {"database": "ok"}

    drivers = context or app_context()
    api = api or ApiContext()
    api.drivers = drivers.accounts
    app = create_app(readiness=ready, metrics=lambda: b"", api=api, drivers=drivers)
    # (The app closes the context when it shuts down, in its own loop.)
    async with AsyncTestClient(app=pool_for_the_apps_loop(app)) as client:
        yield client


async def entity_with_code(
    name: str = "EMP", *, allows: bool = True, **fields: Any
) -> tuple[int, str]:
    entity = await make_entity(name, customer_self_registration=allows, **fields)
    code = await PiccoloDriverStore().registration_code(entity, renew=False, now=_now())
    return entity, code


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def registration(code: str, email: str, **fields: Any) -> dict[str, Any]:
    return {
        "registration_code": code,
        "email": email,
        "password": PASSWORD,
        "name": "Erika Mustermann",
        "street": "Hauptstraße 1",
        "postal_code": "10115",
        "city": "Berlin",
        "country": "DE",
        **fields,
    }


async def mails(email: str, kind: str | None = None) -> list[dict[str, Any]]:
    query = MailOutbox.select().where(MailOutbox.recipient == email.lower())
    if kind is not None:
        query = query.where(MailOutbox.kind == kind)
    return list(await query.order_by(MailOutbox.id))


async def mailed_code(email: str, kind: str) -> str:
    """The code of the latest mail of ``kind`` to ``email``."""
    found = await mails(email, kind)
    assert found, f"no {kind} mail to {email}"
    match = re.search(r"\n\n(\S+)\n", found[-1]["body"])
    assert match, found[-1]["body"]
    return match.group(1)


def unique_email(prefix: str = "driver") -> str:
    return f"{prefix}-{secrets.token_hex(4)}@example.com"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def registered(
    client: AsyncTestClient, code: str, email: str | None = None, *, verify: bool = True
) -> dict[str, Any]:
    """A driver registered (and verified) through the API, logged in: the
    login's tokens and the e-mail."""
    email = email or unique_email()
    answer = await client.post(f"{APP}/registrations", json=registration(code, email))
    assert answer.status_code == 202, answer.text
    if verify:
        token = await mailed_code(email, "verify")
        verified = await client.post(f"{APP}/verification", json={"token": token})
        assert verified.status_code == 204, verified.text
    login = await client.post(f"{APP}/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {**login.json(), "email": email}
