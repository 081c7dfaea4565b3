"""The bus: changes made on one node reach the authorisation caches of the
others (Redis), and of the node itself (in-process)."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest

from crm.media import MediumStatus
from csms.domain.invalidation import TOPIC, BroadcastInvalidation
from csms.domain.model import AuthorizationStatus
from csms.messaging.in_process import InProcessBus
from csms.messaging.redis_bus import RedisBus
from csms.storage.stations import PiccoloStationAdmin
from tests.e2e.conftest import StartNode
from tests.e2e.test_cli import csms
from tests.media_helpers import allow
from tests.world import admin_token, bearer

REDIS_URL = os.environ.get("CSMS_REDIS_URL", "")
# This test run's (tests/conftest.py), so parallel runs do not hear each other.
REDIS_PREFIX = os.environ["CSMS_REDIS_PREFIX"]
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="CSMS_REDIS_URL is not set")


async def test_the_in_process_bus_delivers_to_every_subscriber() -> None:
    """A message reaches each subscriber of its topic, and no other topic's."""
    bus = InProcessBus()
    got: list[tuple[str, bytes]] = []
    bus.subscribe("a", lambda m: got.append(("first", m)))
    bus.subscribe("a", lambda m: got.append(("second", m)))
    bus.subscribe("b", lambda m: got.append(("b", m)))
    await bus.start()
    await bus.publish("a", b"hello")
    await asyncio.sleep(0)
    assert got == [("first", b"hello"), ("second", b"hello")]


@needs_redis
async def test_the_redis_bus_reaches_another_connection() -> None:
    """What one RedisBus publishes, another one's subscriber receives."""
    sender = RedisBus(REDIS_URL, prefix=REDIS_PREFIX)
    receiver = RedisBus(REDIS_URL, prefix=REDIS_PREFIX)
    received: asyncio.Queue[bytes] = asyncio.Queue()
    receiver.subscribe("test-topic", received.put_nowait)
    await receiver.start()
    await sender.start()
    try:
        await sender.publish("test-topic", b"over redis")
        assert await asyncio.wait_for(received.get(), 5) == b"over redis"
    finally:
        await sender.stop()
        await receiver.stop()


@needs_redis
async def test_redis_buses_of_different_prefixes_do_not_hear_each_other() -> None:
    """Two installations on one Redis (CSMS_REDIS_PREFIX): a message on a
    topic reaches the buses of its own prefix only."""
    production = RedisBus(REDIS_URL, prefix=REDIS_PREFIX + "production:")
    staging = RedisBus(REDIS_URL, prefix=REDIS_PREFIX + "staging:")
    heard: dict[str, asyncio.Queue[bytes]] = {
        "production": asyncio.Queue(),
        "staging": asyncio.Queue(),
    }
    production.subscribe("topic", heard["production"].put_nowait)
    staging.subscribe("topic", heard["staging"].put_nowait)
    await production.start()
    await staging.start()
    try:
        assert await staging.publish("topic", b"for staging") == 1
        assert await asyncio.wait_for(heard["staging"].get(), 5) == b"for staging"
        assert await production.publish("topic", b"for production") == 1
        assert await asyncio.wait_for(heard["production"].get(), 5) == b"for production"
        assert heard["staging"].empty() and heard["production"].empty()
    finally:
        await production.stop()
        await staging.stop()


async def _verdict(node, uid: str, station_pk: int) -> AuthorizationStatus:  # type: ignore[no-untyped-def]
    token = await node.authorizer.authorize(uid, station_pk=station_pk, check_concurrency=False)
    return token.status


@needs_redis
async def test_blocking_on_one_node_counts_at_once_on_another(start_node: StartNode) -> None:
    """Two nodes on one database and one Redis: a medium blocked through
    node 1's API is Blocked at node 2's next decision, though node 2 had it
    cached as Accepted."""
    first = await start_node(node_name="node-a", redis_url=REDIS_URL)
    second = await start_node(node_name="node-b", redis_url=REDIS_URL)
    medium = await allow("CARD-ACROSS")
    await PiccoloStationAdmin().add("CP-ACROSS")
    station_pk = (await second.directory.find("CP-ACROSS")).pk  # type: ignore[union-attr]
    assert await _verdict(second, "CARD-ACROSS", station_pk) is AuthorizationStatus.ACCEPTED
    token = await admin_token(medium.issuing_entity_id)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{first.http_port}") as client:
        listed = await client.get(
            "/api/v1/media", params={"q": "CARD-ACROSS"}, headers=bearer(token)
        )
        medium_id = listed.json()["items"][0]["id"]
        blocked = await client.patch(
            f"/api/v1/media/{medium_id}",
            json={"status": MediumStatus.BLOCKED.value},
            headers=bearer(token),
        )
    assert blocked.status_code == 200, blocked.text
    for _ in range(50):
        if await _verdict(second, "CARD-ACROSS", station_pk) is AuthorizationStatus.BLOCKED:
            break
        await asyncio.sleep(0.05)
    assert await _verdict(second, "CARD-ACROSS", station_pk) is AuthorizationStatus.BLOCKED


async def test_a_change_applies_to_this_node_before_it_is_published() -> None:
    """The announcing node's own cache drops the entry at once; the change
    is then published under its origin."""
    bus = InProcessBus()
    heard: list[bytes] = []
    bus.subscribe(TOPIC, heard.append)

    class Cache:
        dropped: list[frozenset[str]] = []

        def media_changed(self, uids: frozenset[str]) -> None:
            self.dropped.append(uids)

    cache = Cache()
    announcer = BroadcastInvalidation(bus, "node-x", cache)  # type: ignore[arg-type]
    announcer.media_changed(frozenset({"U1"}))
    assert cache.dropped == [frozenset({"U1"})]
    await announcer.flush()
    await asyncio.sleep(0)
    assert heard == [b'{"origin":"node-x","media":["U1"]}']


@needs_redis
async def test_a_medium_blocked_with_the_cli_counts_at_once_on_a_running_node(
    start_node: StartNode,
) -> None:
    """The CLI publishes its changes on the bus: a running node that had a
    medium cached as Accepted answers Blocked as soon as `csms medium block`
    returns, without waiting for the cache's entry age."""
    node = await start_node(node_name="node-cli", redis_url=REDIS_URL)
    await allow("CARD-CLI")
    await PiccoloStationAdmin().add("CP-CLI-BUS")
    station_pk = (await node.directory.find("CP-CLI-BUS")).pk  # type: ignore[union-attr]
    assert await _verdict(node, "CARD-CLI", station_pk) is AuthorizationStatus.ACCEPTED
    blocked = await asyncio.to_thread(
        csms, "medium", "block", "CARD-CLI", env={"CSMS_REDIS_URL": REDIS_URL}
    )
    assert blocked.returncode == 0, blocked.stderr
    for _ in range(50):
        if await _verdict(node, "CARD-CLI", station_pk) is AuthorizationStatus.BLOCKED:
            break
        await asyncio.sleep(0.05)
    assert await _verdict(node, "CARD-CLI", station_pk) is AuthorizationStatus.BLOCKED


@needs_redis
async def test_an_access_rule_added_with_the_cli_says_it_counts_now(db: None) -> None:
    """With Redis configured the CLI tells the operator that running nodes
    apply an access-rule change at once; it cannot promise that without."""
    await PiccoloStationAdmin().add("CP-CLI-RULE")
    with_redis = await asyncio.to_thread(
        csms, "access", "deny", "CP-CLI-RULE", "medium", "CARD-X", env={"CSMS_REDIS_URL": REDIS_URL}
    )
    assert with_redis.returncode == 0, with_redis.stderr
    assert "running nodes apply it now" in with_redis.stdout
    without = await asyncio.to_thread(
        csms, "access", "deny", "CP-CLI-RULE", "medium", "CARD-Y", env={"CSMS_REDIS_URL": ""}
    )
    assert without.returncode == 0, without.stderr
    assert "within a minute" in without.stdout
