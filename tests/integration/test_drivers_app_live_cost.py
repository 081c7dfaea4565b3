"""The drivers' app API, a live session: energy so far and its cost priced
with the driver's tariff over the rating engine's charging periods, with
parking (the connector's SuspendedEV) priced as parking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from crm.tables import DriverLogin
from csms import tables as t
from tests.billing_world import energy_tariff, make_tariff
from tests.drivers_app_helpers import APP, auth, drivers_client, entity_with_code, registered
from tests.e2e.command_helpers import add_station
from tests.world import make_entity


async def _live_session(station: int, email: str, start: datetime) -> int:
    row = (
        await DriverLogin.select(
            DriverLogin.contact, DriverLogin.entity, DriverLogin.app_medium.uid
        )
        .where(DriverLogin.email == email)
        .first()
    )
    (session,) = await t.ChargingSession.insert(
        t.ChargingSession(
            station=station,
            connector_id=1,
            id_tag=row["app_medium.uid"],
            status="active",
            started_at=start,
            meter_start_wh=10_000,
            owner_contact_id=row["contact"],
            bill_to_contact_id=row["contact"],
            issuing_entity_id=row["entity"],
            created_at=start,
            updated_at=start,
        )
    ).returning(t.ChargingSession.id)
    for minutes, register in ((10, "15000"), (20, "20000")):
        await t.MeterValue.insert(
            t.MeterValue(
                station=station,
                connector_id=1,
                session=session["id"],
                sampled_at=start + timedelta(minutes=minutes),
                value=register,
                unit="Wh",
                received_at=start,
            )
        ).run()
    for minutes, status in ((0, "Charging"), (20, "SuspendedEV")):
        await t.ConnectorStatusChange.insert(
            t.ConnectorStatusChange(
                station=station,
                connector_id=1,
                status=status,
                reported_at=start + timedelta(minutes=minutes),
                received_at=start,
            )
        ).run()
    return int(session["id"])


async def test_energy_and_parking_so_far_are_priced_with_the_drivers_tariff(db: None) -> None:
    """10 kWh in the first 20 minutes at 0.40, then about 20 minutes
    plugged in but not charging at 6.00 an hour: the cost so far is 4.00
    for energy plus about 2.00 parking (net; 19 % VAT on top)."""
    cpo = await make_entity("CPO")
    emp, code = await entity_with_code(may_act_as_sub_emp=True)
    station = await add_station("CP-LIVE", cpo)
    tariff = energy_tariff("LIVE", per_kwh="0.40", flat=None)
    tariff["elements"][0]["price_components"].append(
        {"type": "PARKING_TIME", "price": 6.0, "step_size": 1, "vat": 19.0}
    )
    await make_tariff(emp, tariff, audience="customer")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)
    async with drivers_client() as client:
        login = await registered(client, code)
        session = await _live_session(station, login["email"], start)
        live = await client.get(f"{APP}/sessions/{session}", headers=auth(login["access_token"]))
    answer = live.json()
    assert live.status_code == 200, live.text
    assert answer["status"] == "active" and answer["energy_wh"] == 10_000
    net = Decimal(answer["cost"]["total_net"])
    assert Decimal("5.90") < net < Decimal("6.10"), net
    gross = Decimal(answer["cost"]["total_gross"])
    assert abs(gross - net * Decimal("1.19")) < Decimal("0.001")
