"""Many nodes in one process: two real nodes share an in-process bus and
node directory (as gateway processes share Redis), chargers are simulators.

Station presence across nodes, a station moving between nodes, commands
over the bus, draining. The same with Redis and separate processes is in
test_multi_node.py.
"""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from csms.bootstrap import InProcessCluster, Node
from csms.commands.model import ClearCache, Command, Reset
from csms.commands.outcomes import Answered, NotConnected, Outcome, TimedOut
from csms.commands.remote_nodes import BusRemoteNodes
from csms.gateway.draining import batches
from csms.messaging.in_process import InProcessHub
from csms.messaging.redis_directory import RedisNodeDirectory, station_key
from csms.storage.stations import PiccoloStationAdmin
from simulators.ocpp16 import ChargePoint16, connect16
from tests.e2e.conftest import StartNode, ocpp_url
from tests.e2e.test_cli import csms

REDIS_URL = os.environ.get("CSMS_REDIS_URL", "")
REDIS_PREFIX = os.environ["CSMS_REDIS_PREFIX"]
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="CSMS_REDIS_URL is not set")


async def _two_nodes(start_node: StartNode) -> tuple[Node, Node]:
    cluster = InProcessCluster()
    first = await start_node(node_name="node-a", cluster=cluster)
    second = await start_node(node_name="node-b", cluster=cluster)
    return first, second


async def _eventually(check, seconds: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    """Polls ``check`` (a coroutine function returning bool) until true."""
    for _ in range(int(seconds / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    assert await check()


async def _closed(cp: ChargePoint16) -> tuple[int | None, str | None]:
    await asyncio.wait_for(cp.wait_connection_lost(), 10)
    return cp.websocket.close_code, cp.websocket.close_reason


async def test_a_station_is_located_on_the_node_that_holds_it(start_node: StartNode) -> None:
    """Another node finds a connected station on the node holding its socket,
    and nowhere once it disconnects."""
    first, second = await _two_nodes(start_node)
    await PiccoloStationAdmin().add("CP-WHERE")
    async with connect16(ocpp_url(first), "CP-WHERE") as cp:
        await cp.boot()
        await first.presence.flush()  # type: ignore[union-attr]
        assert await second.node_directory.locate("CP-WHERE") == "node-a"
    await _eventually(lambda: _located(second, "CP-WHERE", None))


async def _located(node: Node, charge_point_id: str, expected: str | None) -> bool:
    return await node.node_directory.locate(charge_point_id) == expected


async def test_a_station_connecting_to_another_node_is_dropped_by_the_first(
    start_node: StartNode,
) -> None:
    """A station that connects to node B while node A still holds its socket:
    A closes its socket with 1000 naming B, and the station stays online,
    recorded on B."""
    first, second = await _two_nodes(start_node)
    await PiccoloStationAdmin().add("CP-MOVE")
    async with connect16(ocpp_url(first), "CP-MOVE") as old:
        await old.boot()
        await first.presence.flush()  # type: ignore[union-attr]
        async with connect16(ocpp_url(second), "CP-MOVE") as new:
            assert await _closed(old) == (1000, "replaced by a connection on node node-b")
            await new.heartbeat()
            assert await second.node_directory.locate("CP-MOVE") == "node-b"
            await asyncio.sleep(0.3)  # presence writes are not awaited
            assert (await PiccoloStationAdmin().get("CP-MOVE")).connected is True
            events = await PiccoloStationAdmin().events("CP-MOVE")
            assert [(e.kind, e.data.get("node")) for e in reversed(events)] == [
                ("connected", "node-a"),
                ("boot", None),
                ("connected", "node-b"),
            ]
            assert first.gateway.registry.get("CP-MOVE") is None


async def test_a_refresh_drops_a_station_another_node_recorded(start_node: StartNode) -> None:
    """If the claim message was lost, the next refresh finds the station
    recorded for another node and closes this node's socket."""
    cluster = InProcessCluster()
    node = await start_node(node_name="node-a", cluster=cluster)
    await PiccoloStationAdmin().add("CP-LOST-CLAIM")
    async with connect16(ocpp_url(node), "CP-LOST-CLAIM") as cp:
        await cp.boot()
        await node.presence.flush()  # type: ignore[union-attr]
        await node.presence.refresh()  # type: ignore[union-attr]
        assert not cp.connection_lost
        cluster.table["CP-LOST-CLAIM"] = "node-z"
        await node.presence.refresh()  # type: ignore[union-attr]
        assert await _closed(cp) == (1000, "replaced by a connection on node node-z")


async def test_a_restarted_node_forgets_the_entries_of_its_last_run(
    start_node: StartNode,
) -> None:
    """Entries naming a node that was killed are deleted when a node of that
    name starts again; other nodes' entries stay."""
    cluster = InProcessCluster()
    cluster.table.update({"CP-STALE": "node-a", "CP-ELSEWHERE": "node-b"})
    await start_node(node_name="node-a", cluster=cluster)
    assert cluster.table == {"CP-ELSEWHERE": "node-b"}


async def test_a_command_sent_through_one_node_runs_on_the_node_holding_the_station(
    start_node: StartNode,
) -> None:
    """Node B's command service finds the station on node A and the
    charger's answer comes back through the bus."""
    first, second = await _two_nodes(start_node)
    await PiccoloStationAdmin().add("CP-ACROSS")
    async with connect16(ocpp_url(first), "CP-ACROSS") as cp:
        await cp.boot()
        await first.presence.flush()  # type: ignore[union-attr]
        assert not second.commands.local.holds("CP-ACROSS")
        outcome = await second.commands.send("CP-ACROSS", Reset(kind="soft"))
        assert outcome == Answered("Accepted", {})
        assert cp.resets == ["Soft"]


class _FakeStations:
    """LocalStations answering from a table, or never (to time out)."""

    def __init__(self, held: dict[str, Outcome], *, hang: bool = False) -> None:
        self.held = held
        self.hang = hang
        self.ran: list[tuple[str, Command, float]] = []

    def holds(self, charge_point_id: str) -> bool:
        return charge_point_id in self.held

    async def execute(self, charge_point_id: str, command: Command, timeout: float) -> Outcome:
        self.ran.append((charge_point_id, command, timeout))
        if self.hang:
            await asyncio.Event().wait()
        return self.held[charge_point_id]


async def _remote_pair(
    local: _FakeStations, *, margin: float = 5.0
) -> tuple[BusRemoteNodes, BusRemoteNodes]:
    hub = InProcessHub()
    caller = BusRemoteNodes(hub.bus(), "caller", margin=margin)
    holder = BusRemoteNodes(hub.bus(), "holder", local)
    for side in (caller, holder):
        side.subscribe()
    return caller, holder


async def test_a_command_runs_on_the_node_that_holds_the_station() -> None:
    """The holder runs the command with its own stations (command and
    timeout as sent) and the caller gets its outcome."""
    answer = Answered("Accepted", {"note": "x"})
    local = _FakeStations({"CP-R": answer})
    caller, _ = await _remote_pair(local)
    outcome = await caller.execute_on("holder", "CP-R", Reset(kind="hard"), 7.0)
    assert outcome == answer
    assert local.ran == [("CP-R", Reset(kind="hard"), 7.0)]


async def test_a_node_that_no_longer_holds_the_station_answers_not_connected() -> None:
    """A stale directory entry: the named node has no socket of the station."""
    caller, _ = await _remote_pair(_FakeStations({}))
    assert await caller.execute_on("holder", "CP-GONE", ClearCache(), 5.0) == NotConnected()


async def test_a_command_for_a_node_that_is_gone_is_not_connected() -> None:
    """Nobody listens on a dead node's topic: NotConnected at once."""
    caller, _ = await _remote_pair(_FakeStations({}))
    assert await caller.execute_on("node-dead", "CP-1", ClearCache(), 5.0) == NotConnected()


async def test_a_node_that_never_answers_times_out() -> None:
    """The caller's wait ends after the command's timeout plus the margin."""
    local = _FakeStations({"CP-SLOW": Answered()}, hang=True)
    caller, holder = await _remote_pair(local, margin=0.1)
    try:
        outcome = await caller.execute_on("holder", "CP-SLOW", ClearCache(), 0.1)
    finally:
        await holder.stop()
    assert outcome == TimedOut(0.1)


def test_drain_batches_spread_every_socket() -> None:
    """Every socket is closed once; batches are even and at most one per
    quarter second of the drain time."""
    assert batches(0, 10) == []
    assert batches(10, 0) == [10]
    assert batches(3, 10) == [1, 1, 1]
    assert batches(1000, 10) == [25] * 40
    assert sum(batches(1001, 10)) == 1001 and len(batches(1001, 10)) == 40


async def test_a_draining_node_refuses_stations_and_closes_its_sockets_with_1012(
    start_node: StartNode,
) -> None:
    """While draining, /healthz on the OCPP port answers 503 draining and a
    handshake 503; every held charger is closed with 1012 and marked offline."""
    node = await start_node(node_name="node-drain")
    admin = PiccoloStationAdmin()
    for name in ("CP-D1", "CP-D2", "CP-D3"):
        await admin.add(name)
    async with (
        connect16(ocpp_url(node), "CP-D1") as one,
        connect16(ocpp_url(node), "CP-D2") as two,
    ):
        await one.boot()
        await two.boot()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{node.ocpp_port}") as client:
            assert (await client.get("/healthz")).status_code == 200
            await node.drain(0.5)
            healthz = await client.get("/healthz")
        assert (healthz.status_code, healthz.text) == (503, "draining\n")
        assert await _closed(one) == (1012, "service restart")
        assert await _closed(two) == (1012, "service restart")
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"{ocpp_url(node)}/CP-D3", subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
                pass
        assert refused.value.response.status_code == 503
    await asyncio.sleep(0.3)  # presence writes are not awaited
    assert (await admin.get("CP-D1")).connected is False
    assert node.metrics.drained_connections._value.get() == 2


@needs_redis
async def test_the_redis_directory_records_renews_and_deletes_only_its_own() -> None:
    """Entries carry an expiry; a refresh renews this node's entries and
    reports (without touching) those another node took; a disconnect deletes
    an entry only if it still names this node."""
    one = RedisNodeDirectory(REDIS_URL, "node-one", prefix=REDIS_PREFIX, entry_seconds=90)
    two = RedisNodeDirectory(REDIS_URL, "node-two", prefix=REDIS_PREFIX, entry_seconds=90)
    await one.start()
    await two.start()
    try:
        await one.redis.delete(
            station_key("CP-R1", REDIS_PREFIX), station_key("CP-R2", REDIS_PREFIX)
        )
        await one.record([("CP-R1", True), ("CP-R2", True)])
        assert await two.locate("CP-R1") == "node-one"
        assert 0 < await one.redis.ttl(station_key("CP-R1", REDIS_PREFIX)) <= 90
        await two.record([("CP-R2", True)])
        await one.redis.expire(station_key("CP-R1", REDIS_PREFIX), 5)
        assert await one.refresh(["CP-R1", "CP-R2"]) == {"CP-R2": "node-two"}
        assert await one.redis.ttl(station_key("CP-R1", REDIS_PREFIX)) > 5
        await one.record([("CP-R2", False)])
        assert await one.locate("CP-R2") == "node-two"
        await one.record([("CP-R1", False)])
        assert await two.locate("CP-R1") is None
        await one.redis.delete(station_key("CP-R1", REDIS_PREFIX))
        assert await one.refresh(["CP-R1"]) == {}
        assert await two.locate("CP-R1") == "node-one"
        assert await one.forget_node() >= 1
        assert await two.locate("CP-R1") is None
        assert await two.locate("CP-R2") == "node-two"
    finally:
        await one.redis.delete(
            station_key("CP-R1", REDIS_PREFIX), station_key("CP-R2", REDIS_PREFIX)
        )
        await one.stop()
        await two.stop()


def test_csms_node_needs_redis() -> None:
    """Without CSMS_REDIS_URL there is no other node to reach: exit 1."""
    result = csms("node", "drain", "node-a", env={"CSMS_REDIS_URL": ""})
    assert result.returncode == 1
    assert "CSMS_REDIS_URL" in result.stderr


@needs_redis
def test_draining_a_node_nobody_runs_says_so() -> None:
    """A drain request nobody listens to is an error, not a silent no-op."""
    result = csms("node", "drain", "node-nobody", env={"CSMS_REDIS_URL": REDIS_URL})
    assert result.returncode == 1
    assert "no running gateway is named node-nobody" in result.stderr
