"""What the drivers' services need from storage and mail."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from crm.drivers.model import (
    Card,
    Mail,
    NewDriver,
    Profile,
    RegistrationEntity,
    StoredLogin,
    StoredToken,
)
from crm.media import MediumStatus


class EmailTaken(Exception):
    """A login with this e-mail exists (also when two registrations race)."""


class DriverStore(Protocol):
    async def registration_entity(self, code: str) -> RegistrationEntity | None: ...

    async def registration_code(self, entity_id: int, *, renew: bool, now: datetime) -> str:
        """The entity's code, created when it has none (or ``renew``)."""
        ...

    async def create_driver(self, driver: NewDriver) -> StoredLogin:
        """In one transaction: the contact (with the entity's next customer
        number), the app token (blocked until verified), the login and its
        verification token. EmailTaken when the e-mail has a login."""
        ...

    async def login_by_email(self, email: str) -> StoredLogin | None: ...

    async def login_by_id(self, driver_id: int) -> StoredLogin | None: ...

    async def add_token(
        self,
        driver_id: int,
        *,
        token_hash: str,
        kind: str,
        family: str,
        now: datetime,
        expires_at: datetime,
    ) -> None: ...

    async def token(self, token_hash: str, kind: str) -> StoredToken | None: ...

    async def mark_used(self, token_id: int, now: datetime) -> bool:
        """Marks an unused token used; False when it was used already."""
        ...

    async def revoke_family(self, family: str) -> None: ...

    async def revoke_all(self, driver_id: int, kinds: tuple[str, ...]) -> None: ...

    async def verify(self, driver_id: int, now: datetime) -> list[str]:
        """Marks the login verified and activates its app token; returns
        the uids whose status changed."""
        ...

    async def set_password(self, driver_id: int, password_hash: str, now: datetime) -> None: ...

    async def touch_login(self, driver_id: int, now: datetime) -> None: ...

    async def profile(self, driver_id: int) -> Profile | None: ...

    async def cards(self, contact_id: int) -> list[Card]: ...

    async def card(self, contact_id: int, card_id: int) -> Card | None: ...

    async def add_card(self, contact_id: int, entity_id: int, uid: str, now: datetime) -> Card:
        """Conflict when the uid is taken."""
        ...

    async def set_card_status(self, card_id: int, status: MediumStatus, now: datetime) -> Card: ...

    async def card_uid(self, card_id: int) -> str: ...

    async def purge_tokens(self, now: datetime) -> int: ...


class MailSender(Protocol):
    async def send(self, mail: Mail) -> None: ...
