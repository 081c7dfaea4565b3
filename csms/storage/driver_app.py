"""What the drivers' app reads of stations and sessions (unscoped: the
service narrows every read to the driver's own contact and media)."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crm.media import MediumKind, MediumRecord, MediumStatus
from crm.tables import Medium
from csms import tables as t
from csms.domain.access_rules import Rule, RuleEffect, RuleSubject, StationAccess
from csms.domain.driver_app import ConnectorView, OwnMedium, SessionRow, StationPlace

log = logging.getLogger(__name__)

# 1.6 connector states that say whether a session charges (billing's list).
_STATES_16 = (
    "Preparing",
    "Charging",
    "SuspendedEV",
    "SuspendedEVSE",
    "Finishing",
    "Available",
    "Faulted",
    "Unavailable",
)

_SESSION_COLUMNS = (
    t.ChargingSession.id,
    t.ChargingSession.station,
    t.ChargingSession.station.charge_point_id,
    t.ChargingSession.station.time_zone,
    t.ChargingSession.station.station_group,
    t.ChargingSession.connector_id,
    t.ChargingSession.id_tag,
    t.ChargingSession.status,
    t.ChargingSession.started_at,
    t.ChargingSession.stopped_at,
    t.ChargingSession.meter_start_wh,
    t.ChargingSession.meter_stop_wh,
    t.ChargingSession.stop_reason,
    t.ChargingSession.issuing_entity_id,
)


def _degrees(text: str) -> Decimal | None:
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _session(row: dict[str, Any]) -> SessionRow:
    return SessionRow(
        id=row["id"],
        station_id=row["station"],
        charge_point_id=row["station.charge_point_id"],
        time_zone=row["station.time_zone"] or "UTC",
        station_group_id=row["station.station_group"],
        connector_id=row["connector_id"],
        id_tag=row["id_tag"],
        status=row["status"],
        started_at=row["started_at"],
        stopped_at=row["stopped_at"],
        meter_start_wh=row["meter_start_wh"],
        meter_stop_wh=row["meter_stop_wh"],
        stop_reason=row["stop_reason"],
        issuing_entity_id=row["issuing_entity_id"],
    )


class PiccoloDriverAppReads:
    async def media(self, contact_id: int) -> list[OwnMedium]:
        rows = await Medium.select(
            Medium.id,
            Medium.uid,
            Medium.kind,
            Medium.status,
            Medium.issuing_entity,
            Medium.valid_from,
            Medium.valid_until,
            Medium.group_uid,
        ).where((Medium.owner_contact == contact_id) & (Medium.bill_to_contact == contact_id))
        return [
            OwnMedium(
                id=row["id"],
                record=MediumRecord(
                    uid=row["uid"],
                    issuing_entity_id=row["issuing_entity"],
                    status=MediumStatus(row["status"]),
                    kind=MediumKind(row["kind"]),
                    valid_from=row["valid_from"],
                    valid_until=row["valid_until"],
                    group_uid=row["group_uid"],
                ),
            )
            for row in rows
        ]

    async def stations(self) -> list[StationPlace]:
        rows = await t.Station.select(
            t.Station.id,
            t.Station.charge_point_id,
            t.Station.description,
            t.Station.street,
            t.Station.postal_code,
            t.Station.city,
            t.Station.country,
            t.Station.latitude,
            t.Station.longitude,
            t.Station.time_zone,
            t.Station.connected,
            t.Station.owner_entity,
            t.Station.station_group,
        ).order_by(t.Station.id)
        connectors = await t.Connector.select(
            t.Connector.station, t.Connector.connector_id, t.Connector.status
        ).order_by(t.Connector.connector_id)
        by_station: dict[int, list[ConnectorView]] = {}
        for c in connectors:
            if c["connector_id"] > 0:
                by_station.setdefault(c["station"], []).append(
                    ConnectorView(connector_id=c["connector_id"], status=c["status"])
                )
        return [
            StationPlace(
                id=row["id"],
                charge_point_id=row["charge_point_id"],
                description=row["description"],
                street=row["street"],
                postal_code=row["postal_code"],
                city=row["city"],
                country=row["country"],
                latitude=_degrees(row["latitude"]),
                longitude=_degrees(row["longitude"]),
                time_zone=row["time_zone"] or "UTC",
                connected=bool(row["connected"]),
                owner_entity_id=row["owner_entity"],
                station_group_id=row["station_group"],
                connectors=by_station.get(row["id"], []),
            )
            for row in rows
        ]

    async def station_accesses(self) -> dict[int, StationAccess]:
        stations = await t.Station.select(
            t.Station.id, t.Station.owner_entity, t.Station.station_group
        )
        rules = await t.AccessRule.select(
            t.AccessRule.id,
            t.AccessRule.station,
            t.AccessRule.station_group,
            t.AccessRule.effect,
            t.AccessRule.subject,
            t.AccessRule.value,
        )
        by_station: dict[int, list[Rule]] = {}
        by_group: dict[int, list[Rule]] = {}
        for row in rules:
            try:
                rule = Rule(RuleEffect(row["effect"]), RuleSubject(row["subject"]), row["value"])
            except ValueError:
                log.warning("access rule %s is unreadable and ignored", row["id"])
                continue
            if row["station"] is not None:
                by_station.setdefault(row["station"], []).append(rule)
            elif row["station_group"] is not None:
                by_group.setdefault(row["station_group"], []).append(rule)
        return {
            row["id"]: StationAccess(
                row["id"],
                row["owner_entity"],
                row["station_group"],
                (
                    *by_station.get(row["id"], ()),
                    *by_group.get(row["station_group"], ()),
                ),
            )
            for row in stations
        }

    async def sessions(
        self, contact_id: int, *, limit: int, offset: int, active: bool | None = None
    ) -> tuple[list[SessionRow], int]:
        condition: Any = t.ChargingSession.owner_contact_id == contact_id
        if active is not None:
            condition = condition & (
                (t.ChargingSession.status == "active")
                if active
                else (t.ChargingSession.status != "active")
            )
        rows = (
            await t.ChargingSession.select(*_SESSION_COLUMNS)
            .where(condition)
            .order_by(t.ChargingSession.id, ascending=False)
            .limit(limit)
            .offset(offset)
        )
        total = await t.ChargingSession.count().where(condition)
        return [_session(row) for row in rows], int(total)

    async def session(self, contact_id: int, session_id: int) -> SessionRow | None:
        row = (
            await t.ChargingSession.select(*_SESSION_COLUMNS)
            .where(
                (t.ChargingSession.id == session_id)
                & (t.ChargingSession.owner_contact_id == contact_id)
            )
            .first()
        )
        return _session(row) if row else None

    async def states(self, session: SessionRow) -> list[tuple[datetime, str]]:
        """Whether the session was charging, over time: its 2.0.1
        chargingState changes, else the 1.6 connector's states since the
        start (as billing reads them for a completed session)."""
        rows = await t.SessionStateChange.select(
            t.SessionStateChange.changed_at, t.SessionStateChange.charging_state
        ).where(t.SessionStateChange.session == session.id)
        if rows:
            return sorted((r["changed_at"], r["charging_state"]) for r in rows)
        if session.started_at is None:
            return []
        changes = await (
            t.ConnectorStatusChange.select(
                t.ConnectorStatusChange.reported_at, t.ConnectorStatusChange.status
            )
            .where(
                (t.ConnectorStatusChange.station == session.station_id)
                & (t.ConnectorStatusChange.connector_id == session.connector_id)
                & (t.ConnectorStatusChange.reported_at >= session.started_at)
                & t.ConnectorStatusChange.status.is_in(list(_STATES_16))
            )
            .order_by(t.ConnectorStatusChange.reported_at)
            .order_by(t.ConnectorStatusChange.id)
        )
        return [(c["reported_at"], c["status"]) for c in changes]

    async def readings(self, session_id: int) -> list[dict[str, Any]]:
        """The session's sampled values (not signed), oldest first."""
        return list(
            await t.MeterValue.select(
                t.MeterValue.sampled_at,
                t.MeterValue.measurand,
                t.MeterValue.value,
                t.MeterValue.unit,
                t.MeterValue.phase,
                t.MeterValue.multiplier,
                t.MeterValue.context,
                t.MeterValue.format,
            )
            .where(t.MeterValue.session == session_id)
            .order_by(t.MeterValue.sampled_at)
        )
