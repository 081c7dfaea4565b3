"""Sessions a charger never stopped, through the API (``csms session stale``
for operators): seen and closed within the caller's stations only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from csms.storage.stations import PiccoloStationAdmin
from csms.tables import ChargingSession, Station
from tests.world import api_client, bearer, make_entity, make_group, make_user, token_for

# Recent: only the rule 'superseded' applies, not 'inactive' (24 h).
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)


async def _station(name: str, owner: int) -> int:
    await PiccoloStationAdmin().add(name)
    await Station.update({Station.owner_entity: owner}).where(Station.charge_point_id == name).run()
    row = await Station.select(Station.id).where(Station.charge_point_id == name).first()
    assert row is not None
    return int(row["id"])


async def _open_session(station: int, started_at: datetime) -> int:
    (row,) = await ChargingSession.insert(
        ChargingSession(
            station=station,
            connector_id=1,
            id_tag="TAG",
            started_at=started_at,
            status="active",
            created_at=started_at,
            updated_at=started_at,
        )
    ).run()
    return int(row["id"])


async def test_stale_sessions_are_listed_and_closed_within_the_callers_stations(
    db: None,
) -> None:
    """At A's and B's stations a session was left open when its connector
    started another. A's operator sees and closes A's only (superseded, the
    later start as its stop), B's stays open; a user who may only read
    stations is refused the close (403)."""
    a, b = await make_entity("Alpha"), await make_entity("Bravo")
    station_a, station_b = await _station("CP-A", a), await _station("CP-B", b)
    left_a = await _open_session(station_a, T0)
    await _open_session(station_a, T0 + timedelta(hours=1))
    left_b = await _open_session(station_b, T0)
    await _open_session(station_b, T0 + timedelta(hours=1))
    operator = await make_user([a], [await make_group(a, permissions=["stations:*"])])
    reader = await make_user([a], [await make_group(a, permissions=["stations:read"])])
    async with api_client() as client:
        token = bearer(await token_for(operator, a))
        listed = await client.get("/api/v1/sessions/stale", headers=token)
        refused = await client.post(
            "/api/v1/sessions/stale/close", headers=bearer(await token_for(reader, a))
        )
        closed = await client.post("/api/v1/sessions/stale/close", headers=token)
        again = await client.get("/api/v1/sessions/stale", headers=token)
        session = await client.get(f"/api/v1/sessions/{left_a}", headers=token)
    assert listed.status_code == 200, listed.text
    assert [(s["session_id"], s["rule"]) for s in listed.json()] == [(left_a, "superseded")]
    assert refused.status_code == 403
    assert [s["session_id"] for s in closed.json()] == [left_a]
    assert again.json() == []
    assert session.json()["status"] == "completed"
    assert session.json()["closed_by"] == "rule:superseded"
    row = (
        await ChargingSession.select(ChargingSession.status)
        .where(ChargingSession.id == left_b)
        .first()
    )
    assert row is not None and row["status"] == "active"
