"""The one way to send a station a command: :class:`CommandService`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from csms.commands.errors import NodeUnreachable, StationLookupFailed
from csms.commands.model import Command
from csms.commands.outcomes import NotConnected, Outcome
from csms.commands.ports import LocalStations, NoOtherNodes, RemoteNodes, StationLocator

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0


class _NoLocalStations:
    """A node without a gateway (the web app alone) holds no station."""

    def holds(self, charge_point_id: str) -> bool:
        return False

    async def execute(self, charge_point_id: str, command: Command, timeout: float) -> Outcome:
        return NotConnected()


@dataclass(slots=True)
class CommandService:
    """Runs a command where the station's socket is: on this node when it
    holds it, else on the node the locator names, else ``NotConnected``.

    ``timeout`` bounds the wait for the charger's answer once the call is
    sent (a call waiting in the station's queue waits for its turn first;
    see ``csms.protocol.rpc``).

    Raises :class:`~csms.commands.errors.StationLookupFailed` when the node
    directory cannot be asked (Redis down) for a station this node does not
    hold, and :class:`~csms.commands.errors.NodeUnreachable` when the
    request cannot be handed to the holder; each is logged once here, as a
    warning. Stations this node holds are reached all the same."""

    local: LocalStations = field(default_factory=_NoLocalStations)
    locator: StationLocator = field(default_factory=NoOtherNodes)
    remote: RemoteNodes = field(default_factory=NoOtherNodes)
    node_name: str = ""
    default_timeout: float = DEFAULT_TIMEOUT

    async def send(
        self, charge_point_id: str, command: Command, *, timeout: float | None = None
    ) -> Outcome:
        seconds = self.default_timeout if timeout is None else timeout
        if self.local.holds(charge_point_id):
            return await self.local.execute(charge_point_id, command, seconds)
        try:
            node = await self.locator.locate(charge_point_id)
        except Exception as error:
            log.warning(
                "command %s for %s not sent: the node directory is unreachable: %s",
                type(command).__name__,
                charge_point_id,
                _cause(error),
            )
            raise StationLookupFailed(charge_point_id, _cause(error)) from error
        if node is None or node == self.node_name:
            # Nobody holds it, or the record still names this node although
            # the socket is gone.
            return NotConnected()
        try:
            return await self.remote.execute_on(node, charge_point_id, command, seconds)
        except Exception as error:
            # Outcomes cover everything after the request is handed over; an
            # exception is the bus failing to take it.
            log.warning(
                "command %s for %s not sent: node %s could not be reached: %s",
                type(command).__name__,
                charge_point_id,
                node,
                _cause(error),
            )
            raise NodeUnreachable(charge_point_id, node, _cause(error)) from error


def _cause(error: Exception) -> str:
    return str(error) or type(error).__name__
