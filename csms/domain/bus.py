"""The message bus between the processes of one installation.

An interface only; the domain never imports Redis. Two implementations live
in :mod:`csms.messaging`: in-process (the default, one process) and Redis
(many processes and machines). Messages are bytes on named topics; every
subscriber of a topic gets every message published on it, its own
included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

Handler = Callable[[bytes], None]


class Bus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def subscribe(self, topic: str, handler: Handler) -> None:
        """``handler`` gets each message published on ``topic`` from now on
        (called on the event loop; it must not block)."""
        ...

    async def publish(self, topic: str, payload: bytes) -> int:
        """Returns how many processes (buses) subscribe to ``topic`` and so
        receive it: 0 means nobody listens."""
        ...

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """``callback`` runs (on the event loop) each time the bus is back
        after losing its server: what that server held may be gone (a
        restarted Redis holds no node directory), so holders record it again."""
        ...
