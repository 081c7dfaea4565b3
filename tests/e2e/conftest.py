"""A real node (gateway and web app) on free ports, driven from the outside."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from csms.bootstrap import Node
from csms.domain.writes import WriteGroup
from csms.settings import Settings

StartNode = Callable[..., Awaitable[Node]]


@pytest.fixture
async def start_node(db: None) -> AsyncIterator[StartNode]:
    nodes: list[Node] = []

    async def start(**overrides: Any) -> Node:
        local: dict[str, Any] = {
            "ocpp_host": "127.0.0.1",
            "ocpp_port": 0,
            "http_host": "127.0.0.1",
            "http_port": 0,
        }
        # cluster: an InProcessCluster shared by several nodes of the test.
        cluster = overrides.pop("cluster", None)
        settings = dataclasses.replace(Settings.from_env(), **{**local, **overrides})
        node = Node(settings, cluster=cluster)
        await node.start()
        nodes.append(node)
        return node

    yield start
    for node in reversed(nodes):
        await node.stop()


@pytest.fixture
async def node(start_node: StartNode) -> Node:
    return await start_node()


def ocpp_url(node: Node) -> str:
    return f"ws://127.0.0.1:{node.ocpp_port}/ocpp"


async def fill_write_slots(node: Node, entered: asyncio.Event) -> None:
    """Sends one empty write batch into each of the committer's slots
    (CSMS_WRITE_BATCHES_IN_FLIGHT on PostgreSQL), waiting for the sink's
    ``apply`` to set ``entered`` for each: with a sink that holds its
    batches, whatever comes next stays queued. One at a time, since groups
    queued together would share a batch."""
    for _ in range(node.writer._in_flight):
        entered.clear()
        node.writer.submit_nowait(WriteGroup(()))
        await asyncio.wait_for(entered.wait(), 5)
