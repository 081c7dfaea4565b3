"""The station_variable table (a station's 2.0.1 device model), read side.
Writes go through group commit (``storage/writes.py``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from piccolo.custom_types import Combinable

from crm.access import Visibility
from crm.storage.scoping import scoped
from csms.domain.device_model import StationVariable
from csms.tables import Station
from csms.tables import StationVariable as StationVariableRow


class PiccoloDeviceModel:
    async def station_visible(self, visibility: Visibility, station_pk: int) -> bool:
        row = (
            await scoped(Station.select(Station.id), Station.owner_entity, visibility)
            .where(Station.id == station_pk)
            .first()
            .run()
        )
        return row is not None

    async def variables(
        self, station_pk: int, component: str | None, limit: int, offset: int
    ) -> tuple[list[StationVariable], int]:
        t = StationVariableRow
        condition: Combinable = t.station == station_pk
        if component is not None:
            condition = condition & (t.component == component)
        rows = (
            await t.select()
            .where(condition)
            .order_by(t.component, t.component_instance, t.evse_id, t.connector_id)
            .order_by(t.variable, t.variable_instance, t.attribute_type)
            .limit(limit)
            .offset(offset)
            .run()
        )
        total = await t.count().where(condition).run()
        return [_variable(row) for row in rows], total


def _variable(row: dict[str, Any]) -> StationVariable:
    updated: datetime = row["updated_at"]
    return StationVariable(
        component=row["component"],
        component_instance=row["component_instance"],
        evse_id=row["evse_id"] or None,
        connector_id=row["connector_id"] or None,
        variable=row["variable"],
        variable_instance=row["variable_instance"],
        attribute_type=row["attribute_type"],
        value=row["value"],
        mutability=row["mutability"],
        data_type=row["data_type"],
        unit=row["unit"],
        updated_at=updated if updated.tzinfo else updated.replace(tzinfo=UTC),
    )
