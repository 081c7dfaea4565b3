"""Logins: users by e-mail, login sessions by token hash, and what a
principal is made of (memberships, groups)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import msgspec

from crm.access import Grant, Scope
from crm.tables import GroupMember, LoginSession, Membership, User


class LoginUser(msgspec.Struct, frozen=True):
    id: int
    password_hash: str
    default_entity_id: int
    active: bool


class OpenLogin(msgspec.Struct, frozen=True):
    session_id: int
    user_id: int
    active_entity_id: int
    kind: str
    expires_at: datetime
    user_active: bool


# Every API request reads its login, the user's entities and groups: these
# statements are written once (piccolo's query builder built each anew per
# call at several times the cost of running it; see lookup_statement).
_FIND_LOGIN = (
    'SELECT s."id", s."user", s."active_entity", s."kind", s."expires_at",'
    ' u."active" AS "user_active"'
    ' FROM "login_session" s JOIN "app_user" u ON u."id" = s."user"'
    ' WHERE s."token_hash" = {} LIMIT 1'
)
_MEMBER_ENTITIES = (
    'SELECT m."entity" FROM "membership" m JOIN "entity" e ON e."id" = m."entity"'
    ' WHERE m."user" = {} AND e."active" = TRUE'
)
_GRANTS = (
    'SELECT g."scope", g."permissions", g."hidden_fields"'
    ' FROM "group_member" gm JOIN "user_group" g ON g."id" = gm."group"'
    ' WHERE gm."user" = {}'
)


def _json_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = json.loads(value or "[]")
    return list(value or [])


class PiccoloLogins:
    async def user_by_email(self, email: str) -> LoginUser | None:
        row = (
            await User.select(User.id, User.password_hash, User.default_entity, User.active)
            .where(User.email == email.strip().lower())
            .first()
            .run()
        )
        if row is None:
            return None
        return LoginUser(row["id"], row["password_hash"], row["default_entity"], row["active"])

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        await User.update({User.password_hash: password_hash}).where(User.id == user_id).run()

    async def member_entities(self, user_id: int) -> frozenset[int]:
        """Active entities the user belongs to."""
        rows = await Membership.raw(_MEMBER_ENTITIES, user_id).run()
        return frozenset(row["entity"] for row in rows)

    async def grants(self, user_id: int) -> list[Grant]:
        rows = await GroupMember.raw(_GRANTS, user_id).run()
        return [
            Grant(
                permissions=frozenset(_json_list(row["permissions"])),
                scope=Scope.parse(row["scope"]),
                hidden_fields=frozenset(_json_list(row["hidden_fields"])),
            )
            for row in rows
        ]

    async def open(
        self,
        *,
        token_hash: str,
        user_id: int,
        entity_id: int,
        kind: str,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        await LoginSession.insert(
            LoginSession(
                token_hash=token_hash,
                user=user_id,
                active_entity=entity_id,
                kind=kind,
                created_at=now,
                expires_at=expires_at,
            )
        ).run()
        await User.update({User.last_login_at: now}).where(User.id == user_id).run()

    async def find(self, token_hash: str) -> OpenLogin | None:
        rows = await LoginSession.raw(_FIND_LOGIN, token_hash).run()
        if not rows:
            return None
        row = rows[0]
        return OpenLogin(
            session_id=row["id"],
            user_id=row["user"],
            active_entity_id=row["active_entity"],
            kind=row["kind"],
            expires_at=row["expires_at"],
            user_active=bool(row["user_active"]),
        )

    async def extend(self, session_id: int, expires_at: datetime) -> None:
        await (
            LoginSession.update({LoginSession.expires_at: expires_at})
            .where(LoginSession.id == session_id)
            .run()
        )

    async def switch_entity(self, session_id: int, entity_id: int) -> None:
        await (
            LoginSession.update({LoginSession.active_entity: entity_id})
            .where(LoginSession.id == session_id)
            .run()
        )

    async def close(self, token_hash: str) -> bool:
        deleted = (
            await LoginSession.delete()
            .where(LoginSession.token_hash == token_hash)
            .returning(LoginSession.id)
            .run()
        )
        return bool(deleted)

    async def close_all(self, user_id: int) -> None:
        await LoginSession.delete().where(LoginSession.user == user_id).run()

    async def purge_expired(self, now: datetime) -> int:
        deleted = (
            await LoginSession.delete()
            .where(LoginSession.expires_at < now)
            .returning(LoginSession.id)
            .run()
        )
        return len(deleted)
