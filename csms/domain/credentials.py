"""Station identities and basic-auth secrets.

Station secrets are long random tokens (the OCPP security profiles ask for
16 to 40 characters), so a fast keyed hash is as safe as a slow one and keeps
a reconnect storm of thousands of chargers from costing CPU minutes: each
secret is stored as HMAC-SHA256 under its own random salt. Human passwords
(operators, drivers) use argon2 instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string

SECRET_MIN_LENGTH = 16
SECRET_MAX_LENGTH = 40
# OCPP 2.0.1 identifierString (without ":"), at most 48 characters.
CHARGE_POINT_ID_MAX_LENGTH = 48
_ID_CHARACTERS = frozenset(string.ascii_letters + string.digits + "*-_=+|@.")
_SCHEME = "hmac-sha256"
_ALPHABET = string.ascii_letters + string.digits


class CredentialError(ValueError):
    """An identity or secret the system will not accept."""


def check_charge_point_id(charge_point_id: str) -> str:
    """The identity a station puts in its URL: 1 to 48 characters of OCPP
    2.0.1's identifierString (letters, digits and ``*-_=+|@.``) without its
    colon, which basic auth uses to separate user and password; not only
    dots (``.`` and ``..`` are path segments of their own)."""
    if not charge_point_id:
        raise CredentialError("a charge point id must not be empty")
    if len(charge_point_id) > CHARGE_POINT_ID_MAX_LENGTH:
        raise CredentialError(
            f"a charge point id has at most {CHARGE_POINT_ID_MAX_LENGTH} characters"
        )
    bad = sorted(set(charge_point_id) - _ID_CHARACTERS)
    if bad:
        raise CredentialError(
            f"a charge point id must not contain {''.join(bad)!r}"
            " (only letters, digits and *-_=+|@.)"
        )
    if not charge_point_id.strip("."):
        raise CredentialError("a charge point id must not be only dots")
    return charge_point_id


def check_secret(secret: str) -> str:
    if not SECRET_MIN_LENGTH <= len(secret) <= SECRET_MAX_LENGTH:
        raise CredentialError(
            f"a station secret has {SECRET_MIN_LENGTH} to {SECRET_MAX_LENGTH} characters, "
            f"got {len(secret)}"
        )
    if not all(c.isprintable() and not c.isspace() for c in secret):
        raise CredentialError("a station secret must be printable, without spaces")
    return secret


def generate_secret(length: int = 32) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hmac.new(salt, secret.encode(), hashlib.sha256).digest()
    return f"{_SCHEME}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, salt_text, digest_text = stored.split("$")
    except ValueError:
        return False
    if scheme != _SCHEME:
        return False
    salt = base64.urlsafe_b64decode(salt_text + "==")
    expected = base64.urlsafe_b64decode(digest_text + "==")
    actual = hmac.new(salt, secret.encode(), hashlib.sha256).digest()
    return hmac.compare_digest(actual, expected)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
