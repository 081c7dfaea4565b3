"""A station's device model (OCPP 2.0.1 NotifyReport), read by operators.

The rows are written by the charger's reports (``StationRuntime
.report_device_model``); operators read them through :class:`DeviceModel`,
scoped like every station endpoint: a station outside the principal's
scope is NotFound. Free of piccolo: storage comes in as
:class:`DeviceModelStore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import msgspec

from crm.access import Principal, Visibility
from crm.errors import NotFound


class StationVariable(msgspec.Struct, frozen=True):
    """One attribute of one variable of one component, as last reported."""

    component: str
    component_instance: str
    evse_id: int | None
    connector_id: int | None
    variable: str
    variable_instance: str
    attribute_type: str
    value: str | None
    mutability: str
    data_type: str
    unit: str
    updated_at: datetime


class DeviceModelStore(Protocol):
    async def station_visible(self, visibility: Visibility, station_pk: int) -> bool: ...

    async def variables(
        self, station_pk: int, component: str | None, limit: int, offset: int
    ) -> tuple[list[StationVariable], int]: ...


@dataclass(slots=True)
class DeviceModel:
    store: DeviceModelStore

    async def variables(
        self,
        principal: Principal,
        station_pk: int,
        *,
        component: str | None = None,
        limit: int,
        offset: int,
    ) -> tuple[list[StationVariable], int]:
        """The station's variables by component, variable and attribute."""
        principal.require("stations", "read")
        if not await self.store.station_visible(principal.visible("stations"), station_pk):
            raise NotFound(f"there is no station {station_pk}")
        return await self.store.variables(station_pk, component or None, limit, offset)
