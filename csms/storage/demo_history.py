"""The demo's past: completed sessions of the last 30 days written straight
into the session tables, as the gateway leaves them when a session completes
(the ``charging_session`` row with its medium as at the start, energy and
power samples, a ``rating_queue`` row), so ``csms demo`` opens on a
dashboard with charts and has something to rate and bill.

Only ``csms demo`` uses it (csms.demo); the product never invents sessions.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from crm.tables import Medium
from csms.tables import ChargingSession, MeterValue, RatingQueue, Station

SAMPLE_MINUTES = 15


@dataclass(frozen=True, slots=True)
class PastSessions:
    sessions: int
    energy_wh: int


async def has_sessions(charge_point_ids: Sequence[str]) -> bool:
    """Whether any of these stations has a session (the past is written once)."""
    stations = await Station.select(Station.id).where(
        Station.charge_point_id.is_in(list(charge_point_ids))
    )
    if not stations:
        return False
    found = (
        await ChargingSession.select(ChargingSession.id)
        .where(ChargingSession.station.is_in([row["id"] for row in stations]))
        .limit(1)
    )
    return bool(found)


async def add_past_sessions(
    charge_point_ids: Sequence[str],
    id_tags: Sequence[str],
    *,
    days: int = 30,
    per_day: tuple[int, int] = (2, 6),
    now: datetime | None = None,
    seed: int = 2026,
) -> PastSessions:
    """Completed sessions at these stations, ``per_day`` (a range) a day and
    station over the last ``days`` days, all stopped before ``now``, each by
    one of ``id_tags`` (media that exist) and queued for rating."""
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    station_rows = await Station.select(Station.id, Station.charge_point_id).where(
        Station.charge_point_id.is_in(list(charge_point_ids))
    )
    stations = {row["charge_point_id"]: int(row["id"]) for row in station_rows}
    media = {
        row["uid"]: row
        for row in await Medium.select(
            Medium.id,
            Medium.uid,
            Medium.issuing_entity,
            Medium.bill_to_contact,
            Medium.owner_contact,
        ).where(Medium.uid.is_in(list(id_tags)))
    }
    sessions = 0
    energy = 0
    for charge_point_id in charge_point_ids:
        station = stations[charge_point_id]
        register = rng.randrange(1_000_000, 5_000_000)
        starts: list[datetime] = []
        for day in range(days, -1, -1):
            midnight = (now - timedelta(days=day)).replace(hour=0, minute=0, second=0)
            for _ in range(rng.randint(*per_day)):
                starts.append(midnight + timedelta(minutes=rng.randrange(6 * 60, 22 * 60)))
        planned: list[tuple[ChargingSession, float]] = []
        for started_at in sorted(starts):
            minutes = rng.randrange(25, 150)
            stopped_at = started_at + timedelta(minutes=minutes)
            if started_at < now - timedelta(days=days) or stopped_at >= now:
                continue
            power_w = rng.choice((7_400, 11_000, 22_000)) * rng.uniform(0.6, 1.0)
            wh = int(power_w * minutes / 60)
            tag = rng.choice(list(id_tags))
            medium = media.get(tag)
            planned.append(
                (
                    ChargingSession(
                        station=station,
                        connector_id=rng.choice((1, 2)),
                        id_tag=tag,
                        start_auth_status="Accepted",
                        started_at=started_at,
                        meter_start_wh=register,
                        stopped_at=stopped_at,
                        meter_stop_wh=register + wh,
                        stop_reason="EVDisconnected",
                        status="completed",
                        closed_by="charger",
                        medium_id=medium["id"] if medium else None,
                        issuing_entity_id=medium["issuing_entity"] if medium else None,
                        bill_to_contact_id=medium["bill_to_contact"] if medium else None,
                        owner_contact_id=medium["owner_contact"] if medium else None,
                        created_at=stopped_at,
                        updated_at=stopped_at,
                    ),
                    power_w,
                )
            )
            register += wh
            sessions += 1
            energy += wh
        if not planned:
            continue
        # One statement per table and station (rows come back in their order).
        inserted = await ChargingSession.insert(*[row for row, _ in planned]).returning(
            ChargingSession.id
        )
        samples: list[MeterValue] = []
        queued: list[RatingQueue] = []
        for (row, power_w), ids in zip(planned, inserted, strict=True):
            session = int(ids["id"])
            samples += _samples(row, session, power_w, rng)
            done = row.stopped_at
            queued.append(RatingQueue(session=session, completed_at=done, enqueued_at=done))
        for first in range(0, len(samples), 500):
            await MeterValue.insert(*samples[first : first + 500])
        await RatingQueue.insert(*queued)
    return PastSessions(sessions=sessions, energy_wh=energy)


def _samples(
    row: ChargingSession, session: int, power_w: float, rng: random.Random
) -> list[MeterValue]:
    """The energy register every SAMPLE_MINUTES from start to stop, and the
    power between."""
    started_at, stopped_at = row.started_at, row.stopped_at
    start_wh, stop_wh = row.meter_start_wh, row.meter_stop_wh
    steps = max(1, int((stopped_at - started_at).total_seconds() // 60) // SAMPLE_MINUTES)
    samples: list[MeterValue] = []
    for step in range(steps + 1):
        at = started_at + (stopped_at - started_at) * step / steps
        context = (
            "Transaction.Begin"
            if step == 0
            else "Transaction.End"
            if step == steps
            else "Sample.Periodic"
        )
        common: dict[str, Any] = {
            "station": row.station,
            "connector_id": row.connector_id,
            "session": session,
            "sampled_at": at,
            "context": context,
            "received_at": at,
        }
        register = start_wh + (stop_wh - start_wh) * step // steps
        samples.append(MeterValue(value=str(register), unit="Wh", **common))
        if 0 < step < steps:
            power = f"{power_w * rng.uniform(0.9, 1.0):.0f}"
            samples.append(
                MeterValue(value=power, unit="W", measurand="Power.Active.Import", **common)
            )
    return samples
