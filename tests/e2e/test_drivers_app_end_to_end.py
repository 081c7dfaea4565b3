"""The drivers' app API end to end on a real node with a simulated 1.6
charger: a driver registers with entity E, verifies (the code read from the
mail outbox), logs in, sees the stations E's media may use, starts a charge
through the API, watches it, stops it, and after the rating and the billing
run finds the invoice and downloads its PDF."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx

from billing.tables import Cdr
from csms import tables as t
from csms.bootstrap import Node
from csms.tables import ChargingSession, RatingQueue
from simulators.ocpp16 import connect16
from tests.billing_world import energy_tariff, make_tariff
from tests.drivers_app_helpers import (
    APP,
    PASSWORD,
    auth,
    entity_with_code,
    mailed_code,
    registration,
    unique_email,
)
from tests.e2e.command_helpers import add_station, wait_until
from tests.e2e.conftest import StartNode, ocpp_url
from tests.e2e.test_billing_end_to_end import pdf_text, run_cli
from tests.world import make_entity

BERLIN = ZoneInfo("Europe/Berlin")


async def _allow_only(station_id: int, issuer: int) -> None:
    await t.AccessRule.insert(
        t.AccessRule(
            station=station_id,
            effect="allow",
            subject="issuing_entity",
            value=str(issuer),
            created_at=datetime.now(UTC),
        )
    ).run()


async def _place(station_id: int, latitude: str, longitude: str) -> None:
    await t.Station.update(
        {
            t.Station.latitude: latitude,
            t.Station.longitude: longitude,
            t.Station.time_zone: "Europe/Berlin",
        }
    ).where(t.Station.id == station_id)


async def _rated(session_id: int, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        queued = await RatingQueue.count().where(RatingQueue.session == session_id)
        if not queued and await Cdr.count().where(Cdr.session == session_id):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"session {session_id} not rated in {timeout} s")


async def test_a_driver_registers_charges_and_downloads_the_invoice(
    start_node: StartNode,
) -> None:
    """The whole journey of issue 13's acceptance, through /app/v1 only
    (besides the operator's billing run)."""
    node: Node = await start_node(rating_interval=0.2, app_rate_limit=1000)
    cpo = await make_entity(
        "CPO Nord GmbH",
        kind="cpo",
        country="DE",
        street="Nordweg 3",
        postal_code="20095",
        city="Hamburg",
        vat_id="DE333333333",
        time_zone="Europe/Berlin",
    )
    emp, code = await entity_with_code(
        "EMP E GmbH",
        kind="emp",
        country="DE",
        street="E-Allee 4",
        postal_code="10115",
        city="Berlin",
        vat_id="DE444444444",
        may_act_as_sub_emp=True,
        time_zone="Europe/Berlin",
        customer_number_format="E-%05d",
    )
    other = await make_entity("Other EMP", kind="emp", country="DE")
    usable = await add_station("CP-APP-1", cpo)
    foreign = await add_station("CP-APP-2", cpo)
    far = await add_station("CP-APP-FAR", cpo)
    await _allow_only(usable, emp)
    await _allow_only(foreign, other)
    await _place(usable, "52.520008", "13.404954")  # Berlin
    await _place(foreign, "52.521", "13.405")
    await _place(far, "48.137154", "11.576124")  # Munich
    await make_tariff(cpo, energy_tariff("CPO-EMP", per_kwh="0.30"), audience="emp")
    await make_tariff(emp, energy_tariff("E-END", per_kwh="0.59"), audience="customer")

    email = unique_email("journey")
    base = f"http://127.0.0.1:{node.http_port}{APP}"
    async with (
        httpx.AsyncClient(base_url=base, timeout=60) as app,
        connect16(
            ocpp_url(node),
            "CP-APP-1",
            connectors=2,
            cp_options={
                "remote_session_duration": 600,
                "remote_meter_interval": 0.5,
                "power_w": 22_000,
            },
        ) as cp,
    ):
        assert (await cp.boot()).status == "Accepted"
        await cp.announce()

        registered = await app.post("/registrations", json=registration(code, email))
        assert registered.status_code == 202, registered.text
        verified = await app.post(
            "/verification", json={"token": await mailed_code(email, "verify")}
        )
        assert verified.status_code == 204, verified.text
        login = await app.post("/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        headers = auth(login.json()["access_token"])
        me = (await app.get("/me", headers=headers)).json()
        assert me["verified"] and me["customer_number"] == "E-00001"

        near = (
            await app.get(
                "/stations",
                params={"lat": "52.52", "lon": "13.40", "radius_km": "50"},
                headers=headers,
            )
        ).json()
        assert [s["charge_point_id"] for s in near["items"]] == ["CP-APP-1"]
        (station,) = near["items"]
        assert [c["status"] for c in station["connectors"]] == ["Available", "Available"]
        assert station["tariff"]["currency"] == "EUR" and Decimal(station["distance_km"]) < 1
        everywhere = (await app.get("/stations", headers=headers)).json()
        assert {s["charge_point_id"] for s in everywhere["items"]} == {"CP-APP-1", "CP-APP-FAR"}

        started = await app.post(
            "/charging/start", json={"station_id": usable, "connector_id": 1}, headers=headers
        )
        assert started.status_code == 200, started.text
        assert started.json() == {"result": "answered", "status": "Accepted", "detail": ""}

        async def charging() -> bool:
            page = (await app.get("/sessions", params={"active": "true"}, headers=headers)).json()
            return bool(page["items"]) and (page["items"][0]["energy_wh"] or 0) > 0

        await asyncio.wait_for(wait_until(charging), 30)
        live = (await app.get("/sessions", params={"active": "true"}, headers=headers)).json()
        (session,) = live["items"]
        assert session["status"] == "active" and session["charge_point_id"] == "CP-APP-1"
        assert session["cost"]["currency"] == "EUR"
        # At least the session fee (1.00 net) and the energy so far.
        assert Decimal(session["cost"]["total_net"]) >= Decimal("1.00")
        assert session["duration_seconds"] >= 0
        watched = (await app.get(f"/sessions/{session['id']}", headers=headers)).json()
        assert watched["id"] == session["id"] and watched["energy_wh"] >= session["energy_wh"]

        stopped = await app.post(f"/sessions/{session['id']}/stop", headers=headers)
        assert stopped.status_code == 200 and stopped.json()["status"] == "Accepted", stopped.text

        async def completed() -> bool:
            row = (
                await ChargingSession.select(ChargingSession.status)
                .where(ChargingSession.id == session["id"])
                .first()
            )
            return row is not None and row["status"] == "completed"

        await asyncio.wait_for(wait_until(completed), 30)
        await _rated(session["id"])

        history = (await app.get("/sessions", headers=headers)).json()
        (done,) = history["items"]
        assert done["status"] == "completed" and done["stop_reason"] == "Remote"
        assert done["cost"]["currency"] == "EUR"
        assert Decimal(done["cost"]["total_gross"]) > Decimal(done["cost"]["total_net"])

        period = datetime.now(UTC).astimezone(BERLIN).strftime("%Y-%m")
        run = await run_cli("billing", "run", "--entity", str(emp), "--period", period, "--json")
        assert [d["recipient_name"] for d in run["documents"]] == ["Erika Mustermann"]

        invoices = (await app.get("/invoices", headers=headers)).json()
        (invoice,) = invoices
        assert invoice["kind"] == "invoice"
        assert Decimal(invoice["total_gross"]) == Decimal(run["documents"][0]["total_gross"])
        pdf = await app.get(f"/invoices/{invoice['id']}/pdf", headers=headers)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        text = pdf_text(pdf.content)
        assert invoice["number"] in text and "Erika Mustermann" in text
        billed = (await app.get(f"/sessions/{session['id']}", headers=headers)).json()
        assert billed["document_id"] == invoice["id"]


async def test_an_unverified_driver_is_refused_before_the_charger_is_asked(
    start_node: StartNode,
) -> None:
    """Logged in but not verified: remote start is 403 and the charger
    receives no RemoteStartTransaction."""
    node: Node = await start_node(app_rate_limit=1000)
    cpo = await make_entity("CPO", kind="cpo")
    _, code = await entity_with_code("EMP")
    station = await add_station("CP-APP-UNVERIFIED", cpo)
    email = unique_email()
    base = f"http://127.0.0.1:{node.http_port}{APP}"
    async with (
        httpx.AsyncClient(base_url=base, timeout=60) as app,
        connect16(ocpp_url(node), "CP-APP-UNVERIFIED") as cp,
    ):
        assert (await cp.boot()).status == "Accepted"
        assert (await app.post("/registrations", json=registration(code, email))).status_code == 202
        login = await app.post("/login", json={"email": email, "password": PASSWORD})
        started = await app.post(
            "/charging/start",
            json={"station_id": station, "connector_id": 1},
            headers=auth(login.json()["access_token"]),
        )
        assert started.status_code == 403, started.text
        assert cp.received_calls("RemoteStartTransaction") == []
