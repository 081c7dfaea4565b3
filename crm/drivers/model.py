"""Values of the drivers' app and their checks, free of I/O."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

import msgspec
from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError

from crm.errors import InvalidInput
from crm.media import MediumKind, MediumStatus
from crm.passwords import check_password

MAX_EMAIL_LENGTH = 254
# One @, something on both sides, a dot in the domain, no spaces.
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(?:\.[^@\s.]+)+")
# The app token a registration issues: APP + 16 hex digits (19 characters:
# fits OCPP 1.6's idTag of 20).
APP_TOKEN_PREFIX = "APP"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_app_uid() -> str:
    return APP_TOKEN_PREFIX + secrets.token_hex(8).upper()


def new_registration_code() -> str:
    # 12 characters of an alphabet without look-alikes.
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


def check_email(email: str) -> str:
    """The e-mail as stored (trimmed, lower case), or InvalidInput."""
    text = email.strip().lower()
    if len(text) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(text):
        raise InvalidInput("email: not an e-mail address")
    if any(not c.isprintable() for c in text):
        raise InvalidInput("email: not an e-mail address")
    return text


def _text(name: str, value: str, limit: int, *, required: bool = False) -> str:
    text = value.strip()
    if required and not text:
        raise InvalidInput(f"{name} must not be empty")
    if len(text) > limit:
        raise InvalidInput(f"{name} has at most {limit} characters")
    if any(not c.isprintable() for c in text):
        raise InvalidInput(f"{name} has printable characters only")
    return text


def check_payment(iban: str | None, bic: str | None) -> tuple[str, str]:
    """IBAN and BIC in their compact form (both empty when left out), or
    InvalidInput naming the one whose format or checksum is wrong."""
    if not iban and not bic:
        return "", ""
    if not iban:
        raise InvalidInput("bic needs an iban")
    try:
        checked_iban = stdnum_iban.validate(iban)
    except ValidationError:
        raise InvalidInput("iban: not a valid IBAN (format or check digits)") from None
    checked_bic = ""
    if bic:
        try:
            checked_bic = stdnum_bic.validate(bic)
        except ValidationError:
            raise InvalidInput("bic: not a valid BIC") from None
    return checked_iban, checked_bic


class Registration(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A driver registering with the entity whose public registration code
    is ``registration_code``. ``iban`` and ``bic`` are optional."""

    registration_code: str
    email: str
    password: str
    name: str
    street: str = ""
    postal_code: str = ""
    city: str = ""
    # ISO 3166-1 alpha-2
    country: str = ""
    iban: str | None = None
    bic: str | None = None


class CheckedRegistration(msgspec.Struct, frozen=True, kw_only=True):
    email: str
    contact: dict[str, str]


def check_registration(data: Registration) -> CheckedRegistration:
    """The registration's contact fields as stored, or InvalidInput (the
    password is checked here too, not stored)."""
    email = check_email(data.email)
    check_password(data.password)
    country = _text("country", data.country, 2).upper()
    if country and not re.fullmatch(r"[A-Z]{2}", country):
        raise InvalidInput("country is a two-letter code such as DE")
    iban, bic = check_payment(data.iban, data.bic)
    return CheckedRegistration(
        email=email,
        contact={
            "kind": "person",
            "name": _text("name", data.name, 200, required=True),
            "street": _text("street", data.street, 200),
            "postal_code": _text("postal_code", data.postal_code, 20),
            "city": _text("city", data.city, 100),
            "country": country,
            "email": email,
            "iban": iban,
            "bic": bic,
        },
    )


class RegistrationEntity(msgspec.Struct, frozen=True):
    """The entity a registration code names."""

    entity_id: int
    self_registration: bool
    active: bool


class NewDriver(msgspec.Struct, frozen=True, kw_only=True):
    entity_id: int
    email: str
    password_hash: str
    contact: dict[str, str]
    app_uid: str
    verify_token_hash: str
    verify_expires_at: datetime
    now: datetime


class StoredLogin(msgspec.Struct, frozen=True, kw_only=True):
    """A driver's login as storage reads it."""

    id: int
    email: str
    password_hash: str
    contact_id: int
    entity_id: int
    app_medium_id: int | None
    verified: bool
    active: bool


class StoredToken(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    driver_id: int
    kind: str
    family: str
    used_at: datetime | None
    revoked: bool
    expires_at: datetime


class Driver(msgspec.Struct, frozen=True, kw_only=True):
    """Who a driver's access token acts for: everything the driver may see
    is the contact's."""

    driver_id: int
    contact_id: int
    entity_id: int
    verified: bool
    family: str
    app_medium_id: int | None


class TokenPair(msgspec.Struct, frozen=True, kw_only=True):
    """An access token (short-lived, for ``Authorization: Bearer``) and the
    refresh token that gets the next pair (once: each use rotates it)."""

    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int
    refresh_expires_in: int


class Profile(msgspec.Struct, frozen=True, kw_only=True):
    """The driver's own record."""

    email: str
    verified: bool
    entity_id: int
    customer_number: str | None
    name: str
    street: str
    postal_code: str
    city: str
    country: str
    iban: str
    bic: str
    app_token: str | None


class Card(msgspec.Struct, frozen=True, kw_only=True):
    """One of the driver's media: RFID cards and the app token."""

    id: int
    uid: str
    kind: MediumKind
    status: MediumStatus
    created_at: datetime


class CardCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An RFID card to add: its uid (what the charger reads)."""

    uid: str


class Mail(msgspec.Struct, frozen=True, kw_only=True):
    recipient: str
    kind: str
    subject: str
    body: str
