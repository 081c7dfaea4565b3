"""What the command service needs from the rest of the system.

- :class:`LocalStations`: the stations whose sockets this node holds
  (``csms.protocol.commanding.LocalCommandExecutor``).
- :class:`StationLocator`: which node holds a station's socket (Redis with
  many nodes; :class:`NoOtherNodes` on one).
- :class:`RemoteNodes`: runs a command on another node (over the bus with
  many nodes; :class:`NoOtherNodes` on one).
"""

from __future__ import annotations

from typing import Protocol

from csms.commands.model import Command
from csms.commands.outcomes import NotConnected, Outcome


class LocalStations(Protocol):
    def holds(self, charge_point_id: str) -> bool:
        """True if this node holds a socket of that station now."""
        ...

    async def execute(self, charge_point_id: str, command: Command, timeout: float) -> Outcome:
        """Runs the command on a station this node holds; every result of
        the charger's behaviour is an outcome, never an exception."""
        ...


class StationLocator(Protocol):
    async def locate(self, charge_point_id: str) -> str | None:
        """The name of the node that holds the station's socket, if any."""
        ...


class RemoteNodes(Protocol):
    async def execute_on(
        self, node: str, charge_point_id: str, command: Command, timeout: float
    ) -> Outcome:
        """Runs the command on ``node`` and returns its outcome."""
        ...


class NoOtherNodes:
    """The single-node twin of :class:`StationLocator` and
    :class:`RemoteNodes`: no other node holds any station."""

    async def locate(self, charge_point_id: str) -> str | None:
        return None

    async def execute_on(
        self, node: str, charge_point_id: str, command: Command, timeout: float
    ) -> Outcome:
        return NotConnected()
