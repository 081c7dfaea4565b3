"""Billing worlds for tests: stations, media, tariffs and completed sessions
straight into the database, beside tests/world.py's entities and users.

Sessions are written as the OCP side leaves them when a session completes:
the ``charging_session`` row with the medium as it was at the start, its
energy-register samples and a ``rating_queue`` row.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from billing.tables import CommunityPartner, Tariff, TariffAssignment, TariffVersion
from crm.tables import Contact, Medium
from csms.tables import ChargingSession, MeterValue, RatingQueue, Station

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def energy_tariff(
    code: str,
    *,
    per_kwh: str = "0.40",
    flat: str | None = "1.00",
    vat: str | None = "19",
    currency: str = "EUR",
) -> dict[str, Any]:
    """An OCPI tariff: a price per kWh and a session fee."""
    components: list[dict[str, Any]] = [{"type": "ENERGY", "price": float(per_kwh), "step_size": 1}]
    if flat is not None:
        components.append({"type": "FLAT", "price": float(flat), "step_size": 1})
    if vat is not None:
        for component in components:
            component["vat"] = float(vat)
    return {
        "country_code": "DE",
        "party_id": "CSM",
        "id": code,
        "currency": currency,
        "elements": [{"price_components": components}],
        "last_updated": "2026-01-01T00:00:00Z",
    }


async def make_station(owner: int, charge_point_id: str, *, time_zone: str = "UTC") -> int:
    now = _now()
    (row,) = (
        await Station.insert(
            Station(
                charge_point_id=charge_point_id,
                owner_entity=owner,
                time_zone=time_zone,
                created_at=now,
                updated_at=now,
            )
        )
        .returning(Station.id)
        .run()
    )
    return int(row["id"])


async def make_contact(owner: int, name: str, **fields: Any) -> int:
    now = _now()
    (row,) = (
        await Contact.insert(
            Contact(owner_entity=owner, name=name, created_at=now, updated_at=now, **fields)
        )
        .returning(Contact.id)
        .run()
    )
    return int(row["id"])


async def make_medium(uid: str, issuer: int, *, bill_to: int | None = None) -> int:
    now = _now()
    (row,) = (
        await Medium.insert(
            Medium(
                uid=uid,
                issuing_entity=issuer,
                bill_to_contact=bill_to,
                owner_contact=bill_to,
                created_at=now,
                updated_at=now,
            )
        )
        .returning(Medium.id)
        .run()
    )
    return int(row["id"])


async def make_tariff(
    owner: int,
    ocpi: dict[str, Any],
    *,
    audience: str,
    valid_from: datetime = EPOCH,
    station: int | None = None,
    counterparty: int | None = None,
) -> int:
    """A tariff with one version, assigned for ``audience``."""
    now = _now()
    (tariff,) = (
        await Tariff.insert(
            Tariff(
                owner_entity=owner,
                code=ocpi["id"],
                name=ocpi["id"],
                currency=ocpi["currency"],
                created_at=now,
                updated_at=now,
            )
        )
        .returning(Tariff.id)
        .run()
    )
    await TariffVersion.insert(
        TariffVersion(
            tariff=tariff["id"], valid_from=valid_from, ocpi=json.dumps(ocpi), created_at=now
        )
    ).run()
    await TariffAssignment.insert(
        TariffAssignment(
            owner_entity=owner,
            tariff=tariff["id"],
            audience=audience,
            station=station,
            counterparty_entity=counterparty,
            created_at=now,
        )
    ).run()
    return int(tariff["id"])


async def make_partner(entity: int, partner: int) -> None:
    await CommunityPartner.insert(
        CommunityPartner(entity=entity, partner_entity=partner, created_at=_now())
    ).run()


async def completed_session(
    station: int,
    *,
    id_tag: str,
    started_at: datetime,
    minutes: int = 60,
    energy_wh: int = 10_000,
    medium: int | None = None,
    issuer: int | None = None,
    bill_to: int | None = None,
    meter_start_wh: int = 1_000_000,
) -> int:
    """A completed session with a register sample at start and stop, queued
    for rating."""
    stopped_at = started_at + timedelta(minutes=minutes)
    now = _now()
    (row,) = (
        await ChargingSession.insert(
            ChargingSession(
                station=station,
                connector_id=1,
                id_tag=id_tag,
                start_auth_status="Accepted",
                started_at=started_at,
                meter_start_wh=meter_start_wh,
                stopped_at=stopped_at,
                meter_stop_wh=meter_start_wh + energy_wh,
                status="completed",
                closed_by="charger",
                medium_id=medium,
                issuing_entity_id=issuer,
                bill_to_contact_id=bill_to,
                created_at=now,
                updated_at=now,
            )
        )
        .returning(ChargingSession.id)
        .run()
    )
    session = int(row["id"])
    for at, value in ((started_at, meter_start_wh), (stopped_at, meter_start_wh + energy_wh)):
        await MeterValue.insert(
            MeterValue(
                station=station,
                connector_id=1,
                session=session,
                sampled_at=at,
                value=str(value),
                unit="Wh",
                received_at=now,
            )
        ).run()
    await RatingQueue.insert(
        RatingQueue(session=session, completed_at=stopped_at, enqueued_at=now)
    ).run()
    return session


async def many_sessions(
    station: int,
    count: int,
    *,
    id_tag: str,
    first_start: datetime,
    medium: int | None = None,
    issuer: int | None = None,
    bill_to: int | None = None,
    energy_wh: int = 10_000,
    minutes: int = 30,
) -> list[int]:
    """``count`` completed sessions a minute apart, queued for rating."""
    now = _now()
    ids: list[int] = []
    for chunk_start in range(0, count, 500):
        rows = [
            ChargingSession(
                station=station,
                connector_id=1,
                id_tag=id_tag,
                start_auth_status="Accepted",
                started_at=first_start + timedelta(minutes=index),
                meter_start_wh=0,
                stopped_at=first_start + timedelta(minutes=index + minutes),
                meter_stop_wh=energy_wh,
                status="completed",
                closed_by="charger",
                medium_id=medium,
                issuing_entity_id=issuer,
                bill_to_contact_id=bill_to,
                created_at=now,
                updated_at=now,
            )
            for index in range(chunk_start, min(count, chunk_start + 500))
        ]
        inserted = await ChargingSession.insert(*rows).returning(ChargingSession.id)
        chunk = [int(row["id"]) for row in inserted]
        await RatingQueue.insert(
            *[RatingQueue(session=session, completed_at=now, enqueued_at=now) for session in chunk]
        )
        ids += chunk
    return ids
