"""Limits on wrong logins, per account and per client address.

A wrong e-mail or password counts against the account named (whether it
exists or not, so the answer tells nothing) and against the address it came
from. Once an account has ``per_account`` failures within ``window_seconds``
of its first, or an address ``per_address``, logins for it are refused
(429 with Retry-After) until that window ends, even with the right password.
A successful login forgets the account's failures but not the address's, so
one good account cannot be used to reset an address that guesses others.

The counts live where every node sees them: Redis when CSMS_REDIS_URL is set
(``crm.storage.login_attempts.RedisAttempts``, chosen by the composition
root), else this process (``MemoryAttempts``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from crm.errors import TooManyAttempts

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoginLimits:
    per_account: int = 10
    per_address: int = 50
    window_seconds: int = 900

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LoginLimits:
        """CSMS_LOGIN_FAILURES_PER_ACCOUNT, CSMS_LOGIN_FAILURES_PER_ADDRESS and
        CSMS_LOGIN_FAILURE_WINDOW (seconds); unset or empty: the defaults."""
        env = os.environ if env is None else env
        values: dict[str, int] = {}
        for name, variable in (
            ("per_account", "CSMS_LOGIN_FAILURES_PER_ACCOUNT"),
            ("per_address", "CSMS_LOGIN_FAILURES_PER_ADDRESS"),
            ("window_seconds", "CSMS_LOGIN_FAILURE_WINDOW"),
        ):
            raw = env.get(variable, "").strip()
            if not raw:
                continue
            try:
                value = int(raw)
            except ValueError:
                raise ValueError(f"{variable} must be a whole number, got {raw!r}") from None
            if value < 1:
                raise ValueError(f"{variable} must be at least 1, got {value}")
            values[name] = value
        return cls(**values)


class AttemptCounter(Protocol):
    """Failures per key within a window that starts at the key's first one."""

    async def failures(self, key: str) -> tuple[int, int]:
        """How many failures the key has and the seconds until they are
        forgotten (0, 0 when none)."""
        ...

    async def fail(self, key: str, window_seconds: int) -> None:
        """One more failure for the key."""
        ...

    async def forget(self, key: str) -> None: ...


@dataclass(slots=True)
class MemoryAttempts:
    """This process's counts (a node alone, and tests)."""

    clock: Callable[[], float] = time.monotonic
    _counts: dict[str, tuple[int, float]] = field(default_factory=dict)

    def _live(self, key: str) -> tuple[int, float] | None:
        entry = self._counts.get(key)
        if entry is not None and entry[1] <= self.clock():
            del self._counts[key]
            return None
        return entry

    async def failures(self, key: str) -> tuple[int, int]:
        entry = self._live(key)
        if entry is None:
            return 0, 0
        return entry[0], max(1, int(entry[1] - self.clock() + 0.999))

    async def fail(self, key: str, window_seconds: int) -> None:
        entry = self._live(key)
        if entry is None:
            if len(self._counts) > 100_000:
                self._sweep()
            self._counts[key] = (1, self.clock() + window_seconds)
        else:
            self._counts[key] = (entry[0] + 1, entry[1])

    async def forget(self, key: str) -> None:
        self._counts.pop(key, None)

    def _sweep(self) -> None:
        now = self.clock()
        for key in [k for k, (_, ends) in self._counts.items() if ends <= now]:
            del self._counts[key]


def _account_key(email: str) -> str:
    # Hashed: the counter store holds no e-mail addresses.
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return f"account:{digest}"


def _address_key(address: str) -> str:
    return f"address:{address}"


@dataclass(slots=True)
class LoginThrottle:
    limits: LoginLimits = field(default_factory=LoginLimits)
    counter: AttemptCounter = field(default_factory=MemoryAttempts)

    async def check(self, email: str, address: str | None) -> None:
        """TooManyAttempts when the account or the address is locked."""
        waits = []
        count, left = await self.counter.failures(_account_key(email))
        if count >= self.limits.per_account:
            waits.append(left)
        if address:
            count, left = await self.counter.failures(_address_key(address))
            if count >= self.limits.per_address:
                waits.append(left)
        if waits:
            raise TooManyAttempts("too many failed logins: try again later", retry_after=max(waits))

    async def failed(self, email: str, address: str | None) -> None:
        window = self.limits.window_seconds
        await self.counter.fail(_account_key(email), window)
        if address:
            await self.counter.fail(_address_key(address), window)

    async def succeeded(self, email: str) -> None:
        await self.counter.forget(_account_key(email))


def login_throttle(redis_url: str | None = None, redis_prefix: str = "csms:") -> LoginThrottle:
    """The limits of the environment, counted in Redis when a URL is given
    (they hold across nodes; keys ``{redis_prefix}login:…``), else in this
    process."""
    limits = LoginLimits.from_env()
    if redis_url:
        from crm.storage.login_attempts import RedisAttempts

        return LoginThrottle(limits, RedisAttempts(redis_url, prefix=f"{redis_prefix}login:"))
    return LoginThrottle(limits, MemoryAttempts())
