"""Drivers' logins, tokens, registration codes, outbox and media in the
database (the only piccolo user of :mod:`crm.drivers`).

A registration is one transaction: the contact with the entity's next
customer number (:class:`crm.storage.contacts.PiccoloContacts`), the app
token (blocked until the e-mail is verified), the login and the
verification token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from crm.drivers.model import (
    Card,
    Mail,
    NewDriver,
    Profile,
    RegistrationEntity,
    StoredLogin,
    StoredToken,
    new_registration_code,
)
from crm.drivers.ports import EmailTaken
from crm.errors import Conflict, NotFound
from crm.media import MediumKind, MediumStatus
from crm.storage.contacts import PiccoloContacts
from crm.storage.integrity import is_unique_violation
from crm.tables import (
    DriverLogin,
    DriverToken,
    Entity,
    MailOutbox,
    Medium,
    RegistrationCode,
)

_LOGIN_COLUMNS = (
    DriverLogin.id,
    DriverLogin.email,
    DriverLogin.password_hash,
    DriverLogin.contact,
    DriverLogin.entity,
    DriverLogin.app_medium,
    DriverLogin.verified,
    DriverLogin.active,
)
_CARD_COLUMNS = (Medium.id, Medium.uid, Medium.kind, Medium.status, Medium.created_at)
# Attempts at a registration code nobody has.
_CODE_ATTEMPTS = 5


def _write_transaction() -> Any:
    engine = DriverLogin._meta.db
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


def _login(row: dict[str, Any]) -> StoredLogin:
    return StoredLogin(
        id=row["id"],
        email=row["email"],
        password_hash=row["password_hash"],
        contact_id=row["contact"],
        entity_id=row["entity"],
        app_medium_id=row["app_medium"],
        verified=bool(row["verified"]),
        active=bool(row["active"]),
    )


def _card(row: dict[str, Any]) -> Card:
    return Card(
        id=row["id"],
        uid=row["uid"],
        kind=MediumKind(row["kind"]),
        status=MediumStatus(row["status"]),
        created_at=row["created_at"],
    )


def _owned(contact_id: int) -> Any:
    return (Medium.owner_contact == contact_id) & (Medium.bill_to_contact == contact_id)


class PiccoloDriverStore:
    # -- registration codes ------------------------------------------------------------

    async def registration_entity(self, code: str) -> RegistrationEntity | None:
        if not code:
            return None
        row = (
            await RegistrationCode.select(
                RegistrationCode.entity,
                RegistrationCode.entity.customer_self_registration,
                RegistrationCode.entity.active,
            )
            .where(RegistrationCode.code == code)
            .first()
            .run()
        )
        if row is None:
            return None
        return RegistrationEntity(
            row["entity"],
            bool(row["entity.customer_self_registration"]),
            bool(row["entity.active"]),
        )

    async def registration_code(self, entity_id: int, *, renew: bool, now: datetime) -> str:
        for _ in range(_CODE_ATTEMPTS):
            try:
                async with _write_transaction():
                    if not await Entity.exists().where(Entity.id == entity_id).run():
                        raise NotFound(f"there is no entity {entity_id}")
                    row = (
                        await RegistrationCode.select(RegistrationCode.code)
                        .where(RegistrationCode.entity == entity_id)
                        .first()
                        .run()
                    )
                    if row is not None and not renew:
                        return str(row["code"])
                    code = new_registration_code()
                    if row is None:
                        await RegistrationCode.insert(
                            RegistrationCode(entity=entity_id, code=code, created_at=now)
                        ).run()
                    else:
                        await (
                            RegistrationCode.update(
                                {RegistrationCode.code: code, RegistrationCode.created_at: now}
                            )
                            .where(RegistrationCode.entity == entity_id)
                            .run()
                        )
                    return code
            except Exception as error:
                if not is_unique_violation(error):
                    raise
        raise Conflict("no free registration code was found; try again")

    # -- logins ------------------------------------------------------------------------

    async def create_driver(self, driver: NewDriver) -> StoredLogin:
        try:
            async with _write_transaction():
                taken = await DriverLogin.exists().where(DriverLogin.email == driver.email).run()
                if taken:
                    raise EmailTaken(driver.email)
                contact = await PiccoloContacts().create(
                    {**driver.contact, "customer_number": None},
                    owner_entity_id=driver.entity_id,
                    now=driver.now,
                )
                if await Medium.exists().where(Medium.uid == driver.app_uid).run():
                    raise Conflict("the app token drawn is taken")
                (medium,) = (
                    await Medium.insert(
                        Medium(
                            uid=driver.app_uid,
                            kind=MediumKind.APP.value,
                            issuing_entity=driver.entity_id,
                            owner_contact=contact["id"],
                            bill_to_contact=contact["id"],
                            status=MediumStatus.BLOCKED.value,
                            note="app token (active once the e-mail is verified)",
                            created_at=driver.now,
                            updated_at=driver.now,
                        )
                    )
                    .returning(Medium.id)
                    .run()
                )
                (login,) = (
                    await DriverLogin.insert(
                        DriverLogin(
                            email=driver.email,
                            password_hash=driver.password_hash,
                            contact=contact["id"],
                            entity=driver.entity_id,
                            app_medium=medium["id"],
                            verified=False,
                            active=True,
                            created_at=driver.now,
                            updated_at=driver.now,
                        )
                    )
                    .returning(DriverLogin.id)
                    .run()
                )
                await DriverToken.insert(
                    DriverToken(
                        token_hash=driver.verify_token_hash,
                        driver=login["id"],
                        kind="verify",
                        family="",
                        created_at=driver.now,
                        expires_at=driver.verify_expires_at,
                    )
                ).run()
        except Exception as error:
            if is_unique_violation(error) and "email" in str(error).lower():
                raise EmailTaken(driver.email) from None
            if is_unique_violation(error):
                raise Conflict("a registration raced this one; try again") from None
            raise
        found = await self.login_by_id(login["id"])
        assert found is not None
        return found

    async def login_by_email(self, email: str) -> StoredLogin | None:
        row = await DriverLogin.select(*_LOGIN_COLUMNS).where(DriverLogin.email == email).first()
        return _login(row) if row else None

    async def login_by_id(self, driver_id: int) -> StoredLogin | None:
        row = await DriverLogin.select(*_LOGIN_COLUMNS).where(DriverLogin.id == driver_id).first()
        return _login(row) if row else None

    async def touch_login(self, driver_id: int, now: datetime) -> None:
        await DriverLogin.update({DriverLogin.last_login_at: now}).where(
            DriverLogin.id == driver_id
        )

    async def verify(self, driver_id: int, now: datetime) -> list[str]:
        async with _write_transaction():
            row = (
                await DriverLogin.select(DriverLogin.verified, DriverLogin.app_medium)
                .where(DriverLogin.id == driver_id)
                .first()
                .run()
            )
            if row is None or row["verified"]:
                return []
            await DriverLogin.update(
                {DriverLogin.verified: True, DriverLogin.updated_at: now}
            ).where(DriverLogin.id == driver_id)
            if row["app_medium"] is None:
                return []
            changed = (
                await Medium.update(
                    {
                        Medium.status: MediumStatus.ACTIVE.value,
                        Medium.note: "app token",
                        Medium.updated_at: now,
                    }
                )
                .where(
                    (Medium.id == row["app_medium"]) & (Medium.status == MediumStatus.BLOCKED.value)
                )
                .returning(Medium.uid)
                .run()
            )
            return [r["uid"] for r in changed]

    async def set_password(self, driver_id: int, password_hash: str, now: datetime) -> None:
        await DriverLogin.update(
            {DriverLogin.password_hash: password_hash, DriverLogin.updated_at: now}
        ).where(DriverLogin.id == driver_id)

    # -- tokens ------------------------------------------------------------------------

    async def add_token(
        self,
        driver_id: int,
        *,
        token_hash: str,
        kind: str,
        family: str,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        await DriverToken.insert(
            DriverToken(
                token_hash=token_hash,
                driver=driver_id,
                kind=kind,
                family=family,
                created_at=now,
                expires_at=expires_at,
            )
        ).run()

    async def token(self, token_hash: str, kind: str) -> StoredToken | None:
        row = (
            await DriverToken.select(
                DriverToken.id,
                DriverToken.driver,
                DriverToken.kind,
                DriverToken.family,
                DriverToken.used_at,
                DriverToken.revoked,
                DriverToken.expires_at,
            )
            .where((DriverToken.token_hash == token_hash) & (DriverToken.kind == kind))
            .first()
            .run()
        )
        if row is None:
            return None
        return StoredToken(
            id=row["id"],
            driver_id=row["driver"],
            kind=row["kind"],
            family=row["family"],
            used_at=row["used_at"],
            revoked=bool(row["revoked"]),
            expires_at=row["expires_at"],
        )

    async def mark_used(self, token_id: int, now: datetime) -> bool:
        updated = (
            await DriverToken.update({DriverToken.used_at: now})
            .where((DriverToken.id == token_id) & DriverToken.used_at.is_null())
            .returning(DriverToken.id)
            .run()
        )
        return bool(updated)

    async def revoke_family(self, family: str) -> None:
        if family:
            await DriverToken.update({DriverToken.revoked: True}).where(
                DriverToken.family == family
            )

    async def revoke_all(self, driver_id: int, kinds: tuple[str, ...]) -> None:
        await DriverToken.update({DriverToken.revoked: True}).where(
            (DriverToken.driver == driver_id) & DriverToken.kind.is_in(list(kinds))
        )

    async def purge_tokens(self, now: datetime) -> int:
        deleted = (
            await DriverToken.delete()
            .where(DriverToken.expires_at < now)
            .returning(DriverToken.id)
            .run()
        )
        return len(deleted)

    # -- the outbox ------------------------------------------------------------------

    async def add_mail(self, mail: Mail, now: datetime) -> int:
        (row,) = (
            await MailOutbox.insert(
                MailOutbox(
                    recipient=mail.recipient,
                    kind=mail.kind,
                    subject=mail.subject,
                    body=mail.body,
                    created_at=now,
                )
            )
            .returning(MailOutbox.id)
            .run()
        )
        return int(row["id"])

    # -- the driver's data -----------------------------------------------------------

    async def profile(self, driver_id: int) -> Profile | None:
        row = (
            await DriverLogin.select(
                DriverLogin.email,
                DriverLogin.verified,
                DriverLogin.entity,
                DriverLogin.app_medium.uid,
                DriverLogin.contact.customer_number,
                DriverLogin.contact.name,
                DriverLogin.contact.street,
                DriverLogin.contact.postal_code,
                DriverLogin.contact.city,
                DriverLogin.contact.country,
                DriverLogin.contact.iban,
                DriverLogin.contact.bic,
            )
            .where(DriverLogin.id == driver_id)
            .first()
            .run()
        )
        if row is None:
            return None
        return Profile(
            email=row["email"],
            verified=bool(row["verified"]),
            entity_id=row["entity"],
            customer_number=row["contact.customer_number"],
            name=row["contact.name"],
            street=row["contact.street"],
            postal_code=row["contact.postal_code"],
            city=row["contact.city"],
            country=row["contact.country"],
            iban=row["contact.iban"],
            bic=row["contact.bic"],
            app_token=row["app_medium.uid"],
        )

    async def cards(self, contact_id: int) -> list[Card]:
        rows = await Medium.select(*_CARD_COLUMNS).where(_owned(contact_id)).order_by(Medium.id)
        return [_card(row) for row in rows]

    async def card(self, contact_id: int, card_id: int) -> Card | None:
        row = (
            await Medium.select(*_CARD_COLUMNS)
            .where(_owned(contact_id) & (Medium.id == card_id))
            .first()
            .run()
        )
        return _card(row) if row else None

    async def add_card(self, contact_id: int, entity_id: int, uid: str, now: datetime) -> Card:
        if await Medium.exists().where(Medium.uid == uid).run():
            raise Conflict(f"a card with uid {uid!r} is known already")
        try:
            (row,) = (
                await Medium.insert(
                    Medium(
                        uid=uid,
                        kind=MediumKind.RFID.value,
                        issuing_entity=entity_id,
                        owner_contact=contact_id,
                        bill_to_contact=contact_id,
                        status=MediumStatus.ACTIVE.value,
                        note="added by the driver in the app",
                        created_at=now,
                        updated_at=now,
                    )
                )
                .returning(*_CARD_COLUMNS)
                .run()
            )
        except Exception as error:
            if is_unique_violation(error):
                raise Conflict(f"a card with uid {uid!r} is known already") from None
            raise
        return _card(row)

    async def set_card_status(self, card_id: int, status: MediumStatus, now: datetime) -> Card:
        (row,) = (
            await Medium.update({Medium.status: status.value, Medium.updated_at: now})
            .where(Medium.id == card_id)
            .returning(*_CARD_COLUMNS)
            .run()
        )
        return _card(row)

    async def card_uid(self, card_id: int) -> str:
        row = await Medium.select(Medium.uid).where(Medium.id == card_id).first()
        return str(row["uid"]) if row else ""

    # -- what the app's charging side reads --------------------------------------------

    async def media_of(self, contact_id: int) -> list[dict[str, Any]]:
        """The driver's media as authorisation sees them."""
        return list(
            await Medium.select(
                Medium.id,
                Medium.uid,
                Medium.kind,
                Medium.status,
                Medium.issuing_entity,
                Medium.valid_from,
                Medium.valid_until,
                Medium.group_uid,
            ).where(_owned(contact_id))
        )
