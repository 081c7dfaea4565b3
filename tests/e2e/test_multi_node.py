"""Several gateway processes on one PostgreSQL database and one Redis, as an
installation runs them behind a load balancer.

Each node is a real ``python -m csms serve`` process with its own
CSMS_NODE_NAME and ports; the charger is the 1.6 simulator, given the URL
of whichever node a load balancer would pick. Runs only with
CSMS_REDIS_URL set and a PostgreSQL CSMS_DATABASE_URL (CI's PostgreSQL and
Redis pass); the same behaviours in one process are in test_many_nodes.py.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from csms.messaging.redis_directory import RedisNodeDirectory
from simulators.ocpp16 import ChargePoint16, connect16
from tests.media_helpers import allow
from tests.world import admin_token, bearer, make_entity

REDIS_URL = os.environ.get("CSMS_REDIS_URL", "")
REDIS_PREFIX = os.environ["CSMS_REDIS_PREFIX"]
pytestmark = pytest.mark.skipif(
    not REDIS_URL or not os.environ.get("CSMS_DATABASE_URL", "").startswith("postgres"),
    reason="needs CSMS_REDIS_URL and a PostgreSQL CSMS_DATABASE_URL",
)

STATION = "CP-MULTI"
CARD = "CARD-MULTI"


@dataclass
class GatewayProcess:
    """``python -m csms serve`` as node ``name`` on free ports."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    process: Any = None
    ocpp_url: str = ""
    http_url: str = ""
    log_path: str = ""

    async def start(self) -> GatewayProcess:
        log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept for the failure message
            prefix=f"csms-{self.name}-", suffix=".log", delete=False
        )
        self.log_path = log.name
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "csms",
            "serve",
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            env={
                **os.environ,
                "CSMS_NODE_NAME": self.name,
                "CSMS_OCPP_HOST": "127.0.0.1",
                "CSMS_OCPP_PORT": "0",
                "CSMS_HTTP_PORT": "0",
                "CSMS_REDIS_URL": REDIS_URL,
                **self.env,
            },
        )
        log.close()
        lines = [await self._line() for _ in range(2)]
        ocpp = re.search(r"(ws://\S+)/ocpp/", lines[0])
        http = re.search(r"(http://\S+)/healthz", lines[1])
        assert ocpp and http, (lines, self.log())
        self.ocpp_url, self.http_url = ocpp.group(1) + "/ocpp", http.group(1)
        return self

    async def _line(self) -> str:
        line = (await asyncio.wait_for(self.process.stdout.readline(), 60)).decode()
        assert line, f"node {self.name} exited early:\n{self.log()}"
        return line

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as file:
            return file.read()[-5000:]

    async def wait(self) -> int:
        await asyncio.wait_for(self.process.stdout.read(), 60)
        return int(await asyncio.wait_for(self.process.wait(), 60))

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            await self.wait()
        if os.environ.get("CSMS_KEEP_NODE_LOGS"):
            print(f"log of {self.name}: {self.log_path}")
        else:
            os.unlink(self.log_path)


@pytest.fixture
async def gateways(db: None) -> AsyncIterator[Callable[..., Awaitable[GatewayProcess]]]:
    started: list[GatewayProcess] = []

    async def start(name: str, **env: str) -> GatewayProcess:
        node = await GatewayProcess(name, env).start()
        started.append(node)
        return node

    yield start
    for node in started:
        await node.stop()


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float = 15.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    assert await check()


async def _has(items: Awaitable[list[Any]]) -> bool:
    return bool(await items)


async def _holder() -> str | None:
    directory = RedisNodeDirectory(REDIS_URL, "test", prefix=REDIS_PREFIX)
    await directory.start()
    try:
        return await directory.locate(STATION)
    finally:
        await directory.stop()


async def _held_by(node: str) -> bool:
    return await _holder() == node


async def _closed(cp: ChargePoint16) -> tuple[int | None, str | None]:
    await asyncio.wait_for(cp.wait_connection_lost(), 30)
    return cp.websocket.close_code, cp.websocket.close_reason


class Api:
    def __init__(self, token: str) -> None:
        self.headers = bearer(token)

    async def station(self, node: GatewayProcess) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=node.http_url, headers=self.headers) as client:
            found = await client.get("/api/v1/stations", params={"q": STATION})
            assert found.status_code == 200, found.text
            [station] = found.json()["items"]
            return dict(station)

    async def sessions(self, node: GatewayProcess) -> list[dict[str, Any]]:
        """The station's sessions, as ``node`` lists them."""
        station = await self.station(node)
        async with httpx.AsyncClient(base_url=node.http_url, headers=self.headers) as client:
            found = await client.get("/api/v1/sessions", params={"station_id": station["id"]})
            assert found.status_code == 200, found.text
            return list(found.json()["items"])

    async def command(
        self, node: GatewayProcess, name: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        station = await self.station(node)
        async with httpx.AsyncClient(
            base_url=node.http_url, headers=self.headers, timeout=60
        ) as client:
            answer = await client.post(
                f"/api/v1/stations/{station['id']}/commands/{name}", json=body
            )
        return answer.status_code, answer.json()


async def _api() -> Api:
    entity = await make_entity("Operator")
    await allow(CARD, issuer=entity)
    from csms.storage.stations import PiccoloStationAdmin

    await PiccoloStationAdmin().add(STATION)
    return Api(await admin_token(entity))


async def test_a_command_through_another_node_reaches_the_station_and_follows_it(
    gateways: Callable[..., Awaitable[GatewayProcess]],
) -> None:
    """A remote start sent through node 2's API reaches the station on
    node 1, and the session it starts shows through both nodes' APIs (the
    same session, active; completed on both after a remote stop through
    node 2); after node 1 is killed the station reconnects to node 2, and
    commands through node 2 and through node 1's replacement reach it
    there."""
    api = await _api()
    one, two = await gateways("node-1"), await gateways("node-2")
    async with AsyncExitStack() as stack:
        cp = await stack.enter_async_context(connect16(one.ocpp_url, STATION))
        await cp.boot()
        await cp.status(1, "Available")
        await _eventually(lambda: _held_by("node-1"))

        status, answer = await api.command(two, "remote-start", {"id_tag": CARD, "connector_id": 1})
        assert (status, answer["result"], answer["status"]) == (200, "answered", "Accepted")

        async def charging_on(node: GatewayProcess) -> bool:
            station = await api.station(node)
            return [c["status"] for c in station["connectors"]] == ["Charging"]

        await _eventually(lambda: charging_on(one))
        await _eventually(lambda: charging_on(two))

        async def sessions_on(node: GatewayProcess, status: str) -> list[tuple[int, str]]:
            return [
                (s["id"], s["id_tag"]) for s in await api.sessions(node) if s["status"] == status
            ]

        await _eventually(lambda: _has(sessions_on(one, "active")))
        [(session_id, id_tag)] = await sessions_on(one, "active")
        assert id_tag == CARD
        assert await sessions_on(two, "active") == [(session_id, CARD)]

        status, answer = await api.command(two, "remote-stop", {"session_id": session_id})
        assert (status, answer["result"], answer["status"]) == (200, "answered", "Accepted")

        async def completed_on(node: GatewayProcess) -> bool:
            return await sessions_on(node, "completed") == [(session_id, CARD)]

        await _eventually(lambda: completed_on(one))
        await _eventually(lambda: completed_on(two))
        assert await sessions_on(one, "active") == await sessions_on(two, "active") == []

        one.process.kill()
        assert await one.wait() == -signal.SIGKILL
        await asyncio.wait_for(cp.wait_connection_lost(), 30)

        # The load balancer sends the charger to the node that is left.
        again = await stack.enter_async_context(connect16(two.ocpp_url, STATION))
        await again.boot()
        await _eventually(lambda: _held_by("node-2"))
        status, answer = await api.command(two, "trigger-message", {"message": "Heartbeat"})
        assert (status, answer["result"], answer["status"]) == (200, "answered", "Accepted")

        replacement = await gateways("node-1")
        status, answer = await api.command(
            replacement, "trigger-message", {"message": "StatusNotification", "connector_id": 1}
        )
        assert (status, answer["result"], answer["status"]) == (200, "answered", "Accepted")


async def test_a_station_that_connects_to_another_node_is_dropped_by_the_first(
    gateways: Callable[..., Awaitable[GatewayProcess]],
) -> None:
    """While node 1 is alive, a new connection of the station to node 2 makes
    node 1 close its socket (1000, naming node 2); commands through node 1
    then reach the station on node 2, which stays online."""
    api = await _api()
    one, two = await gateways("node-1"), await gateways("node-2")
    async with AsyncExitStack() as stack:
        old = await stack.enter_async_context(connect16(one.ocpp_url, STATION))
        await old.boot()
        await _eventually(lambda: _held_by("node-1"))
        new = await stack.enter_async_context(connect16(two.ocpp_url, STATION))
        assert await _closed(old) == (1000, "replaced by a connection on node node-2")
        await new.boot()
        assert await _held_by("node-2")
        status, answer = await api.command(one, "clear-cache", {})
        assert (status, answer["result"], answer["status"]) == (200, "answered", "Accepted")
        assert (await api.station(one))["connected"] is True


async def test_draining_a_node_moves_its_chargers_and_stops_it(
    gateways: Callable[..., Awaitable[GatewayProcess]],
) -> None:
    """`csms node drain` closes the node's chargers with 1012 and the
    process exits; the charger reconnects to the other node, where commands
    reach it. SIGTERM drains the same way with CSMS_DRAIN_SECONDS set."""
    api = await _api()
    one = await gateways("node-1")
    two = await gateways("node-2", CSMS_DRAIN_SECONDS="1")
    async with AsyncExitStack() as stack:
        cp = await stack.enter_async_context(connect16(one.ocpp_url, STATION))
        await cp.boot()
        drain = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "csms",
            "node",
            "drain",
            "node-1",
            "--seconds",
            "1",
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "CSMS_REDIS_URL": REDIS_URL},
        )
        output, _ = await asyncio.wait_for(drain.communicate(), 60)
        assert drain.returncode == 0, output
        assert b"node-1 is draining" in output
        assert await _closed(cp) == (1012, "service restart")
        assert await one.wait() == 0

        moved = await stack.enter_async_context(connect16(two.ocpp_url, STATION))
        await moved.boot()
        await _eventually(lambda: _held_by("node-2"))
        status, answer = await api.command(two, "clear-cache", {})
        assert (status, answer["result"]) == (200, "answered")

        two.process.send_signal(signal.SIGTERM)
        assert await _closed(moved) == (1012, "service restart")
        assert await two.wait() == 0
        assert await _holder() is None
