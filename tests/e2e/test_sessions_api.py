"""The charging-session read API end to end: a real node, the 1.6 and the
2.0.1 simulators running sessions, the operators' REST API over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from csms.bootstrap import Node
from simulators.ocpp16 import connect16
from simulators.ocpp201 import connect201
from tests.e2e.command_helpers import add_station, operator_api
from tests.e2e.conftest import ocpp_url
from tests.media_helpers import allow
from tests.world import admin_token, make_entity, make_group, make_user, token_for

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


async def test_a_16_and_a_201_session_read_the_same_way(node: Node) -> None:
    """A session run by the 1.6 simulator and one run by the 2.0.1 simulator
    are listed with the same fields and read by id with their station,
    connector, meter start and stop, energy, times and how they ended; the
    2.0.1 one carries the charger's transactionId."""
    operator = await make_entity("Operator")
    station16 = await add_station("CP-16", operator)
    station201 = await add_station("CS-201", operator)
    await allow("TAG-16", issuer=operator)
    await allow("TAG-201", issuer=operator)
    async with connect16(ocpp_url(node), "CP-16") as cp:
        await cp.boot()
        started = await cp.start_transaction(1, id_tag="TAG-16", meter_start=1_000, timestamp=T0)
        await cp.stop_transaction(
            started.transaction_id,
            meter_stop=4_500,
            timestamp=T0 + timedelta(minutes=30),
            reason="EVDisconnected",
        )
    async with connect201(ocpp_url(node), "CS-201", boot=True) as cs:
        await cs.start_transaction(1, id_token="TAG-201", meter_start=2_000, meter_interval=3600)
        tx = await cs.stop_transaction(1, reason="Local")

    async with operator_api(node, await admin_token(operator)) as api:
        listed = await api.get("/sessions")
        assert listed.status_code == 200, listed.text
        page = listed.json()
        assert (page["total"], page["limit"], page["offset"]) == (2, 50, 0)
        newest, oldest = page["items"]
        assert set(newest) == set(oldest)
        one = await api.get(f"/sessions/{oldest['id']}")
        assert one.status_code == 200, one.text
        assert one.json() == oldest
        two = (await api.get(f"/sessions/{newest['id']}")).json()
        assert two == newest

    assert oldest["id"] == started.transaction_id
    assert {
        key: oldest[key]
        for key in (
            "station_id",
            "charge_point_id",
            "connector_id",
            "id_tag",
            "status",
            "started_at",
            "stopped_at",
            "meter_start_wh",
            "meter_stop_wh",
            "energy_wh",
            "stop_reason",
            "closed_by",
            "started_offline",
            "charger_transaction_id",
        )
    } == {
        "station_id": station16,
        "charge_point_id": "CP-16",
        "connector_id": 1,
        "id_tag": "TAG-16",
        "status": "completed",
        "started_at": "2026-11-22T10:00:00Z",
        "stopped_at": "2026-11-22T10:30:00Z",
        "meter_start_wh": 1_000,
        "meter_stop_wh": 4_500,
        "energy_wh": 3_500,
        "stop_reason": "EVDisconnected",
        "closed_by": "charger",
        "started_offline": False,
        "charger_transaction_id": "",
    }
    assert two["station_id"] == station201 and two["charge_point_id"] == "CS-201"
    assert two["connector_id"] == 1 and two["id_tag"] == "TAG-201"
    assert two["status"] == "completed" and two["closed_by"] == "charger"
    assert two["charger_transaction_id"] == tx.transaction_id
    assert two["meter_start_wh"] == 2_000 == tx.meter_start
    assert tx.meter_stop is not None and two["meter_stop_wh"] == tx.meter_stop
    assert two["energy_wh"] == tx.meter_stop - 2_000
    assert two["stop_reason"] == "Local" and two["started_offline"] is False
    assert two["started_at"] is not None and two["stopped_at"] is not None


async def _sessions(api: Any, **params: Any) -> list[int]:
    answer = await api.get("/sessions", params=params)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


async def test_filters_pick_sessions_by_station_status_tag_and_start(node: Node) -> None:
    """station_id, status (active or completed), id_tag and
    started_after / started_before (zoned times) each narrow the list, and
    combine; a time without a zone or an unknown status is a 400."""
    operator = await make_entity("Operator")
    station = await add_station("CP-F", operator)
    other = await add_station("CP-OTHER", operator)
    await allow("TAG-A", issuer=operator)
    await allow("TAG-B", issuer=operator)
    async with connect16(ocpp_url(node), "CP-F") as cp:
        await cp.boot()
        first = await cp.start_transaction(1, id_tag="TAG-A", meter_start=0, timestamp=T0)
        await cp.stop_transaction(
            first.transaction_id, meter_stop=100, timestamp=T0 + timedelta(minutes=10)
        )
        second = await cp.start_transaction(
            2, id_tag="TAG-B", meter_start=0, timestamp=T0 + timedelta(hours=1)
        )
    a, b = first.transaction_id, second.transaction_id

    async with operator_api(node, await admin_token(operator)) as api:
        assert await _sessions(api) == [b, a]
        assert await _sessions(api, station_id=station) == [b, a]
        assert await _sessions(api, station_id=other) == []
        assert await _sessions(api, status="active") == [b]
        assert await _sessions(api, status="completed") == [a]
        assert await _sessions(api, id_tag="TAG-A") == [a]
        later = (T0 + timedelta(minutes=30)).isoformat()
        assert await _sessions(api, started_after=later) == [b]
        assert await _sessions(api, started_before=later) == [a]
        # The same instant written in another zone.
        assert await _sessions(api, started_after="2026-11-22T11:00:00+01:00") == [b, a]
        assert await _sessions(api, started_after="2026-11-22T11:00:01+01:00") == [b]
        assert await _sessions(api, status="completed", id_tag="TAG-B") == []

        naive = await api.get("/sessions", params={"started_after": "2026-11-22T10:00:00"})
        assert naive.status_code == 400, naive.text
        assert "time zone" in naive.json()["detail"]
        unknown = await api.get("/sessions", params={"status": "paused"})
        assert unknown.status_code == 400, unknown.text


async def test_another_entitys_sessions_are_not_found(node: Node) -> None:
    """A user of another entity, allowed to read stations of their own
    entity only, finds no session of this entity's station: an empty list
    and 404 by id, like a session that does not exist; without stations:read
    the list is 403."""
    operator = await make_entity("Operator")
    await add_station("CP-MINE", operator)
    await allow("TAG-M", issuer=operator)
    async with connect16(ocpp_url(node), "CP-MINE") as cp:
        await cp.boot()
        started = await cp.start_transaction(1, id_tag="TAG-M", meter_start=0)

    stranger = await make_entity("Stranger")
    readers = await make_group(stranger, scope="own", permissions=("stations:read",))
    reader = await token_for(await make_user([stranger], [readers]), stranger)
    blind = await make_group(stranger, scope="all", permissions=("media:read",))
    outsider = await token_for(await make_user([stranger], [blind]), stranger)

    async with operator_api(node, await admin_token(operator)) as api:
        assert await _sessions(api) == [started.transaction_id]
    async with operator_api(node, reader) as api:
        listed = await api.get("/sessions")
        assert listed.status_code == 200, listed.text
        assert listed.json()["items"] == [] and listed.json()["total"] == 0
        hidden = await api.get(f"/sessions/{started.transaction_id}")
        missing = await api.get("/sessions/987654")
        assert (hidden.status_code, missing.status_code) == (404, 404)
        assert hidden.json()["detail"] == f"there is no session {started.transaction_id}"
    async with operator_api(node, outsider) as api:
        assert (await api.get("/sessions")).status_code == 403
