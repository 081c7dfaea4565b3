"""Rate limits of the drivers' app: attempts per key (an e-mail, a client
address) within a window, on the counters of the operators' login limits
(:mod:`crm.login_limits`): in Redis when ``CSMS_REDIS_URL`` is set (so the
limits hold across nodes, ``csms.bootstrap.redis_attempts``),
else in this process. Unlike the operators' logins, every attempt counts,
not only failures: registration, verification and reset have no "failure"
that would tell an e-mail exists.

Redis being down does not stop the app (the counters skip and log it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from crm.login_limits import AttemptCounter, MemoryAttempts


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window: float) -> float | None:
        """Counts an attempt for ``key``; None when it is within ``limit``
        attempts per ``window`` seconds, else the seconds until the window
        ends (the attempt is refused and not counted)."""
        ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class CountingLimiter:
    counter: AttemptCounter = field(default_factory=MemoryAttempts)

    async def hit(self, key: str, limit: int, window: float) -> float | None:
        count, left = await self.counter.failures(key)
        if count >= limit:
            return float(max(left, 1))
        await self.counter.fail(key, max(int(window), 1))
        return None

    async def close(self) -> None:
        close = getattr(self.counter, "close", None)
        if close is not None:
            await close()


def limiter_for(redis_url: str | None, prefix: str = "csms:app:") -> RateLimiter:
    if redis_url:
        # Redis counters are storage: the composition root makes them.
        from csms.bootstrap import redis_attempts

        return CountingLimiter(redis_attempts(redis_url, prefix))
    return CountingLimiter(MemoryAttempts())
