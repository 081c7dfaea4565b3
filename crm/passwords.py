"""Password hashing: argon2id (argon2-cffi), the PHC string stored as is.

A hash or check costs ~50 ms of CPU and 64 MiB: the async callers
(``verify_password_off_loop``, ``hash_password_off_loop``) run it on a small
thread pool of its own, never on the event loop the gateway shares, and a
login storm queues there instead of taking every thread of the default pool.
"""

from __future__ import annotations

import asyncio
import functools
import os
from concurrent.futures import ThreadPoolExecutor

import argon2
from argon2 import PasswordHasher, profiles

from crm.errors import InvalidInput

MIN_PASSWORD_LENGTH = 10
# Threads hashing at once (argon2-cffi releases the GIL while it hashes):
# a login storm costs at most this many cores (half the machine's, at most
# 4) and 64 MiB each, and leaves the event loop a core of its own.
HASHING_THREADS = max(1, min(4, (os.cpu_count() or 2) // 2))
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


@functools.cache
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=HASHING_THREADS, thread_name_prefix="argon2")


async def verify_password_off_loop(
    stored_hash: str, password: str, strength: str = "standard"
) -> bool:
    """``verify_password`` on the hashing threads."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor(), verify_password, stored_hash, password, strength)


async def hash_password_off_loop(password: str, strength: str = "standard") -> str:
    """``hash_password`` on the hashing threads (InvalidInput as it says)."""
    check_password(password)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor(), hash_password, password, strength)
