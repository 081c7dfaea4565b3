"""A small billing world written straight into the database for the billing
API tests: entities with addresses, stations, completed sessions and rated
CDRs (as the rater writes them: a ``detail`` with charging periods, totals,
supplied lines and signed meter values)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec

from billing.tables import Cdr
from crm.tables import Contact
from csms.tables import ChargingSession, RatingQueue, Station
from tests.world import make_entity, make_group, make_user, token_for

BERLIN = "Europe/Berlin"


def _now() -> datetime:
    return datetime.now(UTC)


async def company(name: str, parent: int | None = None, **fields: Any) -> int:
    """An entity with a German address (documents need one)."""
    defaults: dict[str, Any] = {
        "street": f"{name}straße 1",
        "postal_code": "10115",
        "city": "Berlin",
        "country": "DE",
        "vat_id": "DE" + str(abs(hash(name)) % 10**9).zfill(9),
        "email": f"billing@{name.lower().replace(' ', '-')}.example",
        "time_zone": BERLIN,
    }
    return await make_entity(name, parent=parent, **{**defaults, **fields})


async def master_contact(entity: int) -> int:
    row = await Contact.select(Contact.id).where(Contact.master_of_entity == entity).first().run()
    assert row is not None
    return int(row["id"])


async def person(owner: int, name: str) -> int:
    now = _now()
    (row,) = (
        await Contact.insert(
            Contact(
                owner_entity=owner,
                kind="person",
                name=name,
                street="Kundenweg 2",
                postal_code="50667",
                city="Köln",
                country="DE",
                created_at=now,
                updated_at=now,
            )
        )
        .returning(Contact.id)
        .run()
    )
    return int(row["id"])


async def station(owner: int | None, name: str) -> int:
    now = _now()
    (row,) = (
        await Station.insert(
            Station(
                charge_point_id=name,
                owner_entity=owner,
                time_zone=BERLIN,
                created_at=now,
                updated_at=now,
            )
        )
        .returning(Station.id)
        .run()
    )
    return int(row["id"])


async def session(
    station_id: int,
    started_at: datetime,
    *,
    minutes: int = 60,
    status: str = "completed",
    queued: bool = False,
    id_tag: str = "TAG1",
) -> int:
    now = _now()
    stopped = started_at + timedelta(minutes=minutes) if status == "completed" else None
    (row,) = (
        await ChargingSession.insert(
            ChargingSession(
                station=station_id,
                connector_id=1,
                id_tag=id_tag,
                status=status,
                started_at=started_at,
                stopped_at=stopped,
                meter_start_wh=0,
                meter_stop_wh=10_000 if stopped else None,
                created_at=now,
                updated_at=now,
            )
        )
        .returning(ChargingSession.id)
        .run()
    )
    session_id = int(row["id"])
    if queued:
        await RatingQueue.insert(
            RatingQueue(session=session_id, completed_at=stopped or now, enqueued_at=now)
        ).run()
    return session_id


def detail(energy_kwh: Decimal, price: Decimal, started_at: datetime) -> bytes:
    net = (energy_kwh * price).quantize(Decimal("0.0001"))
    gross = (net * Decimal("1.19")).quantize(Decimal("0.0001"))
    return msgspec.json.encode(
        {
            "tariff": {"id": "AC", "version_id": None},
            "currency": "EUR",
            "charging_periods": [
                {
                    "start_date_time": started_at.isoformat(),
                    "dimensions": [{"type": "ENERGY", "volume": str(energy_kwh)}],
                }
            ],
            "total_cost": {"excl_vat": str(net), "incl_vat": str(gross)},
            "total_energy": str(energy_kwh),
            "supplied": [
                {
                    "dimension": "ENERGY",
                    "reservation": False,
                    "price": str(price),
                    "vat": "19",
                    "volume": str(energy_kwh),
                    "billed_volume": str(energy_kwh),
                    "excl_vat": str(net),
                    "incl_vat": str(gross),
                }
            ],
            "signed_meter_values": [
                {"context": "Transaction.End", "verified": True, "reason": "signature valid"}
            ],
        }
    )


async def cdr(
    session_id: int,
    station_id: int,
    audience: str,
    *,
    seller: int | None,
    buyer_entity: int | None = None,
    buyer_contact: int | None = None,
    started_at: datetime,
    energy_kwh: Decimal = Decimal("10"),
    price: Decimal = Decimal("0.40"),
    error: str = "",
) -> int:
    """A CDR as the rater writes it (``error``: one it could not price)."""
    net = (energy_kwh * price).quantize(Decimal("0.0001"))
    gross = (net * Decimal("1.19")).quantize(Decimal("0.0001"))
    rated = not error
    (row,) = (
        await Cdr.insert(
            Cdr(
                session=session_id,
                audience=audience,
                status="rated" if rated else "error",
                error=error,
                station=station_id,
                seller_entity=seller,
                buyer_entity=buyer_entity,
                buyer_contact=buyer_contact,
                medium_uid="TAG1",
                started_at=started_at,
                stopped_at=started_at + timedelta(hours=1),
                time_zone=BERLIN,
                currency="EUR" if rated else "",
                energy_wh=int(energy_kwh * 1000) if rated else 0,
                charging_seconds=3600 if rated else 0,
                total_net_e4=int(net * 10000) if rated else 0,
                total_gross_e4=int(gross * 10000) if rated else 0,
                detail=detail(energy_kwh, price, started_at).decode() if rated else "{}",
                rated_at=_now(),
            )
        )
        .returning(Cdr.id)
        .run()
    )
    return int(row["id"])


async def user_token(entity: int, *permissions: str, scope: str = "own") -> str:
    group = await make_group(entity, scope=scope, permissions=permissions)
    return await token_for(await make_user([entity], [group]), entity)
