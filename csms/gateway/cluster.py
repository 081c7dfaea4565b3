"""The gateway's part in many nodes: it tells the node directory which
stations it holds, and drops its socket of a station another node took.

:class:`RecordingHandler` wraps the node's :class:`StationHandler`: a
connect is claimed in the directory (and announced on the bus) before the
station is served; the close of the current connection deletes the entry
if it still names this node.
"""

from __future__ import annotations

import logging

from csms.domain.model import StationProfile
from csms.domain.node_directory import NodePresence
from csms.gateway.registry import Connected
from csms.gateway.server import CLOSE_REPLACED, Gateway, StationHandler, WebsocketTransport
from csms.metrics import Metrics

log = logging.getLogger(__name__)


class RecordingHandler:
    def __init__(self, inner: StationHandler, presence: NodePresence) -> None:
        self._inner = inner
        self._presence = presence

    async def serve(
        self, entry: Connected, transport: WebsocketTransport, profile: StationProfile
    ) -> None:
        self._presence.connected(entry.charge_point_id)
        await self._inner.serve(entry, transport, profile)

    def closed(
        self, entry: Connected, profile: StationProfile, *, current: bool, reason: str
    ) -> None:
        self._inner.closed(entry, profile, current=current, reason=reason)
        if current:
            self._presence.disconnected(entry.charge_point_id)


def drop_taken(gateway: Gateway, metrics: Metrics, charge_point_id: str, node: str) -> None:
    """Closes this node's socket of a station that connected to ``node``
    (1000), without marking the station offline."""
    if gateway.drop(charge_point_id, CLOSE_REPLACED, f"replaced by a connection on node {node}"):
        metrics.stations_taken.inc()
