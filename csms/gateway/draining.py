"""Draining a gateway for a deploy: its chargers move to other nodes.

The gateway stops accepting (handshakes get 503, ``/healthz`` on the OCPP
port answers 503 ``draining`` so a load balancer takes the node out), then
closes its chargers' sockets with 1012 (service restart) in batches spread
over the drain time, so that thousands of chargers do not reconnect to the
other nodes at once. Each closed station is marked offline and its
directory entry deleted, as at any disconnect, until it connects elsewhere.

Triggers (``csms.cli``): ``csms node drain NAME`` publishes a
:class:`DrainRequest` on the node's drain topic; SIGTERM drains first when
``CSMS_DRAIN_SECONDS`` is above 0. The process exits once drained.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

import msgspec

from csms.gateway.server import Gateway
from csms.metrics import Metrics

log = logging.getLogger(__name__)

CLOSE_SERVICE_RESTART = 1012
# Seconds between two batches of closes.
BATCH_INTERVAL = 0.25
# A drain asked for without a time, when the node has no CSMS_DRAIN_SECONDS.
DEFAULT_DRAIN_SECONDS = 30.0


def drain_topic(node: str) -> str:
    return f"node.{node}.drain"


class DrainRequest(msgspec.Struct, frozen=True):
    """Drain the node over ``seconds`` (None: its own setting)."""

    seconds: float | None = None


encode_request = msgspec.json.Encoder().encode
decode_request = msgspec.json.Decoder(DrainRequest).decode


def batches(count: int, seconds: float, interval: float = BATCH_INTERVAL) -> list[int]:
    """Sizes of the batches that close ``count`` sockets evenly, one batch
    every ``interval`` seconds within ``seconds`` (at least one batch)."""
    if count <= 0:
        return []
    rounds = max(1, min(count, math.floor(seconds / interval)))
    size, extra = divmod(count, rounds)
    return [size + (1 if i < extra else 0) for i in range(rounds)]


class Drainer:
    def __init__(self, gateway: Gateway, metrics: Metrics, node: str) -> None:
        self._gateway = gateway
        self._metrics = metrics
        self._node = node
        self._drain: asyncio.Task[None] | None = None

    @property
    def draining(self) -> bool:
        return self._drain is not None

    async def drain(self, seconds: float) -> None:
        """Stops accepting and closes every socket over ``seconds``; a
        second call waits for the first drain."""
        if self._drain is None:
            self._drain = asyncio.create_task(self._run(seconds), name="drain")
        await asyncio.shield(self._drain)

    async def stop(self) -> None:
        """Gives up a drain under way (the node stops at once)."""
        if self._drain is not None and not self._drain.done():
            self._drain.cancel()
            await asyncio.gather(self._drain, return_exceptions=True)

    async def _run(self, seconds: float) -> None:
        gateway = self._gateway
        gateway.accepting = False
        self._metrics.draining.set(1)
        entries = list(gateway.registry)
        sizes = batches(len(entries), seconds)
        log.info(
            "node %s draining: refusing new connections, closing %d station socket(s) "
            "in %d batch(es) over %.0f s",
            self._node,
            len(entries),
            len(sizes),
            seconds,
        )
        started = time.monotonic()
        # Evenly spaced over the drain time, however long a batch took.
        spacing = seconds / len(sizes) if sizes else 0.0
        closing: list[asyncio.Task[None]] = []
        position = 0
        for round_number, size in enumerate(sizes):
            # The first batch after one step: a load balancer polling
            # /healthz has that long to take this node out first.
            due = started + (round_number + 1) * spacing
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            for entry in entries[position : position + size]:
                if gateway.registry.get(entry.charge_point_id) is entry:
                    closing.append(
                        asyncio.create_task(
                            entry.socket.close(CLOSE_SERVICE_RESTART, "service restart")
                        )
                    )
                    self._metrics.drained_connections.inc()
            position += size
        # A close waits for the charger's close frame (bounded by the
        # socket's close timeout).
        results = await asyncio.gather(*closing, return_exceptions=True)
        failed = [r for r in results if isinstance(r, Exception)]
        if failed:
            log.warning("draining: %d socket(s) failed to close: %s", len(failed), failed[0])
        log.info(
            "node %s drained: %d socket(s) closed in %.1f s; %d left",
            self._node,
            len(closing),
            time.monotonic() - started,
            len(gateway.registry),
        )
