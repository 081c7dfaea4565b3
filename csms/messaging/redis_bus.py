"""The bus over Redis pub/sub, for several processes on one installation.

One connection publishes; one pub/sub connection, read by one task, receives
every subscribed topic. When Redis goes away the reader reconnects with a
growing pause and subscribes again; what was published meanwhile is lost,
which is why every message on this bus is a hint (drop a cache entry) that
a time limit backs up, never the only copy of anything. Once subscribed
again it calls the ``on_reconnect`` callbacks (a restarted Redis lost the
node directory: the node presence records its stations again at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from csms.domain.bus import Handler

log = logging.getLogger(__name__)

MAX_RECONNECT_PAUSE = 10.0


class RedisBus:
    def __init__(self, url: str, *, prefix: str = "csms:") -> None:
        self.url = url
        # Channels are ``{prefix}{topic}`` (CSMS_REDIS_PREFIX).
        self.prefix = prefix
        self._handlers: dict[str, list[Handler]] = {}
        self._redis: Redis | None = None
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._reconnected: list[Callable[[], None]] = []

    async def start(self) -> None:
        self._redis = Redis.from_url(self.url)
        await self._redis.ping()
        self._reader = asyncio.create_task(self._read(), name="redis-bus")
        self._reader.add_done_callback(_log_end)
        # Messages published after start() returns reach this process.
        await self._subscribed.wait()

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    def subscribe(self, topic: str, handler: Handler) -> None:
        if self._reader is not None:
            raise RuntimeError("subscribe before the bus starts")
        self._handlers.setdefault(topic, []).append(handler)

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        self._reconnected.append(callback)

    async def publish(self, topic: str, payload: bytes) -> int:
        assert self._redis is not None, "the bus is not started"
        # Redis answers how many pub/sub connections (one per bus) got it.
        return int(await self._redis.publish(self.prefix + topic, payload))

    async def _read(self) -> None:
        pause = 0.5
        lost = False
        while True:
            assert self._redis is not None
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                prefix = self.prefix
                channels = [prefix + topic for topic in self._handlers] or [prefix + "-"]
                await pubsub.subscribe(*channels)
                self._subscribed.set()
                pause = 0.5
                if lost:
                    lost = False
                    log.info("Redis bus: reconnected")
                    self._back()
                async for message in pubsub.listen():
                    topic = message["channel"].decode()[len(prefix) :]
                    for handler in self._handlers.get(topic, ()):
                        try:
                            handler(message["data"])
                        except Exception:
                            log.exception("a subscriber of %s failed", topic)
            except (RedisError, OSError) as error:
                lost = True
                log.warning("Redis bus: %s; reconnecting in %.1f s", error, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_RECONNECT_PAUSE)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _back(self) -> None:
        for callback in self._reconnected:
            try:
                callback()
            except Exception:
                log.exception("a reconnect callback of the Redis bus failed")


def _log_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the Redis bus reader stopped", exc_info=task.exception())
