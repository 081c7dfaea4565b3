"""Charging sessions for operators: the charging_session table read through
the station's owner entity (``crm.storage.scoping.scoped``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from piccolo.custom_types import Combinable

from crm.access import Visibility
from crm.storage.scoping import scoped
from csms.domain.sessions_view import ChargingSession, SessionFilter, energy_wh
from csms.tables import ChargingSession as SessionRow

_OWNER = SessionRow.station.owner_entity

_COLUMNS = (
    SessionRow.id,
    SessionRow.station.as_alias("station_id"),
    SessionRow.station.charge_point_id.as_alias("charge_point_id"),
    SessionRow.connector_id,
    SessionRow.id_tag,
    SessionRow.status,
    SessionRow.started_at,
    SessionRow.stopped_at,
    SessionRow.meter_start_wh,
    SessionRow.meter_stop_wh,
    SessionRow.stop_reason,
    SessionRow.stop_id_tag,
    SessionRow.closed_by,
    SessionRow.started_offline,
    SessionRow.start_auth_status,
    SessionRow.charger_transaction_id,
    SessionRow.charging_state,
    SessionRow.created_at,
    SessionRow.updated_at,
    SessionRow.medium_id,
    SessionRow.issuing_entity_id,
    SessionRow.bill_to_contact_id,
    SessionRow.owner_contact_id,
)


class PiccoloSessionsView:
    async def list_sessions(
        self, visibility: Visibility, filters: SessionFilter, limit: int, offset: int
    ) -> tuple[list[ChargingSession], int]:
        condition = _condition(filters)
        query = scoped(SessionRow.select(*_COLUMNS), _OWNER, visibility)
        count = scoped(SessionRow.count(), _OWNER, visibility)
        if condition is not None:
            query = query.where(condition)
            count = count.where(condition)
        rows = (
            await query.order_by(SessionRow.id, ascending=False).limit(limit).offset(offset).run()
        )
        return [_session(row) for row in rows], await count.run()

    async def get_session(self, visibility: Visibility, session_id: int) -> ChargingSession | None:
        row = (
            await scoped(SessionRow.select(*_COLUMNS), _OWNER, visibility)
            .where(SessionRow.id == session_id)
            .first()
            .run()
        )
        return None if row is None else _session(row)


def _condition(filters: SessionFilter) -> Combinable | None:
    parts: list[Combinable] = []
    if filters.station_id is not None:
        parts.append(SessionRow.station == filters.station_id)
    if filters.status is not None:
        parts.append(SessionRow.status == filters.status)
    if filters.id_tag is not None:
        parts.append(SessionRow.id_tag == filters.id_tag)
    if filters.started_after is not None:
        parts.append(SessionRow.started_at >= filters.started_after)
    if filters.started_before is not None:
        parts.append(SessionRow.started_at < filters.started_before)
    if not parts:
        return None
    condition = parts[0]
    for part in parts[1:]:
        condition = condition & part
    return condition


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _session(row: dict[str, Any]) -> ChargingSession:
    created = _aware(row["created_at"])
    updated = _aware(row["updated_at"])
    assert created is not None and updated is not None
    return ChargingSession(
        id=row["id"],
        station_id=row["station_id"],
        charge_point_id=row["charge_point_id"],
        connector_id=row["connector_id"],
        id_tag=row["id_tag"],
        status=row["status"],
        started_at=_aware(row["started_at"]),
        stopped_at=_aware(row["stopped_at"]),
        meter_start_wh=row["meter_start_wh"],
        meter_stop_wh=row["meter_stop_wh"],
        energy_wh=energy_wh(row["meter_start_wh"], row["meter_stop_wh"]),
        stop_reason=row["stop_reason"],
        stop_id_tag=row["stop_id_tag"],
        closed_by=row["closed_by"],
        started_offline=bool(row["started_offline"]),
        start_auth_status=row["start_auth_status"],
        charger_transaction_id=row["charger_transaction_id"],
        charging_state=row["charging_state"],
        created_at=created,
        updated_at=updated,
        medium_id=row["medium_id"],
        issuing_entity_id=row["issuing_entity_id"],
        bill_to_contact_id=row["bill_to_contact_id"],
        owner_contact_id=row["owner_contact_id"],
    )
