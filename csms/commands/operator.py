"""Remote commands on behalf of an operator (the REST API, later the UI):
the permission check and the station lookup before
:meth:`CommandService.send`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from crm.access import Principal, Visibility
from csms.commands.model import Command
from csms.commands.outcomes import Outcome
from csms.commands.service import CommandService
from csms.domain.station_admin import Station
from csms.domain.station_scope import station_in_scope

# Longest wait for an answer an operator may ask for.
MAX_TIMEOUT = 300.0


class StationLookup(Protocol):
    async def get_station(self, visibility: Visibility, station_pk: int) -> Station | None: ...


@dataclass(slots=True)
class OperatorCommands:
    stations: StationLookup
    commands: CommandService

    async def station_for(self, principal: Principal, station_pk: int) -> Station:
        """The station, if the principal may command it: Forbidden without
        the ``stations:command`` permission; NotFound for one outside its
        command scope, as for one that does not exist (``station_in_scope``)."""
        return await station_in_scope(principal, "command", station_pk, self.stations.get_station)

    async def send(
        self,
        principal: Principal,
        station_pk: int,
        command: Command,
        *,
        timeout: float | None = None,
    ) -> Outcome:
        station = await self.station_for(principal, station_pk)
        if timeout is not None:
            timeout = min(max(timeout, 0.1), MAX_TIMEOUT)
        return await self.commands.send(station.charge_point_id, command, timeout=timeout)
