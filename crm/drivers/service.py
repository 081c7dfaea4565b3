"""The drivers' accounts: registration, e-mail verification, login with
short access tokens and rotated refresh tokens, password reset, the
driver's profile and cards.

Nothing here tells whether an e-mail has a login: registering a known
e-mail answers as a new one does (the mail says "you have an account"),
asking for a reset of an unknown one too, and a login with an unknown
e-mail costs the same password check as a wrong password. argon2 runs on
the password threads of :mod:`crm.passwords`, off the event loop.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from crm.changes import CrmChangeListener, IgnoreChanges
from crm.clock import utcnow
from crm.drivers.model import (
    Card,
    CardCreate,
    Driver,
    Mail,
    NewDriver,
    Profile,
    Registration,
    StoredLogin,
    TokenPair,
    check_email,
    check_registration,
    new_app_uid,
    new_secret,
    token_hash,
)
from crm.drivers.ports import DriverStore, EmailTaken, MailSender
from crm.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from crm.media import MediumKind, MediumStatus, check_uid
from crm.passwords import check_password, hash_password_off_loop, verify_password_off_loop

log = logging.getLogger(__name__)

ACCESS = "access"
REFRESH = "refresh"
VERIFY = "verify"
RESET = "reset"
# Attempts at drawing a fresh app token uid before giving up.
APP_UID_ATTEMPTS = 5


@dataclass(slots=True)
class DriverAccounts:
    store: DriverStore
    mailer: MailSender
    changes: CrmChangeListener = field(default_factory=IgnoreChanges)
    password_strength: str = "standard"
    access_minutes: int = 15
    refresh_days: int = 30
    verify_hours: int = 48
    reset_minutes: int = 60
    clock: Callable[[], datetime] = utcnow

    # -- passwords, off the event loop -----------------------------------------------

    async def _hash(self, password: str) -> str:
        return await hash_password_off_loop(password, self.password_strength)

    async def _verify(self, stored: str, password: str) -> bool:
        return await verify_password_off_loop(stored, password, self.password_strength)

    # -- registration ------------------------------------------------------------------

    async def registration_code(self, entity_id: int, *, renew: bool = False) -> str:
        """The entity's public registration code (the caller checked the
        operator's right to see or renew it)."""
        return await self.store.registration_code(entity_id, renew=renew, now=self.clock())

    async def register(self, data: Registration) -> None:
        """Registers a driver with the entity of the code: NotFound for an
        unknown code, Forbidden when the entity does not allow
        self-registration, InvalidInput for bad fields. A known e-mail gets
        a mail saying so and the same answer."""
        checked = check_registration(data)
        entity = await self.store.registration_entity(data.registration_code.strip())
        if entity is None or not entity.active:
            raise NotFound("there is no entity with this registration code")
        if not entity.self_registration:
            raise Forbidden("this entity does not allow drivers to register themselves")
        password_hash = await self._hash(data.password)
        secret = new_secret()
        now = self.clock()
        for attempt in range(APP_UID_ATTEMPTS):
            try:
                await self.store.create_driver(
                    NewDriver(
                        entity_id=entity.entity_id,
                        email=checked.email,
                        password_hash=password_hash,
                        contact=checked.contact,
                        app_uid=new_app_uid(),
                        verify_token_hash=token_hash(secret),
                        verify_expires_at=now + timedelta(hours=self.verify_hours),
                        now=now,
                    )
                )
                break
            except EmailTaken:
                await self._send(
                    Mail(
                        recipient=checked.email,
                        kind="account_exists",
                        subject="You already have an account",
                        body=(
                            "Someone (you?) tried to register this address again. You "
                            "already have an account: log in, or ask for a password "
                            "reset if you forgot your password."
                        ),
                    )
                )
                return
            except Conflict:
                # The drawn app token uid is taken (or a customer number race).
                if attempt == APP_UID_ATTEMPTS - 1:
                    raise
        await self._send(
            Mail(
                recipient=checked.email,
                kind="verify",
                subject="Confirm your e-mail address",
                body=(
                    "Confirm your e-mail address with this code in the app "
                    f"(valid {self.verify_hours} hours):\n\n{secret}\n"
                ),
            )
        )

    async def _send(self, mail: Mail) -> None:
        try:
            await self.mailer.send(mail)
        except Exception:
            # The answer must not depend on it (nor tell the e-mail exists).
            log.exception("mail %s to a driver could not be sent", mail.kind)

    async def verify(self, token: str) -> None:
        """Verifies the e-mail of the token's login and activates its app
        token; Unauthenticated for an unknown, used or expired token."""
        stored = await self.store.token(token_hash(token.strip()), VERIFY)
        now = self.clock()
        if stored is None or stored.revoked or stored.expires_at <= now:
            raise Unauthenticated("this verification code is unknown or has expired")
        if not await self.store.mark_used(stored.id, now):
            raise Unauthenticated("this verification code was used already")
        changed = await self.store.verify(stored.driver_id, now)
        if changed:
            self.changes.media_changed(frozenset(changed))

    # -- logins ------------------------------------------------------------------------

    async def _pair(self, driver_id: int, family: str) -> TokenPair:
        access, refresh = new_secret(), new_secret()
        now = self.clock()
        access_life = timedelta(minutes=self.access_minutes)
        refresh_life = timedelta(days=self.refresh_days)
        await self.store.add_token(
            driver_id,
            token_hash=token_hash(access),
            kind=ACCESS,
            family=family,
            now=now,
            expires_at=now + access_life,
        )
        await self.store.add_token(
            driver_id,
            token_hash=token_hash(refresh),
            kind=REFRESH,
            family=family,
            now=now,
            expires_at=now + refresh_life,
        )
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            token_type="Bearer",
            expires_in=int(access_life.total_seconds()),
            refresh_expires_in=int(refresh_life.total_seconds()),
        )

    async def login(self, email: str, password: str) -> TokenPair:
        """A new login; Unauthenticated for a wrong e-mail or password (not
        told apart) and for a deactivated login. An unverified driver may
        log in (to read, and to verify); charging needs verification."""
        try:
            address = check_email(email)
        except InvalidInput:
            address = ""
        login = await self.store.login_by_email(address) if address else None
        stored = login.password_hash if login else ""
        if not await self._verify(stored, password) or login is None:
            raise Unauthenticated("wrong e-mail or password")
        if not login.active:
            raise Unauthenticated("wrong e-mail or password")
        await self.store.touch_login(login.id, self.clock())
        return await self._pair(login.id, secrets.token_hex(16))

    async def refresh(self, refresh_token: str) -> TokenPair:
        """The next pair for a refresh token, which is used up. A refresh
        token used a second time revokes every token of its login (it was
        stolen, or the app lost a pair): log in again."""
        stored = await self.store.token(token_hash(refresh_token.strip()), REFRESH)
        now = self.clock()
        if stored is None or stored.revoked or stored.expires_at <= now:
            raise Unauthenticated("this refresh token is unknown, revoked or expired")
        if stored.used_at is not None or not await self.store.mark_used(stored.id, now):
            await self.store.revoke_family(stored.family)
            log.warning(
                "a rotated refresh token of driver %s was used again: its login is revoked",
                stored.driver_id,
            )
            raise Unauthenticated("this refresh token was used already; log in again")
        login = await self.store.login_by_id(stored.driver_id)
        if login is None or not login.active:
            raise Unauthenticated("this login is deactivated")
        return await self._pair(stored.driver_id, stored.family)

    async def logout(self, driver: Driver) -> None:
        """Revokes the login's access and refresh tokens."""
        await self.store.revoke_family(driver.family)

    async def driver(self, access_token: str) -> Driver:
        """Who the access token acts for; Unauthenticated otherwise."""
        stored = await self.store.token(token_hash(access_token), ACCESS)
        now = self.clock()
        if stored is None or stored.revoked or stored.expires_at <= now:
            raise Unauthenticated("not logged in, or the access token has expired")
        login = await self.store.login_by_id(stored.driver_id)
        if login is None or not login.active:
            raise Unauthenticated("this login is deactivated")
        return _driver(login, stored.family)

    # -- password reset ----------------------------------------------------------------

    async def request_reset(self, email: str) -> None:
        """Mails a reset code when the e-mail has a login; answers the same
        either way."""
        address = check_email(email)
        login = await self.store.login_by_email(address)
        if login is None or not login.active:
            return
        secret = new_secret()
        now = self.clock()
        await self.store.add_token(
            login.id,
            token_hash=token_hash(secret),
            kind=RESET,
            family="",
            now=now,
            expires_at=now + timedelta(minutes=self.reset_minutes),
        )
        await self._send(
            Mail(
                recipient=address,
                kind="reset",
                subject="Reset your password",
                body=(
                    "Set a new password in the app with this code (valid "
                    f"{self.reset_minutes} minutes):\n\n{secret}\n"
                ),
            )
        )

    async def reset(self, token: str, password: str) -> None:
        """Sets the password; every login of the driver ends (their tokens
        are revoked). Unauthenticated for an unknown, used or expired code."""
        check_password(password)
        stored = await self.store.token(token_hash(token.strip()), RESET)
        now = self.clock()
        if stored is None or stored.revoked or stored.expires_at <= now:
            raise Unauthenticated("this reset code is unknown or has expired")
        if not await self.store.mark_used(stored.id, now):
            raise Unauthenticated("this reset code was used already")
        await self.store.set_password(stored.driver_id, await self._hash(password), now)
        await self.store.revoke_all(stored.driver_id, (ACCESS, REFRESH, RESET))

    # -- the driver's own data ---------------------------------------------------------

    async def profile(self, driver: Driver) -> Profile:
        profile = await self.store.profile(driver.driver_id)
        if profile is None:
            raise Unauthenticated("this login is gone")
        return profile

    async def cards(self, driver: Driver) -> list[Card]:
        return await self.store.cards(driver.contact_id)

    async def card(self, driver: Driver, card_id: int) -> Card:
        card = await self.store.card(driver.contact_id, card_id)
        if card is None:
            raise NotFound(f"you have no card {card_id}")
        return card

    async def add_card(self, driver: Driver, data: CardCreate) -> Card:
        """Adds an RFID card, issued by the driver's entity, owned and paid
        by the driver; Conflict when the uid is known."""
        uid = check_uid(data.uid)
        card = await self.store.add_card(driver.contact_id, driver.entity_id, uid, self.clock())
        self.changes.media_changed(frozenset({card.uid}))
        return card

    async def block_card(self, driver: Driver, card_id: int) -> Card:
        """Blocks one of the driver's RFID cards (the app token stays: it
        is the entity's to block)."""
        card = await self.card(driver, card_id)
        if card.kind is not MediumKind.RFID:
            raise InvalidInput("only RFID cards can be blocked here")
        if card.status is MediumStatus.BLOCKED:
            return card
        blocked = await self.store.set_card_status(card.id, MediumStatus.BLOCKED, self.clock())
        self.changes.media_changed(frozenset({blocked.uid}))
        return blocked

    async def purge(self) -> int:
        return await self.store.purge_tokens(self.clock())


def _driver(login: StoredLogin, family: str) -> Driver:
    return Driver(
        driver_id=login.id,
        contact_id=login.contact_id,
        entity_id=login.entity_id,
        verified=login.verified,
        family=family,
        app_medium_id=login.app_medium_id,
    )
