"""Builds small multi-entity worlds for tests: entities, groups, users and
their logins, straight into the database (the API's own creation paths are
tested on their own), and a test client for the operators' API."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar.testing import AsyncTestClient

from admin_ui.api.context import ApiContext
from admin_ui.app import create_app
from crm.services.auth import token_hash
from crm.tables import Contact, Entity, Group, GroupMember, LoginSession, Membership, User
from tests.loop_pools import pool_for_the_apps_loop

PASSWORD = "correct horse battery staple"
EVERYTHING = ("*",)


def _now() -> datetime:
    return datetime.now(UTC)


async def make_entity(name: str, parent: int | None = None, **fields: Any) -> int:
    """An entity with its CRM contact, as the entity service makes them."""
    now = _now()
    (row,) = (
        await Entity.insert(
            Entity(name=name, parent=parent, created_at=now, updated_at=now, **fields)
        )
        .returning(Entity.id)
        .run()
    )
    await Contact.insert(
        Contact(
            owner_entity=row["id"],
            master_of_entity=row["id"],
            kind="company",
            name=name,
            company=name,
            customer_number=fields.get("customer_number"),
            created_at=now,
            updated_at=now,
        )
    ).run()
    return int(row["id"])


async def make_group(
    owner: int,
    *,
    scope: str = "own",
    permissions: Iterable[str] = EVERYTHING,
    hidden: Iterable[str] = (),
    name: str | None = None,
) -> int:
    now = _now()
    (row,) = (
        await Group.insert(
            Group(
                owner_entity=owner,
                name=name or f"group-{secrets.token_hex(4)}",
                scope=scope,
                permissions=list(permissions),
                hidden_fields=list(hidden),
                created_at=now,
                updated_at=now,
            )
        )
        .returning(Group.id)
        .run()
    )
    return int(row["id"])


async def make_user(
    entities: Iterable[int],
    groups: Iterable[int] = (),
    *,
    email: str | None = None,
    default: int | None = None,
    password_hash: str = "",
) -> int:
    entity_ids = list(entities)
    now = _now()
    (row,) = (
        await User.insert(
            User(
                email=email or f"user-{secrets.token_hex(6)}@example.com",
                name="Test User",
                password_hash=password_hash,
                default_entity=default if default is not None else entity_ids[0],
                created_at=now,
                updated_at=now,
            )
        )
        .returning(User.id)
        .run()
    )
    user_id = int(row["id"])
    for entity_id in entity_ids:
        await Membership.insert(Membership(user=user_id, entity=entity_id, created_at=now)).run()
    for group_id in groups:
        await GroupMember.insert(GroupMember(group=group_id, user=user_id, created_at=now)).run()
    return user_id


async def token_for(user_id: int, entity_id: int, *, kind: str = "api") -> str:
    """A login for the user without a password round (argon2 is tested apart)."""
    token = secrets.token_urlsafe(24)
    now = _now()
    await LoginSession.insert(
        LoginSession(
            token_hash=token_hash(token),
            user=user_id,
            active_entity=entity_id,
            kind=kind,
            created_at=now,
            expires_at=now + timedelta(hours=1),
        )
    ).run()
    return token


def bearer(token: str, entity: int | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if entity is not None:
        headers["X-Entity-Id"] = str(entity)
    return headers


async def admin_token(entity: int) -> str:
    """A user of ``entity`` allowed everything everywhere."""
    group = await make_group(entity, scope="all", permissions=EVERYTHING)
    user = await make_user([entity], [group])
    return await token_for(user, entity)


@asynccontextmanager
async def api_client(context: ApiContext | None = None) -> AsyncIterator[AsyncTestClient]:
    async def ready() -> dict[str, str]:
        return {"database": "ok"}

    app = create_app(readiness=ready, metrics=lambda: b"", api=context)
    async with AsyncTestClient(app=pool_for_the_apps_loop(app)) as client:
        yield client
