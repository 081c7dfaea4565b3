"""Stations (master data: owner, group, address, coordinates, time zone),
station groups and access rules.

Stations are registered and removed here as by the CLI (``csms station
add`` / ``remove``), looked up, edited, and their history (events) and raw
OCPP message log read. Every change to an owner, a group or a rule is
announced, so the authorisation cache reloads it.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from admin_ui.api.acting import note_entity
from admin_ui.api.common import Id, Page, PageParams, QueryId
from admin_ui.api.context import ApiContext
from crm.access import Principal
from crm.errors import InvalidInput
from csms.domain.station_admin import (
    AccessRule,
    AccessRuleCreate,
    CreatedStation,
    Station,
    StationAdmin,
    StationCreate,
    StationEvent,
    StationEventFilter,
    StationFilter,
    StationGroup,
    StationGroupCreate,
    StationGroupUpdate,
    StationImportResult,
    StationMessage,
    StationMessageFilter,
    StationUpdate,
)


def provide_station_admin(context: NamedDependency[ApiContext]) -> StationAdmin:
    return StationAdmin(context.ports.stations, context.station_changes, context.station_profiles)


_DEPENDENCIES = {"stations": Provide(provide_station_admin, sync_to_thread=False)}


def _zoned(*moments: datetime | None) -> None:
    for moment in moments:
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput("since and until need a zone, e.g. 2026-12-06T10:00:00Z")


class StationController(Controller):
    path = "/stations"
    tags = ["stations"]
    dependencies = _DEPENDENCIES

    @get("/")
    async def list_stations(
        self,
        principal: NamedDependency[Principal],
        stations: NamedDependency[StationAdmin],
        page: NamedDependency[PageParams],
        q: Annotated[
            str, QueryParameter(description="part of the charge point id, description or city")
        ] = "",
        owner_entity_id: QueryId = None,
        station_group_id: QueryId = None,
        connected: FromQuery[bool | None] = None,
        registration_status: Annotated[
            str | None, QueryParameter(description="Accepted, Pending or Rejected")
        ] = None,
    ) -> Page[Station]:
        """Stations you may see, by charge point id, with their connectors."""
        filters = StationFilter(
            q=q,
            owner_entity_id=owner_entity_id,
            station_group_id=station_group_id,
            connected=connected,
            registration_status=registration_status,
        )
        items, total = await stations.list_stations(
            principal, filters, limit=page.limit, offset=page.offset
        )
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)

    @post("/", status_code=HTTP_201_CREATED)
    async def create_station(
        self,
        data: JSONBody[StationCreate],
        principal: NamedDependency[Principal],
        stations: NamedDependency[StationAdmin],
    ) -> CreatedStation:
        """Register a station (as ``csms station add`` and ``locate``):
        ``stations:create`` on its owner (default: your active entity). 409
        when the charge point id is taken; 400 naming the field for bad
        input. A generated secret is in the answer, this once."""
        return await stations.create_station(principal, data)

    @post("/import", status_code=HTTP_200_OK)
    async def import_stations(
        self,
        request: Request,
        principal: NamedDependency[Principal],
        stations: NamedDependency[StationAdmin],
        owner_entity_id: QueryId = None,
        skip_existing: Annotated[
            bool, QueryParameter(description="leave stations whose id exists as they are")
        ] = False,
    ) -> StationImportResult:
        """Register many stations from a CSV body (``csms station import``;
        text/csv, a header line; columns charge_point_id (required), secret,
        description, status (accepted, pending, rejected), assume_ocpp16 (yes
        or no), lenient (flags separated by spaces)) for ``owner_entity_id``
        (default: your active entity). All or nothing: a 400 names every line
        to fix, a 409 the ids that exist (unless skip_existing)."""
        try:
            text = (await request.body()).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput("the body is not UTF-8 text") from None
        try:
            reader = csv.DictReader(io.StringIO(text, newline=""))
            header = list(reader.fieldnames or ())
            rows = list(reader)
        except csv.Error as error:
            raise InvalidInput(f"not a CSV table: {error}") from None
        note_entity(owner_entity_id or principal.active_entity_id)
        return await stations.import_stations(
            principal,
            header,
            rows,
            owner_entity_id=owner_entity_id,
            skip_existing=skip_existing,
        )

    @delete("/{station_id:int}", status_code=HTTP_204_NO_CONTENT)
    async def remove_station(
        self,
        station_id: Id,
        principal: NamedDependency[Principal],
        stations: NamedDependency[StationAdmin],
    ) -> None:
        """Delete a station that has no sessions (``csms station remove``):
        ``stations:delete`` on its owner; 404 outside that scope; 409 when it
        has sessions (reject it instead: PATCH registration_status)."""
        removed = await stations.remove_station(principal, station_id)
        note_entity(removed.owner_entity_id)

    @get("/{station_id:int}/events")
    async def list_station_events(
        self,
        station_id: Id,
        principal: NamedDependency[Principal],
        stations: NamedDependency[StationAdmin],
        page: NamedDependency[PageParams],
        kind: Annotated[
            str | None,
            QueryParameter(description="only this kind: boot, connected, disconnected, ..."),
        ] = None,
        since: Annotated[
            datetime | None, QueryParameter(description="at or after, with a zone")
        ] = None,
        until: Annotated[datetime | None, QueryParameter(description="before, with a zone")] = None,
    ) -> Page[StationEvent]:
        """The station's history (``csms station events``), newest first."""
        _zoned(since, until)
        items, total = await stations.events(
            principal,
            station_id,
            StationEventFilter(kind=kind, since=since, until=until),
            limit=page.limit,
            offset=page.offset,
        )
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)

    @get("/{station_id:int}/messages")
    async def list_station_messages(
        self,
        station_id: Id,
        principal: NamedDependency[Principal],
        stations: NamedDependency[StationAdmin],
        page: NamedDependency[PageParams],
        action: Annotated[
            str | None, QueryParameter(description="only this action, e.g. BootNotification")
        ] = None,
        direction: Annotated[
            str | None, QueryParameter(description="in (from the charger) or out")
        ] = None,
        since: Annotated[
            datetime | None, QueryParameter(description="at or after, with a zone")
        ] = None,
        until: Annotated[datetime | None, QueryParameter(description="before, with a zone")] = None,
    ) -> Page[StationMessage]:
        """The station's raw OCPP message log (``csms station messages``),
        newest first; ``payload`` is null unless you see every field of the
        station."""
        _zoned(since, until)
        items, total = await stations.messages(
            principal,
            station_id,
            StationMessageFilter(action=action, direction=direction, since=since, until=until),
            limit=page.limit,
            offset=page.offset,
        )
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)

    @get("/{station_id:int}")
    async def get_station(
        self,
        station_id: Id,
        principal: NamedDependency[Principal],
        stations: NamedDependency[StationAdmin],
    ) -> Station:
        """One station with its connectors' latest status."""
        return await stations.get_station(principal, station_id)

    @patch("/{station_id:int}")
    async def update_station(
        self,
        station_id: Id,
        data: JSONBody[StationUpdate],
        principal: NamedDependency[Principal],
        stations: NamedDependency[StationAdmin],
    ) -> Station:
        """Change owner entity (you must be allowed to update stations of the
        old and the new owner), station group, address, coordinates or time
        zone."""
        return await stations.update_station(principal, station_id, data)

    @get("/{station_id:int}/access-rules")
    async def list_station_rules(
        self,
        station_id: Id,
        principal: NamedDependency[Principal],
        stations: NamedDependency[StationAdmin],
    ) -> list[AccessRule]:
        """The station's own rules (its group's rules apply as well)."""
        return await stations.list_rules(principal, station_pk=station_id)

    @post("/{station_id:int}/access-rules")
    async def add_station_rule(
        self,
        station_id: Id,
        data: JSONBody[AccessRuleCreate],
        principal: NamedDependency[Principal],
        stations: NamedDependency[StationAdmin],
    ) -> AccessRule:
        """Add a rule to the station: a deny that matches refuses, else an
        allow that matches admits; without any allow rule the station is
        public."""
        return await stations.add_rule(principal, data, station_pk=station_id)


class StationGroupController(Controller):
    path = "/station-groups"
    tags = ["stations"]
    dependencies = _DEPENDENCIES

    @get("/")
    async def list_groups(
        self,
        principal: NamedDependency[Principal],
        stations: NamedDependency[StationAdmin],
        page: NamedDependency[PageParams],
        q: Annotated[str, QueryParameter(description="part of the name")] = "",
        owner_entity_id: QueryId = None,
    ) -> Page[StationGroup]:
        """Station groups you may see, by name."""
        items, total = await stations.list_groups(
            principal, q=q, owner_entity_id=owner_entity_id, limit=page.limit, offset=page.offset
        )
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)

    @post("/")
    async def create_group(
        self,
        data: JSONBody[StationGroupCreate],
        principal: NamedDependency[Principal],
        stations: NamedDependency[StationAdmin],
    ) -> StationGroup:
        """A new station group (owned by your active entity unless you name one)."""
        return await stations.create_group(principal, data)

    @get("/{group_id:int}")
    async def get_group(
        self,
        group_id: Id,
        principal: NamedDependency[Principal],
        stations: NamedDependency[StationAdmin],
    ) -> StationGroup:
        return await stations.get_group(principal, group_id)

    @patch("/{group_id:int}")
    async def update_group(
        self,
        group_id: Id,
        data: JSONBody[StationGroupUpdate],
        principal: NamedDependency[Principal],
        stations: NamedDependency[StationAdmin],
    ) -> StationGroup:
        return await stations.update_group(principal, group_id, data)

    @delete("/{group_id:int}", status_code=HTTP_204_NO_CONTENT)
    async def delete_group(
        self,
        group_id: Id,
        principal: NamedDependency[Principal],
        stations: NamedDependency[StationAdmin],
    ) -> None:
        """Delete the group and its rules; its stations stay, in no group."""
        await stations.delete_group(principal, group_id)

    @get("/{group_id:int}/access-rules")
    async def list_group_rules(
        self,
        group_id: Id,
        principal: NamedDependency[Principal],
        stations: NamedDependency[StationAdmin],
    ) -> list[AccessRule]:
        """The rules every station of the group has."""
        return await stations.list_rules(principal, group_id=group_id)

    @post("/{group_id:int}/access-rules")
    async def add_group_rule(
        self,
        group_id: Id,
        data: JSONBody[AccessRuleCreate],
        principal: NamedDependency[Principal],
        stations: NamedDependency[StationAdmin],
    ) -> AccessRule:
        """Add a rule to every station of the group."""
        return await stations.add_rule(principal, data, group_id=group_id)


class AccessRuleController(Controller):
    path = "/access-rules"
    tags = ["stations"]
    dependencies = _DEPENDENCIES

    @delete("/{rule_id:int}", status_code=HTTP_204_NO_CONTENT)
    async def delete_rule(
        self,
        rule_id: Id,
        principal: NamedDependency[Principal],
        stations: NamedDependency[StationAdmin],
    ) -> None:
        """Remove a rule; it stops counting at the next authorisation."""
        await stations.remove_rule(principal, rule_id)
