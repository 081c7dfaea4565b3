"""Read models of the drivers' app: the driver's media, stations with their
connectors, the driver's sessions. Free of I/O (storage:
:mod:`csms.storage.driver_app`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import msgspec

from crm.media import MediumRecord
from csms.domain.access_rules import StationAccess


class OwnMedium(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    record: MediumRecord


class ConnectorView(msgspec.Struct, frozen=True, kw_only=True):
    connector_id: int
    # The last StatusNotification: Available, Charging, Faulted, ...
    status: str


class StationPlace(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    charge_point_id: str
    description: str
    street: str
    postal_code: str
    city: str
    country: str
    latitude: Decimal | None
    longitude: Decimal | None
    time_zone: str
    connected: bool
    owner_entity_id: int | None
    station_group_id: int | None
    connectors: list[ConnectorView] = []


class SessionRow(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    station_id: int
    charge_point_id: str
    time_zone: str
    station_group_id: int | None
    connector_id: int
    id_tag: str
    status: str
    started_at: datetime | None
    stopped_at: datetime | None
    meter_start_wh: int | None
    meter_stop_wh: int | None
    stop_reason: str
    issuing_entity_id: int | None


class DriverAppReads(Protocol):
    async def media(self, contact_id: int) -> list[OwnMedium]: ...

    async def stations(self) -> list[StationPlace]: ...

    async def station_accesses(self) -> dict[int, StationAccess]:
        """Every station's owner, group and rules (its own and its
        group's), in two queries."""
        ...

    async def sessions(
        self, contact_id: int, *, limit: int, offset: int, active: bool | None = None
    ) -> tuple[list[SessionRow], int]:
        """The contact's sessions (their media at the start), newest first."""
        ...

    async def session(self, contact_id: int, session_id: int) -> SessionRow | None: ...

    async def states(self, session: SessionRow) -> list[tuple[datetime, str]]:
        """The session's charging states so far (2.0.1 chargingState, else
        the 1.6 connector's status), oldest first."""
        ...

    async def readings(self, session_id: int) -> list[dict[str, Any]]: ...
