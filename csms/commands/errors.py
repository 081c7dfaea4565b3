"""Why a command could not be routed to a station at all: the other nodes
(the node directory, the bus to them) could not be reached. Not an outcome:
these are the system's own faults, not a charger's behaviour, and the
caller should retry (the API answers 503 with Retry-After)."""

from __future__ import annotations


class CommandNotRouted(Exception):
    """The command could not be routed to the node holding the station."""


class StationLookupFailed(CommandNotRouted):
    """The node directory (Redis) could not be asked which node holds the
    station: nothing was sent."""

    def __init__(self, charge_point_id: str, cause: str) -> None:
        super().__init__(
            f"the node directory is unreachable ({cause}), so the node holding station "
            f"{charge_point_id} is unknown; nothing was sent, retry shortly"
        )
        self.charge_point_id = charge_point_id


class NodeUnreachable(CommandNotRouted):
    """The request could not be handed to the node holding the station (the
    bus failed); it most likely was not sent."""

    def __init__(self, charge_point_id: str, node: str, cause: str) -> None:
        super().__init__(
            f"node {node}, which holds station {charge_point_id}, could not be reached "
            f"({cause}); the command was most likely not sent, retry shortly"
        )
        self.charge_point_id = charge_point_id
        self.node = node
