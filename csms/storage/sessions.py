"""Charging sessions in the database: open-session checks, the stale-session
rule's queries, and what operators look up."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from csms.domain.meter import ENERGY_REGISTER, register_wh
from csms.domain.model import Sample
from csms.domain.ports import OpenSession
from csms.domain.views import MeterValueView, SessionView
from csms.storage.database import write_transaction
from csms.tables import ChargingSession, MeterValue, RatingQueue, Station, StationEvent


class SessionNotFound(LookupError):
    pass


# Whether the id tag charges elsewhere: on another station, or on another
# connector of this one (the connector test is left out when the station
# named none). Only sessions at connected stations count: a station gone
# offline may have ended its session without being able to say so. A
# statement written out rather than built by piccolo's query builder per
# call: building it cost nine times what running it does (1,115 against
# 122 µs of event-loop CPU per check on SQLite, benchmarks in
# docs/benchmarks.md), and every Authorize and start runs it.
_ACTIVE_ELSEWHERE = (
    "SELECT EXISTS (SELECT 1 FROM charging_session s JOIN station st ON st.id = s.station"
    " WHERE s.id_tag = {} AND s.status = 'active' AND st.connected = {}"
    " AND (s.station <> {}%s)) AS found"
)
_ON_ANY_CONNECTOR = _ACTIVE_ELSEWHERE % ""
_ON_ANOTHER_CONNECTOR = _ACTIVE_ELSEWHERE % " OR s.connector_id <> {}"


class PiccoloActiveSessions:
    async def active_elsewhere(
        self, id_tag: str, *, station_pk: int, connector_id: int | None
    ) -> bool:
        if connector_id is None:
            query = ChargingSession.raw(_ON_ANY_CONNECTOR, id_tag, True, station_pk)
        else:
            query = ChargingSession.raw(
                _ON_ANOTHER_CONNECTOR, id_tag, True, station_pk, connector_id
            )
        rows = await query.run()
        return bool(rows[0]["found"])


class PiccoloStaleSessionStore:
    async def superseded(self) -> list[tuple[OpenSession, datetime]]:
        rows = await ChargingSession.raw(
            "SELECT s.id, MIN(later.started_at) AS superseded_at"
            " FROM charging_session s JOIN charging_session later"
            " ON later.station = s.station AND later.connector_id = s.connector_id"
            " AND later.id <> s.id AND later.started_at > s.started_at"
            " WHERE s.status = 'active' AND s.connector_id > 0"
            " GROUP BY s.id"
        ).run()
        found = []
        for row in rows:
            session = await self._open_session(row["id"])
            if session is not None:
                found.append((session, _aware(row["superseded_at"])))
        return found

    async def inactive_since(self, cutoff: datetime) -> list[OpenSession]:
        rows = await ChargingSession.raw(
            "SELECT s.id FROM charging_session s WHERE s.status = 'active'"
            " AND s.created_at < {}"
            " AND NOT EXISTS (SELECT 1 FROM meter_value m"
            " WHERE m.session = s.id AND m.received_at >= {})",
            cutoff,
            cutoff,
        ).run()
        sessions = [await self._open_session(row["id"]) for row in rows]
        return [s for s in sessions if s is not None]

    async def _open_session(self, session_id: int) -> OpenSession | None:
        row = (
            await ChargingSession.select(
                ChargingSession.id,
                ChargingSession.station,
                ChargingSession.connector_id,
                ChargingSession.started_at,
                ChargingSession.meter_start_wh,
            )
            .where((ChargingSession.id == session_id) & (ChargingSession.status == "active"))
            .first()
            .run()
        )
        if row is None:
            return None
        last = (
            await MeterValue.select(
                MeterValue.sampled_at,
                MeterValue.value,
                MeterValue.unit,
                MeterValue.measurand,
                MeterValue.format,
                MeterValue.multiplier,
            )
            .where((MeterValue.session == session_id) & (MeterValue.measurand == ENERGY_REGISTER))
            .order_by(MeterValue.sampled_at, ascending=False)
            .first()
            .run()
        )
        register = row["meter_start_wh"]
        activity = row["started_at"]
        if last is not None:
            reading = register_wh(
                Sample(
                    sampled_at=last["sampled_at"],
                    value=last["value"],
                    measurand=last["measurand"],
                    unit=last["unit"],
                    format=last["format"],
                    multiplier=last["multiplier"] or 0,
                )
            )
            register = reading if reading is not None else register
            activity = last["sampled_at"]
        return OpenSession(
            session_id=row["id"],
            station_pk=row["station"],
            connector_id=row["connector_id"],
            started_at=row["started_at"],
            last_register_wh=register,
            last_activity_at=activity,
        )

    async def close_by_rule(
        self, session: OpenSession, *, rule: str, stopped_at: datetime, now: datetime
    ) -> bool:
        async with write_transaction():
            updated = (
                await ChargingSession.update(
                    {
                        ChargingSession.status: "completed",
                        ChargingSession.closed_by: f"rule:{rule}",
                        ChargingSession.stopped_at: stopped_at,
                        ChargingSession.meter_stop_wh: session.last_register_wh,
                        ChargingSession.stop_reason: "Other",
                        ChargingSession.updated_at: now,
                    }
                )
                .where(
                    (ChargingSession.id == session.session_id)
                    & (ChargingSession.status == "active")
                )
                .returning(ChargingSession.id)
                .run()
            )
            if not updated:
                return False
            await enqueue_rating(session.session_id, completed_at=stopped_at, now=now)
            await StationEvent.insert(
                StationEvent(
                    station=session.station_pk,
                    kind="session_closed_by_rule",
                    occurred_at=stopped_at,
                    received_at=now,
                    data={
                        "transaction_id": session.session_id,
                        "rule": rule,
                        "meter_stop_wh": session.last_register_wh,
                    },
                )
            ).run()
        return True


async def enqueue_rating(session_id: int, *, completed_at: datetime, now: datetime) -> None:
    """Queues a completed session for rating, in the caller's transaction (the
    one that completes it): once per session; a row still waiting takes the
    new completion time as a new revision (rated again if it was being rated)."""
    await RatingQueue.raw(
        "INSERT INTO rating_queue (session, completed_at, enqueued_at) VALUES ({}, {}, {})"
        " ON CONFLICT (session) DO UPDATE SET completed_at = excluded.completed_at,"
        " revision = rating_queue.revision + 1",
        session_id,
        completed_at,
        now,
    ).run()


class PiccoloSessionQueries:
    """What operators look up about sessions."""

    async def list_all(
        self,
        *,
        charge_point_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[SessionView]:
        query = ChargingSession.select(*_SESSION_COLUMNS)
        if charge_point_id is not None:
            query = query.where(ChargingSession.station.charge_point_id == charge_point_id)
        if status is not None:
            query = query.where(ChargingSession.status == status)
        rows = (
            await query.order_by(ChargingSession.id, ascending=False)
            .limit(limit)
            .offset(offset)
            .run()
        )
        return [_session_view(row) for row in rows]

    async def get(self, transaction_id: int) -> SessionView:
        row = (
            await ChargingSession.select(*_SESSION_COLUMNS)
            .where(ChargingSession.id == transaction_id)
            .first()
            .run()
        )
        if row is None:
            raise SessionNotFound(f"no session {transaction_id}")
        return _session_view(row)

    async def find_by_charger_transaction(
        self, charge_point_id: str, charger_transaction_id: str
    ) -> SessionView:
        """The session of a station's own transaction id (OCPP 2.0.1)."""
        row = (
            await ChargingSession.select(*_SESSION_COLUMNS)
            .where(
                (ChargingSession.station.charge_point_id == charge_point_id)
                & (ChargingSession.charger_transaction_id == charger_transaction_id)
            )
            .first()
            .run()
        )
        if row is None:
            raise SessionNotFound(f"no session for {charge_point_id} {charger_transaction_id!r}")
        return _session_view(row)

    async def meter_values(self, transaction_id: int) -> list[MeterValueView]:
        rows = (
            await MeterValue.select(
                MeterValue.sampled_at,
                MeterValue.measurand,
                MeterValue.value,
                MeterValue.unit,
                MeterValue.phase,
                MeterValue.context,
                MeterValue.location,
                MeterValue.format,
                MeterValue.multiplier,
            )
            .where(MeterValue.session == transaction_id)
            .order_by(MeterValue.sampled_at)
            .order_by(MeterValue.id)
            .run()
        )
        return [MeterValueView(**row) for row in rows]

    async def counts(self) -> dict[str, int]:
        """Totals for dashboards and the load test's nothing-lost check."""
        return {
            "stations": await Station.count().run(),
            "sessions": await ChargingSession.count().run(),
            "active_sessions": await ChargingSession.count()
            .where(ChargingSession.status == "active")
            .run(),
            "meter_values": await MeterValue.count().run(),
        }


_SESSION_COLUMNS = (
    ChargingSession.id,
    ChargingSession.station.charge_point_id.as_alias("charge_point_id"),
    ChargingSession.connector_id,
    ChargingSession.id_tag,
    ChargingSession.status,
    ChargingSession.started_at,
    ChargingSession.stopped_at,
    ChargingSession.meter_start_wh,
    ChargingSession.meter_stop_wh,
    ChargingSession.stop_reason,
    ChargingSession.closed_by,
    ChargingSession.started_offline,
    ChargingSession.start_auth_status,
    ChargingSession.charger_transaction_id,
    ChargingSession.medium_id,
    ChargingSession.issuing_entity_id,
    ChargingSession.bill_to_contact_id,
    ChargingSession.owner_contact_id,
)


def _session_view(row: dict[str, Any]) -> SessionView:
    return SessionView(
        transaction_id=row["id"],
        charge_point_id=row["charge_point_id"],
        connector_id=row["connector_id"],
        id_tag=row["id_tag"],
        status=row["status"],
        started_at=row["started_at"],
        stopped_at=row["stopped_at"],
        meter_start_wh=row["meter_start_wh"],
        meter_stop_wh=row["meter_stop_wh"],
        stop_reason=row["stop_reason"],
        closed_by=row["closed_by"],
        started_offline=bool(row["started_offline"]),
        start_auth_status=row["start_auth_status"],
        charger_transaction_id=row["charger_transaction_id"],
        medium_id=row["medium_id"],
        issuing_entity_id=row["issuing_entity_id"],
        bill_to_contact_id=row["bill_to_contact_id"],
        owner_contact_id=row["owner_contact_id"],
    )


def _aware(value: Any) -> datetime:
    """Raw SQL on SQLite returns timestamps as text; piccolo's columns do not."""
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
