"""Parity of the operators' API with the CLI for stations (issue 12 item 8):
register (``csms station add``), remove (``csms station remove``), the
history (``csms station events``) and the raw OCPP message log (``csms
station messages``), over real HTTP, within the caller's scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from admin_ui.api.context import ApiContext
from crm.tables import AuditEntry
from csms.domain.credentials import verify_secret
from csms.tables import ChargingSession, MeterValue, OcppMessage, Station, StationEvent
from tests.integration.test_stations_api import Announced, make_station, user_token
from tests.world import api_client, bearer, make_entity

API = "/api/v1"
BOOT = '{"chargePointVendor":"V","chargePointModel":"M","chargePointSerialNumber":"SN-SECRET"}'


class World:
    """Operator root with subsidiaries A and B, a station each."""

    root: int
    a: int
    b: int
    station_a: int
    station_b: int


async def world() -> World:
    w = World()
    w.root = await make_entity("Root")
    w.a = await make_entity("A", parent=w.root)
    w.b = await make_entity("B", parent=w.root)
    w.station_a = await make_station("CP-A", w.a)
    w.station_b = await make_station("CP-B", w.b)
    return w


async def station_row(charge_point_id: str) -> dict[str, Any] | None:
    return await Station.select().where(Station.charge_point_id == charge_point_id).first().run()


# -- create --------------------------------------------------------------------------------------


async def test_a_station_is_created_for_the_callers_entity_with_its_fields(db: None) -> None:
    """POST /stations answers 201 with the station, owned by the active
    entity by default, with the status, flags, profile and address sent, the
    secret stored as a hash that verifies; the change is announced."""
    w = await world()
    token = await user_token(w.a)
    announced = Announced()
    body = {
        "charge_point_id": "CP-NEW_1",
        "description": "Hof",
        "registration_status": "pending",
        "secret": "a-secret-of-20-chars",
        "security_profile": 2,
        "assume_ocpp16": True,
        "leniency": ["numbers_as_strings"],
        "city": "Berlin",
        "country": "DE",
        "latitude": "52.52",
        "longitude": "13.40",
        "time_zone": "Europe/Berlin",
    }
    async with api_client(ApiContext(station_changes=announced)) as client:
        created = await client.post(f"{API}/stations", json=body, headers=bearer(token))
        read = await client.get(f"{API}/stations/{created.json()['id']}", headers=bearer(token))
    assert created.status_code == 201, created.text
    station = created.json()
    assert station["charge_point_id"] == "CP-NEW_1"
    assert station["owner_entity_id"] == w.a
    assert station["registration_status"] == "Pending"
    assert station["has_secret"] is True
    assert station["secret"] is None
    assert (station["city"], station["time_zone"]) == ("Berlin", "Europe/Berlin")
    assert read.status_code == 200
    row = await station_row("CP-NEW_1")
    assert row is not None
    assert verify_secret("a-secret-of-20-chars", row["auth_secret_hash"])
    assert (row["security_profile"], row["assume_ocpp16"], row["leniency"]) == (
        2,
        True,
        "numbers_as_strings",
    )
    assert announced.changes == [frozenset({station["id"]})]


async def test_a_generated_secret_is_shown_once_in_the_answer(db: None) -> None:
    """generate_secret: the answer carries the secret (once), the station
    stores its hash; a later read shows no secret."""
    w = await world()
    token = await user_token(w.a)
    async with api_client() as client:
        created = await client.post(
            f"{API}/stations",
            json={"charge_point_id": "CP-GEN", "generate_secret": True},
            headers=bearer(token),
        )
        read = await client.get(f"{API}/stations/{created.json()['id']}", headers=bearer(token))
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    assert isinstance(secret, str) and len(secret) >= 16
    row = await station_row("CP-GEN")
    assert row is not None and verify_secret(secret, row["auth_secret_hash"])
    assert "secret" not in read.json()


async def test_a_duplicate_charge_point_id_is_a_conflict(db: None) -> None:
    """A charge point id that exists (even another entity's) answers 409
    naming the field, and nothing changes."""
    w = await world()
    token = await user_token(w.a)
    async with api_client() as client:
        again = await client.post(
            f"{API}/stations", json={"charge_point_id": "CP-B"}, headers=bearer(token)
        )
    assert again.status_code == 409, again.text
    assert again.json()["detail"].startswith("charge_point_id:")
    row = await station_row("CP-B")
    assert row is not None and row["owner_entity"] == w.b


async def test_bad_input_is_refused_with_the_field_named(db: None) -> None:
    """Each bad field answers 400 with a message naming it; no station is
    written. The charge point id follows the gateway's rule."""
    w = await world()
    token = await user_token(w.a)
    cases = {
        "charge_point_id": {"charge_point_id": "has:colon"},
        "charge_point_id ": {"charge_point_id": "x" * 49},
        "secret": {"charge_point_id": "CP-1", "secret": "short"},
        "registration_status": {"charge_point_id": "CP-1", "registration_status": "Maybe"},
        "security_profile": {"charge_point_id": "CP-1", "security_profile": 4},
        "leniency": {"charge_point_id": "CP-1", "leniency": ["anything_goes"]},
        "latitude": {"charge_point_id": "CP-1", "latitude": "91", "longitude": "1"},
        "time_zone": {"charge_point_id": "CP-1", "time_zone": "Mars/Olympus"},
        "country": {"charge_point_id": "CP-1", "country": "Germany"},
        "meter_public_key": {"charge_point_id": "CP-1", "meter_public_key": "xyz"},
        "owner_entity_id": {"charge_point_id": "CP-1", "owner_entity_id": 999999},
        "station_group_id": {"charge_point_id": "CP-1", "station_group_id": 999999},
    }
    answers = {}
    async with api_client() as client:
        for name, body in cases.items():
            answers[name] = await client.post(f"{API}/stations", json=body, headers=bearer(token))
        unknown = await client.post(
            f"{API}/stations", json={"charge_point_id": "CP-1", "owner": 1}, headers=bearer(token)
        )
        missing = await client.post(f"{API}/stations", json={}, headers=bearer(token))
    for name, answer in answers.items():
        assert answer.status_code == 400, (name, answer.text)
        assert name.strip() in answer.json()["detail"], (name, answer.json())
    assert unknown.status_code == 400 and "owner" in unknown.text
    assert missing.status_code == 400 and "charge_point_id" in missing.text
    assert await Station.count().run() == 2


async def test_a_user_cannot_create_a_station_for_another_entity(db: None) -> None:
    """A's user naming B as owner gets 400 "there is no entity" (B is not
    theirs to know) and no station; a user without stations:create gets 403."""
    w = await world()
    a_token = await user_token(w.a)
    reader = await user_token(w.a, permissions=("stations:read",))
    async with api_client() as client:
        other = await client.post(
            f"{API}/stations",
            json={"charge_point_id": "CP-X", "owner_entity_id": w.b},
            headers=bearer(a_token),
        )
        forbidden = await client.post(
            f"{API}/stations", json={"charge_point_id": "CP-Y"}, headers=bearer(reader)
        )
    assert other.status_code == 400, other.text
    assert other.json()["detail"] == f"owner_entity_id: there is no entity {w.b}"
    assert forbidden.status_code == 403, forbidden.text
    assert await station_row("CP-X") is None and await station_row("CP-Y") is None


async def test_a_subtree_user_creates_for_a_child_and_it_is_audited(db: None) -> None:
    """The root's subtree user creates a station for B; the audit log keeps
    the create under B with the station's id."""
    w = await world()
    token = await user_token(w.root, scope="subtree")
    async with api_client() as client:
        created = await client.post(
            f"{API}/stations",
            json={"charge_point_id": "CP-B2", "owner_entity_id": w.b},
            headers=bearer(token),
        )
    assert created.status_code == 201, created.text
    entry = await AuditEntry.select().where(AuditEntry.method == "POST").first().run()
    assert entry is not None
    assert (entry["kind"], entry["object_id"], entry["entity_id"]) == (
        "stations",
        str(created.json()["id"]),
        w.b,
    )


# -- remove --------------------------------------------------------------------------------------


async def test_a_station_is_removed_and_the_removal_audited(db: None) -> None:
    """DELETE answers 204, the station is gone (a read then 404), the
    change is announced and the audit log keeps it under the owner."""
    w = await world()
    token = await user_token(w.root, scope="subtree")
    announced = Announced()
    async with api_client(ApiContext(station_changes=announced)) as client:
        removed = await client.delete(f"{API}/stations/{w.station_b}", headers=bearer(token))
        read = await client.get(f"{API}/stations/{w.station_b}", headers=bearer(token))
    assert removed.status_code == 204, removed.text
    assert read.status_code == 404
    assert await station_row("CP-B") is None
    assert announced.changes == [frozenset({w.station_b})]
    entry = await AuditEntry.select().where(AuditEntry.method == "DELETE").first().run()
    assert entry is not None
    assert (entry["kind"], entry["object_id"], entry["entity_id"]) == (
        "stations",
        str(w.station_b),
        w.b,
    )


async def test_another_entitys_station_cannot_be_removed(db: None) -> None:
    """A's user deleting B's station gets 404, as for a station that does
    not exist; a user of A who may not delete gets 403; B's station stays."""
    w = await world()
    a_token = await user_token(w.a)
    reader = await user_token(w.a, permissions=("stations:read",))
    async with api_client() as client:
        other = await client.delete(f"{API}/stations/{w.station_b}", headers=bearer(a_token))
        absent = await client.delete(f"{API}/stations/999999", headers=bearer(a_token))
        forbidden = await client.delete(f"{API}/stations/{w.station_a}", headers=bearer(reader))
    assert other.status_code == 404, other.text
    assert other.json()["detail"] == f"there is no station {w.station_b}"
    assert absent.status_code == 404
    assert forbidden.status_code == 403
    assert await station_row("CP-B") is not None and await station_row("CP-A") is not None


async def test_a_station_with_sessions_is_kept(db: None) -> None:
    """A station with a session answers 409 (its history is kept), as the
    CLI refuses it."""
    w = await world()
    token = await user_token(w.a)
    await ChargingSession.insert(
        ChargingSession(
            station=w.station_a, connector_id=1, id_tag="TAG", started_at=datetime.now(UTC)
        )
    ).run()
    async with api_client() as client:
        kept = await client.delete(f"{API}/stations/{w.station_a}", headers=bearer(token))
    assert kept.status_code == 409, kept.text
    assert "sessions" in kept.json()["detail"]
    assert await station_row("CP-A") is not None


# -- events and messages ---------------------------------------------------------------------


async def _history(station: int, start: datetime) -> None:
    for minute, kind in enumerate(("connected", "boot", "disconnected", "connected")):
        at = start + timedelta(minutes=minute)
        await StationEvent.insert(
            StationEvent(
                station=station, kind=kind, occurred_at=at, received_at=at, data={"n": minute}
            )
        ).run()
    frames = [
        ("in", 2, "BootNotification", BOOT),
        ("out", 3, "BootNotification", '{"status":"Accepted"}'),
        ("in", 2, "Heartbeat", "{}"),
        ("out", 3, "Heartbeat", '{"currentTime":"2026-12-06T10:00:00Z"}'),
    ]
    for second, (direction, kind, action, payload) in enumerate(frames):
        await OcppMessage.insert(
            OcppMessage(
                station=station,
                direction=direction,
                message_type=kind,
                unique_id=f"m{second // 2}",
                action=action,
                payload=payload,
                logged_at=start + timedelta(seconds=second),
            )
        ).run()


async def test_events_are_listed_newest_first_paginated_and_filtered(db: None) -> None:
    """GET /stations/{id}/events: newest first with a total, limit/offset,
    by kind and by time."""
    w = await world()
    start = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    await _history(w.station_a, start)
    token = await user_token(w.a)
    url = f"{API}/stations/{w.station_a}/events"
    async with api_client() as client:
        everything = await client.get(url, headers=bearer(token))
        second_page = await client.get(url, params={"limit": 2, "offset": 2}, headers=bearer(token))
        connected = await client.get(url, params={"kind": "connected"}, headers=bearer(token))
        later = await client.get(
            url, params={"since": "2026-12-06T10:02:00Z"}, headers=bearer(token)
        )
        naive = await client.get(
            url, params={"since": "2026-12-06T10:02:00"}, headers=bearer(token)
        )
    assert everything.status_code == 200, everything.text
    assert [e["kind"] for e in everything.json()["items"]] == [
        "connected",
        "disconnected",
        "boot",
        "connected",
    ]
    assert everything.json()["total"] == 4
    assert everything.json()["items"][0]["data"] == {"n": 3}
    assert [e["data"]["n"] for e in second_page.json()["items"]] == [1, 0]
    assert second_page.json()["total"] == 4
    assert [e["data"]["n"] for e in connected.json()["items"]] == [3, 0]
    assert [e["data"]["n"] for e in later.json()["items"]] == [3, 2]
    assert naive.status_code == 400


async def test_messages_are_listed_with_their_text_and_filtered(db: None) -> None:
    """GET /stations/{id}/messages: newest first, by action and direction,
    with each frame's JSON text; a bad direction is 400."""
    w = await world()
    await _history(w.station_a, datetime(2026, 12, 6, 10, 0, tzinfo=UTC))
    token = await user_token(w.a)
    url = f"{API}/stations/{w.station_a}/messages"
    async with api_client() as client:
        everything = await client.get(url, headers=bearer(token))
        boots = await client.get(
            url, params={"action": "BootNotification", "direction": "in"}, headers=bearer(token)
        )
        bad = await client.get(url, params={"direction": "sideways"}, headers=bearer(token))
    assert everything.status_code == 200, everything.text
    items = everything.json()["items"]
    assert [(m["direction"], m["action"]) for m in items] == [
        ("out", "Heartbeat"),
        ("in", "Heartbeat"),
        ("out", "BootNotification"),
        ("in", "BootNotification"),
    ]
    assert everything.json()["total"] == 4
    assert boots.json()["total"] == 1
    assert boots.json()["items"][0]["payload"] == BOOT
    assert boots.json()["items"][0]["message_type"] == 2
    assert bad.status_code == 400 and "direction" in bad.json()["detail"]


async def test_a_user_hiding_station_fields_sees_no_frame_text(db: None) -> None:
    """Frames carry what hidden fields hide (a boot's serial number): a
    user hiding stations.serial_number gets every frame with payload null."""
    w = await world()
    await _history(w.station_a, datetime(2026, 12, 6, 10, 0, tzinfo=UTC))
    token = await user_token(w.a, hidden=("stations.serial_number",))
    async with api_client() as client:
        answer = await client.get(f"{API}/stations/{w.station_a}/messages", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    assert answer.json()["total"] == 4
    assert "SN-SECRET" not in answer.text
    assert {m["payload"] for m in answer.json()["items"]} == {None}


async def test_another_entitys_events_and_messages_are_not_found(db: None) -> None:
    """B's user asking for A's events or messages gets 404, as for a
    station that does not exist."""
    w = await world()
    await _history(w.station_a, datetime(2026, 12, 6, 10, 0, tzinfo=UTC))
    b_token = await user_token(w.b)
    async with api_client() as client:
        events = await client.get(f"{API}/stations/{w.station_a}/events", headers=bearer(b_token))
        messages = await client.get(
            f"{API}/stations/{w.station_a}/messages", headers=bearer(b_token)
        )
    assert (events.status_code, messages.status_code) == (404, 404)
    assert "SN-SECRET" not in messages.text


# -- the rest of `csms station`: accept / pend / reject, set-secret, clear-secret, set -----------


async def test_patch_does_what_accept_set_secret_and_set_do(db: None) -> None:
    """PATCH sets the registration status, stores a secret (hash, previous
    one dropped) or clears it with null, and the 1.6 and leniency flags,
    which the station then shows; bad values are 400 naming the field."""
    w = await world()
    token = await user_token(w.a)
    url = f"{API}/stations/{w.station_a}"
    await (
        Station.update({Station.previous_auth_secret_hash: "old"})
        .where(Station.id == w.station_a)
        .run()
    )
    async with api_client() as client:
        changed = await client.patch(
            url,
            json={
                "registration_status": "rejected",
                "secret": "another-secret-20-ch",
                "assume_ocpp16": True,
                "leniency": ["nulls_as_absent", "strings_as_numbers"],
            },
            headers=bearer(token),
        )
        row = await station_row("CP-A")
        cleared = await client.patch(url, json={"secret": None}, headers=bearer(token))
        bad = {
            name: await client.patch(url, json=body, headers=bearer(token))
            for name, body in {
                "registration_status": {"registration_status": "Later"},
                "secret": {"secret": "short"},
                "leniency": {"leniency": ["nope"]},
            }.items()
        }
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["registration_status"] == "Rejected"
    assert body["has_secret"] is True
    assert body["assume_ocpp16"] is True
    assert body["leniency"] == ["nulls_as_absent", "strings_as_numbers"]
    assert row is not None and verify_secret("another-secret-20-ch", row["auth_secret_hash"])
    assert row["previous_auth_secret_hash"] == ""
    assert cleared.status_code == 200 and cleared.json()["has_secret"] is False
    for name, answer in bad.items():
        assert answer.status_code == 400, (name, answer.text)
        assert name in answer.json()["detail"]
    after = await station_row("CP-A")
    assert after is not None and after["registration_status"] == "Rejected"


async def test_stations_are_imported_from_csv_all_or_nothing(db: None) -> None:
    """POST /stations/import registers every row of a CSV body for the
    caller's entity (secret hashed, status and flags as given); a file with
    a bad line writes nothing and names the line; an existing id is 409
    unless skip_existing, which leaves it and counts it skipped."""
    w = await world()
    token = await user_token(w.a)
    headers = {**bearer(token), "Content-Type": "text/csv"}
    good = (
        "charge_point_id,secret,status,assume_ocpp16,lenient\n"
        "CP-I1,imported-secret-20ch,pending,yes,numbers_as_strings\n"
        "CP-I2,,,,\n"
    )
    bad = "charge_point_id,status\nCP-I3,accepted\nCP:I4,accepted\nCP-I5,later\n"
    async with api_client() as client:
        broken = await client.post(f"{API}/stations/import", content=bad, headers=headers)
        imported = await client.post(f"{API}/stations/import", content=good, headers=headers)
        again = await client.post(f"{API}/stations/import", content=good, headers=headers)
        skipped = await client.post(
            f"{API}/stations/import",
            params={"skip_existing": "true"},
            content=good + "CP-I6,,,,\n",
            headers=headers,
        )
    assert broken.status_code == 400, broken.text
    assert "line 3" in broken.json()["detail"] and "line 4" in broken.json()["detail"]
    assert await station_row("CP-I3") is None
    assert imported.status_code == 200, imported.text
    assert imported.json() == {"imported": 2, "skipped": []}
    first = await station_row("CP-I1")
    assert first is not None and first["owner_entity"] == w.a
    assert verify_secret("imported-secret-20ch", first["auth_secret_hash"])
    assert (first["registration_status"], first["assume_ocpp16"], first["leniency"]) == (
        "Pending",
        True,
        "numbers_as_strings",
    )
    assert again.status_code == 409, again.text
    assert skipped.json() == {"imported": 1, "skipped": ["CP-I1", "CP-I2"]}


async def test_an_import_for_another_entity_is_refused(db: None) -> None:
    """A's user importing for B gets 400 "there is no entity" and nothing
    is written."""
    w = await world()
    token = await user_token(w.a)
    async with api_client() as client:
        refused = await client.post(
            f"{API}/stations/import",
            params={"owner_entity_id": w.b},
            content="charge_point_id\nCP-Z\n",
            headers={**bearer(token), "Content-Type": "text/csv"},
        )
    assert refused.status_code == 400, refused.text
    assert refused.json()["detail"] == f"owner_entity_id: there is no entity {w.b}"
    assert await station_row("CP-Z") is None


# -- csms session show: a session's meter values -------------------------------------------------


async def test_a_sessions_meter_values_are_read_within_scope(db: None) -> None:
    """GET /sessions/{id}/meter-values gives the session's values in the
    order sampled to a user who sees its station; B's user gets 404."""
    w = await world()
    start = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    (row,) = (
        await ChargingSession.insert(
            ChargingSession(station=w.station_a, connector_id=1, id_tag="TAG", started_at=start)
        )
        .returning(ChargingSession.id)
        .run()
    )
    session = int(row["id"])
    for minute, value in ((1, "1500"), (0, "1000")):
        await MeterValue.insert(
            MeterValue(
                station=w.station_a,
                connector_id=1,
                session=session,
                sampled_at=start + timedelta(minutes=minute),
                value=value,
                unit="Wh",
            )
        ).run()
    a_token = await user_token(w.a)
    b_token = await user_token(w.b)
    url = f"{API}/sessions/{session}/meter-values"
    async with api_client() as client:
        mine = await client.get(url, headers=bearer(a_token))
        other = await client.get(url, headers=bearer(b_token))
    assert mine.status_code == 200, mine.text
    assert [(v["value"], v["unit"]) for v in mine.json()] == [("1000", "Wh"), ("1500", "Wh")]
    assert other.status_code == 404
