"""Failed-login counts in Redis, shared by every node (see crm.login_limits).

Redis being down does not stop logins: the counts are then skipped (logged
at most once a minute), and argon2 alone slows guessing.
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# How often a Redis failure is logged at most (seconds).
_LOG_EVERY = 60.0


class RedisAttempts:
    def __init__(self, url: str, prefix: str = "csms:login:") -> None:
        self.url = url
        self.prefix = prefix
        self._redis: Redis | None = None
        self._logged_at = -_LOG_EVERY

    def _client(self) -> Redis:
        if self._redis is None:
            self._redis = Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)
        return self._redis

    def _unavailable(self, error: RedisError) -> None:
        now = time.monotonic()
        if now - self._logged_at >= _LOG_EVERY:
            self._logged_at = now
            logger.warning("login limits skipped, Redis unavailable: %s", type(error).__name__)

    async def failures(self, key: str) -> tuple[int, int]:
        try:
            async with self._client().pipeline(transaction=False) as pipe:
                pipe.get(self.prefix + key)
                pipe.ttl(self.prefix + key)
                raw, ttl = await pipe.execute()
        except RedisError as error:
            self._unavailable(error)
            return 0, 0
        if raw is None:
            return 0, 0
        return int(raw), max(1, int(ttl))

    async def fail(self, key: str, window_seconds: int) -> None:
        try:
            async with self._client().pipeline(transaction=True) as pipe:
                pipe.set(self.prefix + key, 0, ex=window_seconds, nx=True)
                pipe.incr(self.prefix + key)
                await pipe.execute()
        except RedisError as error:
            self._unavailable(error)

    async def forget(self, key: str) -> None:
        try:
            await self._client().delete(self.prefix + key)
        except RedisError as error:
            self._unavailable(error)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
