"""The operators' pages for sessions never stopped and the price check,
over HTTP (the API's own services behind them)."""

from __future__ import annotations

import re
from pathlib import Path

from csms.tables import ChargingSession
from tests.e2e.ui_helpers import operator_user
from tests.integration.test_stale_sessions_api import T0, _open_session, _station
from tests.world import PASSWORD, api_client, make_entity

CASE = Path(__file__).parents[1] / "data" / "ocpi-tariff-cases" / "simple_025kwh"
TARIFF, CDR = (CASE / "tariff.json").read_text(), (CASE / "cdr1.json").read_text()


async def _logged_in(client: object, email: str) -> str:
    page = await client.get("/login")  # type: ignore[attr-defined]
    (token,) = re.findall(r'name="_csrf" value="([^"]+)"', page.text)[:1]
    answer = await client.post(  # type: ignore[attr-defined]
        "/login",
        data={"_csrf": token, "email": email, "password": PASSWORD, "next": "/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    return str(token)


async def test_sessions_never_stopped_are_listed_and_closed_from_their_page(db: None) -> None:
    """The page lists the user's station's session left open (rule
    superseded) and not another entity's; its button closes it."""
    from datetime import timedelta

    a, b = await make_entity("Alpha"), await make_entity("Bravo")
    station_a, station_b = await _station("CP-A", a), await _station("CP-B", b)
    left_a = await _open_session(station_a, T0)
    await _open_session(station_a, T0 + timedelta(hours=1))
    left_b = await _open_session(station_b, T0)
    await _open_session(station_b, T0 + timedelta(hours=1))
    await operator_user([a], email="anna@alpha.example")
    async with api_client() as client:
        csrf = await _logged_in(client, "anna@alpha.example")
        listed = await client.get("/sessions/stale")
        closed = await client.post("/sessions/stale/close", data={"_csrf": csrf})
    assert listed.status_code == 200
    assert f'href="/sessions/{left_a}"' in listed.text
    assert f'href="/sessions/{left_b}"' not in listed.text
    assert "superseded" in listed.text and 'data-testid="close-stale"' in listed.text
    assert closed.status_code == 200 and 'data-testid="closed"' in closed.text
    row = (
        await ChargingSession.select(ChargingSession.status)
        .where(ChargingSession.id == left_a)
        .first()
    )
    assert row is not None and row["status"] == "completed"


async def test_the_price_check_shows_the_totals_and_each_parts_problem(db: None) -> None:
    """A reference tariff and CDR show the CDR's total (5.00 net, 5.50
    gross at 4 decimals); text that is not JSON, a tariff the parser
    refuses and an unknown zone each show their message beside their field
    with what was entered kept (400)."""
    a = await make_entity("Alpha")
    await operator_user([a], email="anna@alpha.example")
    async with api_client() as client:
        csrf = await _logged_in(client, "anna@alpha.example")
        form = await client.get("/tariffs/price")
        priced = await client.post(
            "/tariffs/price", data={"_csrf": csrf, "tariff": TARIFF, "cdr": CDR}
        )
        not_json = await client.post(
            "/tariffs/price", data={"_csrf": csrf, "tariff": "{oops", "cdr": CDR}
        )
        refused = await client.post(
            "/tariffs/price", data={"_csrf": csrf, "tariff": '{"currency": 5}', "cdr": CDR}
        )
        zone = await client.post(
            "/tariffs/price",
            data={"_csrf": csrf, "tariff": TARIFF, "cdr": CDR, "time_zone": "Mars/Olympus"},
        )
    assert form.status_code == 200
    assert priced.status_code == 200, priced.text
    assert re.search(r"<td>Total cost</td><td class=\"num\">5(\.0+)?</td>", priced.text)
    assert not_json.status_code == 400 and 'id="tariff-error"' in not_json.text
    assert "{oops" in not_json.text
    assert refused.status_code == 400 and 'id="tariff-error"' in refused.text
    assert zone.status_code == 400 and 'id="time_zone-error"' in zone.text
