"""Issue 14, item 10: after a Redis restart the node directory was empty for
about 35 s (until the next periodic refresh). A node records its stations
again as soon as its bus is back on the restarted Redis.

Runs against a redis-server of its own on a free port (killed with -9 and
started again on that port); skipped where redis-server is not installed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from csms.bootstrap import Node
from csms.domain.node_directory import REFRESH_SECONDS
from csms.messaging.redis_directory import station_key
from csms.storage.stations import PiccoloStationAdmin
from simulators.ocpp16 import connect16
from tests.e2e.conftest import StartNode, ocpp_url

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="needs redis-server (an own one is started)"
)


class OwnRedis:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[OwnRedis]:
    redis = OwnRedis(tmp_path)
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()


async def _holder(client: Redis, charge_point_id: str, within: float) -> bytes | None:
    deadline = time.monotonic() + within
    while True:
        holder: bytes | None = await client.get(
            station_key(charge_point_id, os.environ["CSMS_REDIS_PREFIX"])
        )
        if holder is not None or time.monotonic() > deadline:
            return holder
        await asyncio.sleep(0.05)


async def test_a_restarted_redis_gets_the_nodes_stations_again_at_once(
    start_node: StartNode, own_redis: OwnRedis
) -> None:
    """A station held by a node is in the directory again within a few
    seconds of Redis coming back empty (kill -9, restart), not after the
    periodic refresh (REFRESH_SECONDS)."""
    node: Node = await start_node(redis_url=own_redis.url, node_name="node-r")
    await PiccoloStationAdmin().add("CP-REDIS")
    client = Redis.from_url(own_redis.url)
    try:
        async with connect16(ocpp_url(node), "CP-REDIS") as cp:
            await cp.boot(vendor="Acme", model="M")
            assert await _holder(client, "CP-REDIS", 5) == b"node-r"
            own_redis.kill()
            await asyncio.sleep(0.5)
            own_redis.start()
            started = time.monotonic()
            holder = await _holder(client, "CP-REDIS", 8)
            elapsed = time.monotonic() - started
            assert holder == b"node-r", (
                f"not recorded again within 8 s ({REFRESH_SECONDS} s refresh)"
            )
            assert elapsed < REFRESH_SECONDS / 3
            # The station's own calls are still served.
            await cp.heartbeat()
    finally:
        await client.aclose()
