"""The bus of a single process: a message reaches this process's
subscribers, on the next pass of the event loop (so a publisher never runs
its subscribers inside its own call)."""

from __future__ import annotations

import asyncio
import logging

from csms.domain.bus import Handler

log = logging.getLogger(__name__)


class InProcessBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._handlers.clear()

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers.setdefault(topic, []).append(handler)

    async def publish(self, topic: str, payload: bytes) -> None:
        loop = asyncio.get_running_loop()
        for handler in self._handlers.get(topic, ()):
            loop.call_soon(_deliver, handler, topic, payload)


def _deliver(handler: Handler, topic: str, payload: bytes) -> None:
    try:
        handler(payload)
    except Exception:
        log.exception("a subscriber of %s failed", topic)
