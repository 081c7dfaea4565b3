"""Password hashing: argon2id (argon2-cffi), the PHC string stored as is."""

from __future__ import annotations

import functools

import argon2
from argon2 import PasswordHasher, profiles

from crm.errors import InvalidInput

MIN_PASSWORD_LENGTH = 10
_HASHERS = {
    # RFC 9106's second recommendation: 64 MiB, 3 passes (~50 ms).
    "standard": PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY),
    # Tests and demos create many users; never for real accounts.
    "fast": PasswordHasher.from_parameters(profiles.CHEAPEST),
}


@functools.cache
def _dummy_hash(strength: str) -> str:
    """Verifying against this costs as much as against a real hash, so a
    login for an unknown e-mail takes as long as one with a wrong password."""
    return _HASHERS[strength].hash("not a password")


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 1024:
        raise InvalidInput("a password has at most 1024 characters")
    return password


def hash_password(password: str, strength: str = "standard") -> str:
    return _HASHERS[strength].hash(check_password(password))


def verify_password(stored_hash: str, password: str, strength: str = "standard") -> bool:
    """Whether ``password`` matches; takes as long for an empty ``stored_hash``
    (unknown user, no password set) as for a wrong password."""
    hasher = _HASHERS[strength]
    try:
        return hasher.verify(stored_hash or _dummy_hash(strength), password) and bool(stored_hash)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def needs_rehash(stored_hash: str, strength: str = "standard") -> bool:
    return _HASHERS[strength].check_needs_rehash(stored_hash)
