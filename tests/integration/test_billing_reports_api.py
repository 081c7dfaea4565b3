"""Billing reports, where each session stands, and force purchase prices,
over real HTTP: revenue, energy and sessions per entity, station and local
month (a session at 23:30 local time on the last day belongs to that
month), totals across the entities seen, CSV; an entity with force purchase
prices sees only what it pays on the CDR list and detail, the session
status and the reports (JSON and CSV)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from crm.tables import Entity
from tests.integration.billing_world import (
    cdr,
    company,
    master_contact,
    person,
    session,
    station,
    user_token,
)
from tests.world import api_client, bearer

API = "/api/v1"
REPORT = f"{API}/reports/billing"
# 23:30 in Berlin (CET) on 31 October, and 00:30 on 1 November.
LAST_EVENING = datetime(2026, 10, 31, 22, 30, tzinfo=UTC)
FIRST_MORNING = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
MID_OCTOBER = datetime(2026, 10, 14, 9, 0, tzinfo=UTC)


async def _world() -> dict[str, int]:
    """Root operator R sells to its sub-EMP F (force purchase prices) at
    R's station; F resells to its customer K. Another station of R has a
    session of B's medium (emp, B buys)."""
    root = await company("Root Energie")
    f = await company("Flex Mobil", parent=root, may_act_as_sub_emp=True)
    b = await company("Beta Mobil", parent=root)
    s1 = await station(root, "CP-R-1")
    s2 = await station(root, "CP-R-2")
    k = await person(f, "Kai Kunde")
    evening = await session(s1, LAST_EVENING)
    morning = await session(s2, FIRST_MORNING)
    mid = await session(s1, MID_OCTOBER)
    ids = {"root": root, "f": f, "b": b, "s1": s1, "s2": s2, "k": k}
    ids["evening"], ids["morning"], ids["mid"] = evening, morning, mid
    f_contact = await master_contact(f)
    # What F pays R (0.40/kWh) and what K pays F (0.59/kWh), for two sessions.
    ids["f_pays"] = await cdr(
        evening, s1, "emp", seller=root, buyer_entity=f, buyer_contact=f_contact,
        started_at=LAST_EVENING,
    )  # fmt: skip
    ids["k_pays"] = await cdr(
        evening, s1, "customer", seller=f, buyer_contact=k, started_at=LAST_EVENING,
        price=Decimal("0.59"),
    )  # fmt: skip
    ids["f_pays_mid"] = await cdr(
        mid, s1, "emp", seller=root, buyer_entity=f, buyer_contact=f_contact,
        started_at=MID_OCTOBER, energy_kwh=Decimal("20"),
    )  # fmt: skip
    ids["k_pays_mid"] = await cdr(
        mid, s1, "customer", seller=f, buyer_contact=k, started_at=MID_OCTOBER,
        energy_kwh=Decimal("20"), price=Decimal("0.59"),
    )  # fmt: skip
    ids["b_pays"] = await cdr(
        morning, s2, "emp", seller=root, buyer_entity=b, buyer_contact=await master_contact(b),
        started_at=FIRST_MORNING, energy_kwh=Decimal("5"),
    )  # fmt: skip
    return ids


async def _force(entity: int, on: bool = True) -> None:
    await Entity.update({Entity.force_purchase_prices: on}).where(Entity.id == entity).run()


def _rows(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in answer["rows"]}


async def test_reports_per_month_entity_and_station_with_totals(db: None) -> None:
    """Root's reader (subtree): months in Berlin time (23:30 on 31 October
    is October, 00:30 on 1 November is November), per seller entity and
    per station, totals across, audiences apart, from/to and audience
    filters; the CSV says the same."""
    w = await _world()
    token = await user_token(w["root"], "billing:read", scope="subtree")
    async with api_client() as client:
        months = await client.get(REPORT, params={"group_by": "month"}, headers=bearer(token))
        entities = await client.get(REPORT, headers=bearer(token))
        stations = await client.get(
            REPORT, params={"group_by": "station", "audience": "emp"}, headers=bearer(token)
        )
        october = await client.get(
            REPORT,
            params={"group_by": "month", "from": "2026-10", "to": "2026-10"},
            headers=bearer(token),
        )
        csv_answer = await client.get(
            f"{REPORT}.csv", params={"group_by": "month"}, headers=bearer(token)
        )
    assert months.status_code == 200, months.text
    by_month = _rows(months.json())
    assert sorted(by_month) == ["2026-10", "2026-11"]
    oct_row, nov_row = by_month["2026-10"], by_month["2026-11"]
    # October: two sessions (10 + 20 kWh), emp 4.00 + 8.00, customer 5.90 + 11.80.
    assert oct_row["sessions"] == 2 and oct_row["energy_kwh"] == "30.000"
    assert oct_row["by_audience"]["emp"] == {"net": "12.0000", "gross": "14.2800"}
    assert oct_row["by_audience"]["customer"] == {"net": "17.7000", "gross": "21.0630"}
    assert oct_row["net"] == "29.7000"
    assert nov_row["sessions"] == 1 and nov_row["net"] == "2.0000"
    (total,) = months.json()["totals"]
    assert total["sessions"] == 3 and total["net"] == "31.7000" and total["energy_kwh"] == "35.000"
    assert months.json()["purchase_prices_only"] is False

    by_entity = _rows(entities.json())
    assert by_entity[str(w["root"])]["label"] == "Root Energie"
    assert by_entity[str(w["root"])]["net"] == "14.0000"
    assert by_entity[str(w["f"])]["net"] == "17.7000"
    by_station = _rows(stations.json())
    assert by_station[str(w["s1"])]["label"] == "CP-R-1"
    assert by_station[str(w["s1"])]["net"] == "12.0000"
    assert by_station[str(w["s2"])]["net"] == "2.0000"
    assert list(by_station[str(w["s1"])]["by_audience"]) == ["emp"]
    assert sorted(_rows(october.json())) == ["2026-10"]

    assert csv_answer.status_code == 200
    assert csv_answer.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(csv_answer.text, newline="")))
    assert [(r["group"], r["key"]) for r in table] == [
        ("month", "2026-10"),
        ("month", "2026-11"),
        ("total", "total"),
    ]
    assert table[0]["customer_net"] == "17.7000" and table[0]["sub_cpo_net"] == ""
    assert table[2]["net"] == "31.7000" and table[2]["sessions"] == "3"


async def test_reports_are_scoped_and_check_their_input(db: None) -> None:
    """B's reader sees only what B is party to; bad parameters are 400
    naming them; no billing:read is 403."""
    w = await _world()
    b_user = await user_token(w["b"], "billing:read")
    no_billing = await user_token(w["b"], "stations:read")
    async with api_client() as client:
        mine = await client.get(REPORT, params={"group_by": "station"}, headers=bearer(b_user))
        bad = {
            name: await client.get(REPORT, params=params, headers=bearer(b_user))
            for name, params in {
                "group_by": {"group_by": "medium"},
                "from": {"from": "2026-13"},
                "to": {"to": "October"},
                "audience": {"audience": "retail"},
            }.items()
        }
        backwards = await client.get(
            REPORT, params={"from": "2026-11", "to": "2026-10"}, headers=bearer(b_user)
        )
        forbidden = await client.get(REPORT, headers=bearer(no_billing))
        forbidden_csv = await client.get(f"{REPORT}.csv", headers=bearer(no_billing))
    assert [row["key"] for row in mine.json()["rows"]] == [str(w["s2"])]
    assert mine.json()["totals"][0]["net"] == "2.0000"
    for name, answer in bad.items():
        assert answer.status_code == 400 and name in answer.text, (name, answer.text)
    assert backwards.status_code == 400 and "from" in backwards.text
    assert forbidden.status_code == 403 and forbidden_csv.status_code == 403


async def test_force_purchase_prices_shows_only_what_the_entity_pays(db: None) -> None:
    """F (sub-EMP) sees its customer's price without the flag; with force
    purchase prices set it sees only what it pays R: the CDR list, the
    customer CDR's detail (404), the session's status (no customer
    audience), the report and its CSV (no customer revenue)."""
    w = await _world()
    token = await user_token(w["f"], "billing:read", "stations:read")
    root_token = await user_token(w["root"], "billing:read", "stations:read", scope="subtree")

    async def look() -> dict[str, Any]:
        async with api_client() as client:
            return {
                "cdrs": await client.get(f"{API}/cdrs", headers=bearer(token)),
                "customer": await client.get(f"{API}/cdrs/{w['k_pays']}", headers=bearer(token)),
                "emp": await client.get(f"{API}/cdrs/{w['f_pays']}", headers=bearer(token)),
                "report": await client.get(
                    REPORT, params={"group_by": "month"}, headers=bearer(token)
                ),
                "csv": await client.get(f"{REPORT}.csv", headers=bearer(token)),
                "root_status": await client.get(
                    f"{API}/sessions/{w['evening']}/billing", headers=bearer(root_token)
                ),
            }

    before = await look()
    await _force(w["f"])
    after = await look()

    assert sorted(c["id"] for c in before["cdrs"].json()["items"]) == sorted(
        [w["f_pays"], w["k_pays"], w["f_pays_mid"], w["k_pays_mid"]]
    )
    assert before["customer"].status_code == 200
    assert "customer" in before["report"].json()["rows"][0]["by_audience"]

    assert sorted(c["id"] for c in after["cdrs"].json()["items"]) == sorted(
        [w["f_pays"], w["f_pays_mid"]]
    )
    assert {c["audience"] for c in after["cdrs"].json()["items"]} == {"emp"}
    assert after["customer"].status_code == 404
    assert after["emp"].status_code == 200
    report = after["report"].json()
    assert report["purchase_prices_only"] is True
    assert [list(r["by_audience"]) for r in report["rows"]] == [["emp"]]
    assert report["totals"][0]["net"] == "12.0000"
    table = list(csv.DictReader(io.StringIO(after["csv"].text, newline="")))
    assert all(row["customer_net"] == "" for row in table)
    assert "17.7" not in after["csv"].text and "5.9" not in after["csv"].text
    # The flag is the active entity's: root (unflagged) still sees both.
    assert len(after["root_status"].json()["audiences"]) == 2


async def test_force_purchase_prices_on_the_session_status(db: None) -> None:
    """F's own station: its session's status shows the customer audience
    without the flag and only what F pays with it."""
    w = await _world()
    s = await station(w["f"], "CP-F-1")
    one = await session(s, MID_OCTOBER)
    await cdr(one, s, "emp", seller=w["root"], buyer_entity=w["f"], started_at=MID_OCTOBER)
    await cdr(one, s, "customer", seller=w["f"], buyer_contact=w["k"], started_at=MID_OCTOBER)
    token = await user_token(w["f"], "billing:read", "stations:read")
    async with api_client() as client:
        before = await client.get(f"{API}/sessions/{one}/billing", headers=bearer(token))
        await _force(w["f"])
        after = await client.get(f"{API}/sessions/{one}/billing", headers=bearer(token))
    assert [a["audience"] for a in before.json()["audiences"]] == ["emp", "customer"]
    assert [a["audience"] for a in after.json()["audiences"]] == ["emp"]


async def test_where_each_session_stands(db: None) -> None:
    """Active and queued sessions are not rated; a rated one shows each
    audience, an error with its reason; a session of a station out of scope
    is 404 like one that does not exist; no stations:read is 403."""
    w = await _world()
    active = await session(w["s1"], MID_OCTOBER, status="active")
    queued = await session(w["s1"], MID_OCTOBER, queued=True)
    broken = await session(w["s1"], MID_OCTOBER)
    await cdr(
        broken, w["s1"], "emp", seller=w["root"], started_at=MID_OCTOBER,
        error="no tariff applies: entity 1 assigned none for audience emp at this station",
    )  # fmt: skip
    other_owner = await company("Other CPO")
    elsewhere = await session(await station(other_owner, "CP-O-1"), MID_OCTOBER)
    token = await user_token(w["root"], "billing:read", "stations:read")
    billing_only = await user_token(w["root"], "billing:read")
    stations_only = await user_token(w["root"], "stations:read")
    async with api_client() as client:

        async def status(session_id: int, who: str = token) -> tuple[int, dict[str, Any]]:
            answer = await client.get(f"{API}/sessions/{session_id}/billing", headers=bearer(who))
            return answer.status_code, answer.json()

        got = {
            "active": await status(active),
            "queued": await status(queued),
            "broken": await status(broken),
            "rated": await status(w["mid"]),
            "elsewhere": await status(elsewhere),
            "nothing": await status(987_654),
            "no stations": await status(w["mid"], billing_only),
            "no billing": await status(w["mid"], stations_only),
        }
    assert got["active"] == (
        200,
        {"session_id": active, "state": "not_rated", "reason": "active", "audiences": []},
    )
    assert got["queued"][1]["state"] == "not_rated" and got["queued"][1]["reason"] == "queued"
    (error,) = got["broken"][1]["audiences"]
    assert error["state"] == "error" and error["error"].startswith("no tariff applies")
    rated = got["rated"][1]
    assert rated["state"] == "rated"
    assert [(a["audience"], a["state"]) for a in rated["audiences"]] == [("emp", "rated")]
    assert got["elsewhere"][0] == 404 and got["nothing"][0] == 404
    assert got["no stations"][0] == 403
    # Seeing the session without billing:read: its state, no audience.
    assert got["no billing"] == (
        200,
        {"session_id": w["mid"], "state": "rated", "reason": "", "audiences": []},
    )
