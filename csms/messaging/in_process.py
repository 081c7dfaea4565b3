"""The bus of a single process: a message reaches this process's
subscribers, on the next pass of the event loop (so a publisher never runs
its subscribers inside its own call).

Several nodes in one process (tests) share an :class:`InProcessHub`: each
has its own :class:`InProcessBus` on it, and stopping one removes only its
own subscriptions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from csms.domain.bus import Handler

log = logging.getLogger(__name__)


class InProcessHub:
    """What the buses of one process share."""

    def __init__(self) -> None:
        self.buses: list[InProcessBus] = []

    def bus(self) -> InProcessBus:
        return InProcessBus(self)


class InProcessBus:
    def __init__(self, hub: InProcessHub | None = None) -> None:
        self._hub = hub if hub is not None else InProcessHub()
        self._hub.buses.append(self)
        self._handlers: dict[str, list[Handler]] = {}

    async def start(self) -> None:
        if self not in self._hub.buses:
            self._hub.buses.append(self)

    async def stop(self) -> None:
        self._handlers.clear()
        if self in self._hub.buses:
            self._hub.buses.remove(self)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers.setdefault(topic, []).append(handler)

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Never called: an in-process bus has no server to lose."""

    async def publish(self, topic: str, payload: bytes) -> int:
        loop = asyncio.get_running_loop()
        receivers = 0
        for bus in self._hub.buses:
            handlers = bus._handlers.get(topic, ())
            receivers += bool(handlers)
            for handler in handlers:
                loop.call_soon(_deliver, handler, topic, payload)
        return receivers


def _deliver(handler: Handler, topic: str, payload: bytes) -> None:
    try:
        handler(payload)
    except Exception:
        log.exception("a subscriber of %s failed", topic)
