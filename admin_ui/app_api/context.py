"""What the drivers' app API needs from the running system, handed over by
the composition root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from admin_ui.app_api.limits import CountingLimiter, RateLimiter
from admin_ui.app_api.service import DriverCharging
from crm.drivers.service import DriverAccounts


@dataclass(slots=True)
class AppContext:
    accounts: DriverAccounts
    # Stations, charging and history (None: this process serves accounts only).
    charging: DriverCharging | None = None
    limiter: RateLimiter = field(default_factory=CountingLimiter)
    # Attempts per e-mail and per client address in a window of seconds, for
    # each of login, registration, verification and password reset.
    rate_limit: int = 10
    rate_window: float = 300.0
    # What close() closes (the limiter's connection, billing's stores).
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def close(self) -> None:
        """Closes what it holds, once (the web app's shutdown and the node's
        stop both call it)."""
        closers, self.closers = self.closers, []
        limiter, self.limiter = self.limiter, CountingLimiter()
        await limiter.close()
        for close in closers:
            await close()
