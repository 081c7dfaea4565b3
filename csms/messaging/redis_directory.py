"""The node directory in Redis (:class:`csms.domain.node_directory.NodeDirectory`).

``{prefix}station:{charge_point_id}`` (the prefix is CSMS_REDIS_PREFIX,
``csms:`` by default) holds the name of the node that holds the
station's socket, with an expiry (``ENTRY_SECONDS``) that the node renews
while the station stays connected. Connects and disconnects go in one
pipelined round trip per batch; a disconnect deletes the entry only if it
still names this node (a Lua compare-and-delete), so a station that moved to
another node stays recorded there.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from csms.domain.node_directory import ENTRY_SECONDS

# Deletes KEYS[1] if it holds ARGV[1].
_COMPARE_AND_DELETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

# Renews KEYS[1] for ARGV[1] (ARGV[2] seconds) if it names ARGV[1] or has
# expired; else returns the node it names.
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
    return false
end
return holder
"""


def station_key(charge_point_id: str, prefix: str = "csms:") -> str:
    return f"{prefix}station:{charge_point_id}"


class RedisNodeDirectory:
    def __init__(
        self, url: str, node: str, *, prefix: str = "csms:", entry_seconds: int = ENTRY_SECONDS
    ) -> None:
        self.url = url
        self.node = node
        self.prefix = prefix
        self.entry_seconds = entry_seconds
        self._redis: Redis | None = None

    async def start(self) -> None:
        self._redis = Redis.from_url(self.url)
        await self._redis.ping()
        self._delete_if_mine = self._redis.register_script(_COMPARE_AND_DELETE)
        self._renew = self._redis.register_script(_RENEW)

    async def stop(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    @property
    def redis(self) -> Redis:
        assert self._redis is not None, "the node directory is not started"
        return self._redis

    async def record(self, changes: Sequence[tuple[str, bool]]) -> None:
        if not changes:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for charge_point_id, held in changes:
                key = station_key(charge_point_id, self.prefix)
                if held:
                    pipe.set(key, self.node, ex=self.entry_seconds)
                else:
                    await self._delete_if_mine(keys=[key], args=[self.node], client=pipe)
            await pipe.execute()

    async def refresh(self, charge_point_ids: Sequence[str]) -> dict[str, str]:
        if not charge_point_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for charge_point_id in charge_point_ids:
                await self._renew(
                    keys=[station_key(charge_point_id, self.prefix)],
                    args=[self.node, self.entry_seconds],
                    client=pipe,
                )
            holders = await pipe.execute()
        return {
            charge_point_id: holder.decode()
            for charge_point_id, holder in zip(charge_point_ids, holders, strict=True)
            if holder is not None
        }

    async def locate(self, charge_point_id: str) -> str | None:
        node = await self.redis.get(station_key(charge_point_id, self.prefix))
        if node is None:
            return None
        return node.decode() if isinstance(node, bytes) else str(node)

    async def forget_node(self) -> int:
        keys = [
            key
            async for key in self.redis.scan_iter(match=station_key("*", self.prefix), count=1000)
        ]
        if not keys:
            return 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                await self._delete_if_mine(keys=[key], args=[self.node], client=pipe)
            deleted = await pipe.execute()
        return sum(int(n) for n in deleted)
