"""The drivers' app API, stations: those the driver's media may use by the
access rules (the station's and its group's), near a position, paginated,
with the tariff that applies to the driver."""

from __future__ import annotations

from datetime import UTC, datetime

from csms import tables as t
from tests.billing_world import energy_tariff, make_tariff
from tests.drivers_app_helpers import APP, auth, drivers_client, entity_with_code, registered
from tests.e2e.command_helpers import add_station
from tests.world import make_entity


async def _rule(effect: str, subject: str, value: str, **target: int) -> None:
    await t.AccessRule.insert(
        t.AccessRule(
            effect=effect, subject=subject, value=value, created_at=datetime.now(UTC), **target
        )
    ).run()


async def _group(owner: int, *stations: int) -> int:
    now = datetime.now(UTC)
    (row,) = await t.StationGroup.insert(
        t.StationGroup(owner_entity=owner, name="G", created_at=now, updated_at=now)
    ).returning(t.StationGroup.id)
    await t.Station.update({t.Station.station_group: row["id"]}).where(
        t.Station.id.is_in(list(stations))
    )
    return int(row["id"])


async def _at(station: int, lat: str, lon: str) -> None:
    await t.Station.update({t.Station.latitude: lat, t.Station.longitude: lon}).where(
        t.Station.id == station
    )


async def test_a_group_rule_decides_as_for_a_charger(db: None) -> None:
    """A station whose group denies the driver's entity is not listed; a
    public one and one whose group allows the entity are."""
    cpo = await make_entity("CPO")
    emp, code = await entity_with_code()
    public = await add_station("CP-PUBLIC", cpo)
    allowed = await add_station("CP-ALLOWED", cpo)
    denied = await add_station("CP-DENIED", cpo)
    await _rule("allow", "issuing_entity", str(emp), station_group=await _group(cpo, allowed))
    await _rule("deny", "issuing_entity", str(emp), station_group=await _group(cpo, denied))
    async with drivers_client() as client:
        login = await registered(client, code)
        page = (await client.get(f"{APP}/stations", headers=auth(login["access_token"]))).json()
    assert [s["id"] for s in page["items"]] == [public, allowed]
    assert page["total"] == 2


async def test_nearest_first_within_the_radius_and_paginated(db: None) -> None:
    """With lat/lon the stations within radius_km come nearest first, each
    with its distance; limit/offset page through them."""
    cpo = await make_entity("CPO")
    _, code = await entity_with_code()
    far = await add_station("FAR", cpo)
    near = await add_station("NEAR", cpo)
    nearer = await add_station("NEARER", cpo)
    await _at(far, "48.137154", "11.576124")  # Munich
    await _at(near, "52.53", "13.40")
    await _at(nearer, "52.521", "13.405")
    async with drivers_client() as client:
        login = await registered(client, code)
        headers = auth(login["access_token"])
        params = {"lat": "52.52", "lon": "13.405", "radius_km": "10", "limit": "1"}
        first = (await client.get(f"{APP}/stations", params=params, headers=headers)).json()
        second = (
            await client.get(f"{APP}/stations", params={**params, "offset": "1"}, headers=headers)
        ).json()
        lonely = await client.get(f"{APP}/stations", params={"lat": "52.5"}, headers=headers)
    assert [s["charge_point_id"] for s in first["items"] + second["items"]] == ["NEARER", "NEAR"]
    assert first["total"] == 2
    assert float(first["items"][0]["distance_km"]) < float(second["items"][0]["distance_km"]) < 2
    assert lonely.status_code == 400


async def test_the_customer_tariff_of_the_invoicing_entity_is_shown(db: None) -> None:
    """The tariff is the driver's entity's customer tariff (prices as OCPI
    numbers); the CPO's emp tariff is not the driver's."""
    cpo = await make_entity("CPO")
    emp, code = await entity_with_code(may_act_as_sub_emp=True)
    await add_station("CP-T", cpo)
    await make_tariff(cpo, energy_tariff("CPO-EMP", per_kwh="0.30"), audience="emp")
    await make_tariff(emp, energy_tariff("END", per_kwh="0.59"), audience="customer")
    async with drivers_client() as client:
        login = await registered(client, code)
        page = (await client.get(f"{APP}/stations", headers=auth(login["access_token"]))).json()
    tariff = page["items"][0]["tariff"]
    assert tariff["ocpi"]["id"] == "END"
    prices = [c["price"] for e in tariff["ocpi"]["elements"] for c in e["price_components"]]
    assert 0.59 in prices
