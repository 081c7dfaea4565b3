"""Remote commands on behalf of an operator (the REST API, later the UI):
the permission check and the station lookup before
:meth:`CommandService.send`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from crm.access import Principal, Visibility
from crm.errors import Forbidden, NotFound
from csms.commands.model import Command
from csms.commands.outcomes import Outcome
from csms.commands.service import CommandService
from csms.domain.station_admin import Station

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
        the ``stations:command`` permission or for a station it may see but
        not command; NotFound for one it may not see."""
        principal.require("stations", "command")
        station = await self.stations.get_station(
            principal.visible("stations", "command"), station_pk
        )
        if station is not None:
            return station
        if await self.stations.get_station(principal.visible("stations", "read"), station_pk):
            raise Forbidden(f"you may not command station {station_pk}")
        raise NotFound(f"there is no station {station_pk}")

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
