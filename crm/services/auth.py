"""Logging in and out, and turning a request's token into a Principal."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import msgspec

from crm.access import AccessProfile, Principal
from crm.clock import utcnow
from crm.errors import Forbidden, InvalidInput, Unauthenticated
from crm.login_limits import LoginThrottle, login_throttle
from crm.passwords import hash_password_off_loop, needs_rehash, verify_password_off_loop
from crm.storage.logins import PiccoloLogins
from crm.storage.tree import load_tree

LoginKind = Literal["ui", "api"]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginResult(msgspec.Struct, frozen=True):
    token: str
    kind: str
    user_id: int
    active_entity_id: int
    expires_at: datetime


@dataclass(slots=True)
class AuthService:
    password_strength: str = "standard"
    session_hours: int = 12
    token_days: int = 30
    logins: PiccoloLogins = field(default_factory=PiccoloLogins)
    clock: Callable[[], datetime] = utcnow
    # Failed logins per account and per address (the composition root
    # counts them in Redis when CSMS_REDIS_URL is set).
    throttle: LoginThrottle = field(default_factory=login_throttle)

    def _lifetime(self, kind: str) -> timedelta:
        return (
            timedelta(hours=self.session_hours) if kind == "ui" else timedelta(days=self.token_days)
        )

    async def login(
        self, email: str, password: str, kind: LoginKind = "api", address: str | None = None
    ) -> LoginResult:
        """A new login; Unauthenticated for a wrong e-mail or password (the
        two are not told apart) and for a deactivated user; TooManyAttempts
        while the account or the client ``address`` has too many failures
        (whether the account exists or not)."""
        await self.throttle.check(email, address)
        user = await self.logins.user_by_email(email)
        stored = user.password_hash if user else ""
        matches = await verify_password_off_loop(stored, password, self.password_strength)
        if not matches or user is None:
            await self.throttle.failed(email, address)
            raise Unauthenticated("wrong e-mail or password")
        await self.throttle.succeeded(email)
        if not user.active:
            raise Unauthenticated("this user is deactivated")
        if needs_rehash(stored, self.password_strength):
            await self.logins.set_password_hash(
                user.id, await hash_password_off_loop(password, self.password_strength)
            )
        members = await self.logins.member_entities(user.id)
        if user.default_entity_id in members:
            entity = user.default_entity_id
        elif members:
            entity = min(members)
        else:
            raise Forbidden("this user belongs to no active entity")
        token = secrets.token_urlsafe(32)
        now = self.clock()
        expires = now + self._lifetime(kind)
        await self.logins.open(
            token_hash=token_hash(token),
            user_id=user.id,
            entity_id=entity,
            kind=kind,
            now=now,
            expires_at=expires,
        )
        return LoginResult(token, kind, user.id, entity, expires)

    async def logout(self, token: str) -> None:
        await self.logins.close(token_hash(token))

    async def principal(self, token: str, entity_id: int | None = None) -> Principal:
        """The principal a token acts for, in ``entity_id`` when given (one of
        the user's entities) or else in the login's active entity."""
        login = await self.logins.find(token_hash(token))
        now = self.clock()
        if login is None or login.expires_at <= now:
            raise Unauthenticated("not logged in, or the login has expired")
        if not login.user_active:
            raise Unauthenticated("this user is deactivated")
        if login.kind == "ui":
            # Sliding: a browser session lasts while it is used, but the
            # row is touched at most once a minute.
            renewed = now + self._lifetime("ui")
            if renewed - login.expires_at > timedelta(minutes=1):
                await self.logins.extend(login.session_id, renewed)
        members = await self.logins.member_entities(login.user_id)
        active = login.active_entity_id if entity_id is None else entity_id
        if active not in members:
            raise Forbidden(f"you do not work in entity {active}")
        grants = await self.logins.grants(login.user_id)
        return Principal(
            user_id=login.user_id,
            active_entity_id=active,
            member_entity_ids=members,
            profile=AccessProfile.combine(grants),
            tree=await load_tree(),
        )

    async def switch_entity(self, token: str, entity_id: int) -> Principal:
        """Makes ``entity_id`` the login's active entity from now on."""
        principal = await self.principal(token, entity_id)
        login = await self.logins.find(token_hash(token))
        if login is None:
            raise Unauthenticated("not logged in")
        await self.logins.switch_entity(login.session_id, entity_id)
        return principal


def parse_entity_header(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"X-Entity-Id is an entity id, not {value!r}") from None
