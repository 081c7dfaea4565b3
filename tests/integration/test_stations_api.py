"""The stations, station groups and access rules of the operators' API:
scoping, validation and the announcements the authorisation cache hears."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from admin_ui.api.context import ApiContext
from csms.tables import AccessRule, Connector, Station, StationGroup
from tests.world import (
    admin_token,
    api_client,
    bearer,
    make_entity,
    make_group,
    make_user,
    token_for,
)

API = "/api/v1"


class Announced:
    def __init__(self) -> None:
        self.changes: list[frozenset[int] | None] = []

    def stations_changed(self, station_pks: frozenset[int] | None) -> None:
        self.changes.append(station_pks)


async def make_station(charge_point_id: str, owner: int | None, **fields: Any) -> int:
    now = datetime.now(UTC)
    (row,) = (
        await Station.insert(
            Station(
                charge_point_id=charge_point_id,
                owner_entity=owner,
                created_at=now,
                updated_at=now,
                **fields,
            )
        )
        .returning(Station.id)
        .run()
    )
    return int(row["id"])


async def user_token(
    entity: int,
    *,
    scope: str = "own",
    permissions: tuple[str, ...] = ("*",),
    hidden: tuple[str, ...] = (),
) -> str:
    group = await make_group(entity, scope=scope, permissions=permissions, hidden=hidden)
    return await token_for(await make_user([entity], [group]), entity)


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
    w.station_a = await make_station(
        "CP-A", w.a, city="Berlin", serial_number="SN-A", connected=True
    )
    w.station_b = await make_station("CP-B", w.b, city="Hamburg", registration_status="Pending")
    return w


# -- stations ------------------------------------------------------------------------------------


async def test_a_user_sees_only_the_stations_of_their_visible_entities(db: None) -> None:
    """A's user lists A's station only; the root's subtree user lists both."""
    w = await world()
    a_token = await user_token(w.a)
    root_token = await user_token(w.root, scope="subtree")
    async with api_client() as client:
        mine = await client.get(f"{API}/stations", headers=bearer(a_token))
        all_ = await client.get(f"{API}/stations", headers=bearer(root_token))
    assert mine.status_code == 200, mine.text
    assert [s["charge_point_id"] for s in mine.json()["items"]] == ["CP-A"]
    assert mine.json()["total"] == 1
    assert [s["charge_point_id"] for s in all_.json()["items"]] == ["CP-A", "CP-B"]
    assert all_.json()["total"] == 2


async def test_a_station_of_another_entity_is_not_found(db: None) -> None:
    """B's user gets 404 for A's station: reading, changing and its rules."""
    w = await world()
    b_token = await user_token(w.b)
    async with api_client() as client:
        headers = bearer(b_token)
        read = await client.get(f"{API}/stations/{w.station_a}", headers=headers)
        change = await client.patch(
            f"{API}/stations/{w.station_a}", json={"city": "Mine"}, headers=headers
        )
        rules = await client.get(f"{API}/stations/{w.station_a}/access-rules", headers=headers)
        add = await client.post(
            f"{API}/stations/{w.station_a}/access-rules",
            json={"subject": "everyone"},
            headers=headers,
        )
    assert [r.status_code for r in (read, change, rules, add)] == [404] * 4
    assert read.json()["detail"] == f"there is no station {w.station_a}"
    assert await Station.select(Station.city).where(Station.id == w.station_a).first().run() == {
        "city": "Berlin"
    }
    assert await AccessRule.count().run() == 0


async def test_station_list_filters(db: None) -> None:
    w = await world()
    token = await admin_token(w.root)
    async with api_client() as client:

        async def ids(query: str) -> list[str]:
            answer = await client.get(f"{API}/stations?{query}", headers=bearer(token))
            assert answer.status_code == 200, answer.text
            return [s["charge_point_id"] for s in answer.json()["items"]]

        assert await ids("q=hamb") == ["CP-B"]
        assert await ids("q=cp-") == ["CP-A", "CP-B"]
        assert await ids(f"owner_entity_id={w.a}") == ["CP-A"]
        assert await ids("connected=true") == ["CP-A"]
        assert await ids("registration_status=pending") == ["CP-B"]
        assert await ids("limit=1&offset=1") == ["CP-B"]
        bad = await client.get(f"{API}/stations?registration_status=maybe", headers=bearer(token))
    assert bad.status_code == 400
    assert "registration_status is one of Accepted, Pending, Rejected" in bad.json()["detail"]


async def test_station_detail_has_its_connectors(db: None) -> None:
    w = await world()
    now = datetime.now(UTC)
    await Connector.insert(
        Connector(station=w.station_a, connector_id=1, status="Charging", updated_at=now)
    ).run()
    token = await admin_token(w.root)
    async with api_client() as client:
        answer = await client.get(f"{API}/stations/{w.station_a}", headers=bearer(token))
    assert answer.status_code == 200
    body = answer.json()
    assert body["owner_entity_id"] == w.a
    assert body["connectors"][0]["status"] == "Charging"
    assert body["serial_number"] == "SN-A"


async def test_hidden_station_fields_are_left_out(db: None) -> None:
    w = await world()
    token = await user_token(w.a, hidden=("stations.serial_number", "stations.iccid"))
    async with api_client() as client:
        detail = await client.get(f"{API}/stations/{w.station_a}", headers=bearer(token))
        listed = await client.get(f"{API}/stations", headers=bearer(token))
    for body in (detail.json(), listed.json()["items"][0]):
        assert "serial_number" not in body
        assert "iccid" not in body
        assert "imsi" in body


async def test_patch_sets_address_coordinates_and_time_zone(db: None) -> None:
    w = await world()
    announced = Announced()
    token = await user_token(w.a)
    async with api_client(ApiContext(station_changes=announced)) as client:
        answer = await client.patch(
            f"{API}/stations/{w.station_a}",
            json={
                "street": " Unter den Linden 1 ",
                "postal_code": "10117",
                "city": "Berlin",
                "country": "de",
                "latitude": "52.517",
                "longitude": "13.38886",
                "time_zone": "Europe/Berlin",
            },
            headers=bearer(token),
        )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["street"], body["country"], body["latitude"], body["longitude"]) == (
        "Unter den Linden 1",
        "DE",
        "52.517",
        "13.38886",
    )
    assert body["time_zone"] == "Europe/Berlin"
    # Nothing authorisation depends on changed.
    assert announced.changes == []


async def test_patch_refuses_bad_values_with_a_message(db: None) -> None:
    w = await world()
    token = await user_token(w.a)
    cases = [
        ({"latitude": "91", "longitude": "0"}, "latitude must be between -90 and 90"),
        ({"latitude": "0", "longitude": "-180.5"}, "longitude must be between -180 and 180"),
        ({"latitude": "52,5", "longitude": "13"}, "latitude is decimal degrees"),
        ({"latitude": "52.5"}, "give latitude and longitude together"),
        ({"time_zone": "Europe/Atlantis"}, "unknown time zone 'Europe/Atlantis'"),
        ({"time_zone": "../../etc/passwd"}, "unknown time zone"),
        ({"country": "DEU"}, "ISO 3166-1 alpha-2"),
        ({"owner_entity_id": 999999}, "there is no entity 999999"),
        ({"station_group_id": 999999}, "there is no station group 999999"),
        ({"colour": "red"}, "colour"),
    ]
    async with api_client() as client:
        for body, message in cases:
            answer = await client.patch(
                f"{API}/stations/{w.station_a}", json=body, headers=bearer(token)
            )
            assert answer.status_code == 400, (body, answer.text)
            assert message in answer.text, (body, answer.json())


async def test_changing_the_owner_needs_both_owners(db: None) -> None:
    """A's user may not hand the station to B, which they cannot see (400,
    as for an absent entity); a subtree user of the
    root may, and the cache hears of it."""
    w = await world()
    announced = Announced()
    a_token = await user_token(w.a)
    root_token = await user_token(w.root, scope="subtree")
    async with api_client(ApiContext(station_changes=announced)) as client:
        refused = await client.patch(
            f"{API}/stations/{w.station_a}", json={"owner_entity_id": w.b}, headers=bearer(a_token)
        )
        moved = await client.patch(
            f"{API}/stations/{w.station_a}",
            json={"owner_entity_id": w.b},
            headers=bearer(root_token),
        )
    # An entity the user may not see is answered as an absent one (issue 14).
    assert refused.status_code == 400
    assert moved.status_code == 200, moved.text
    assert moved.json()["owner_entity_id"] == w.b
    assert announced.changes == [frozenset({w.station_a})]


async def test_a_deactivated_entity_cannot_own_stations(db: None) -> None:
    """Handing a station to a deactivated entity is a 400 that says why."""
    from crm.tables import Entity

    w = await world()
    await Entity.update({Entity.active: False}).where(Entity.id == w.b)
    root_token = await user_token(w.root, scope="subtree")
    async with api_client() as client:
        refused = await client.patch(
            f"{API}/stations/{w.station_a}",
            json={"owner_entity_id": w.b},
            headers=bearer(root_token),
        )
    assert refused.status_code == 400
    assert "deactivated" in refused.json()["detail"]


async def test_a_reader_may_not_change_a_station(db: None) -> None:
    w = await world()
    token = await user_token(w.a, permissions=("stations:read",))
    async with api_client() as client:
        answer = await client.patch(
            f"{API}/stations/{w.station_a}", json={"city": "X"}, headers=bearer(token)
        )
    assert answer.status_code == 403
    assert answer.json()["detail"] == "you may not update stations"


# -- station groups --------------------------------------------------------------------------------


async def test_station_groups_crud_and_assignment(db: None) -> None:
    """Create, rename, assign a station, delete: the station stays, in no
    group, the group's rules go, and its stations are announced."""
    w = await world()
    announced = Announced()
    token = await user_token(w.a)
    async with api_client(ApiContext(station_changes=announced)) as client:
        headers = bearer(token)
        created = await client.post(
            f"{API}/station-groups", json={"name": "Depot"}, headers=headers
        )
        assert created.status_code == 201, created.text
        group = created.json()
        assert group["owner_entity_id"] == w.a
        duplicate = await client.post(
            f"{API}/station-groups", json={"name": "Depot"}, headers=headers
        )
        assert duplicate.status_code == 409
        renamed = await client.patch(
            f"{API}/station-groups/{group['id']}", json={"name": "Yard"}, headers=headers
        )
        assert renamed.json()["name"] == "Yard"
        assigned = await client.patch(
            f"{API}/stations/{w.station_a}",
            json={"station_group_id": group["id"]},
            headers=headers,
        )
        assert assigned.json()["station_group_id"] == group["id"]
        rule = await client.post(
            f"{API}/station-groups/{group['id']}/access-rules",
            json={"subject": "owner_entity"},
            headers=headers,
        )
        assert rule.status_code == 201, rule.text
        listed = await client.get(f"{API}/station-groups", headers=headers)
        assert [(g["name"], g["station_count"]) for g in listed.json()["items"]] == [("Yard", 1)]
        members = await client.get(
            f"{API}/stations?station_group_id={group['id']}", headers=headers
        )
        assert [s["charge_point_id"] for s in members.json()["items"]] == ["CP-A"]
        deleted = await client.delete(f"{API}/station-groups/{group['id']}", headers=headers)
        assert deleted.status_code == 204
        gone = await client.get(f"{API}/station-groups/{group['id']}", headers=headers)
        assert gone.status_code == 404
    row = await Station.select(Station.station_group).where(Station.id == w.station_a).first().run()
    assert row == {"station_group": None}
    assert await AccessRule.count().run() == 0
    assert announced.changes == [frozenset({w.station_a})] * 3


async def test_another_entitys_group_is_invisible(db: None) -> None:
    """B's group: 404 to A's user, and not assignable (400, as if it did not exist)."""
    w = await world()
    now = datetime.now(UTC)
    (row,) = (
        await StationGroup.insert(
            StationGroup(owner_entity=w.b, name="B's", created_at=now, updated_at=now)
        )
        .returning(StationGroup.id)
        .run()
    )
    token = await user_token(w.a)
    async with api_client() as client:
        headers = bearer(token)
        read = await client.get(f"{API}/station-groups/{row['id']}", headers=headers)
        listed = await client.get(f"{API}/station-groups", headers=headers)
        rules = await client.get(f"{API}/station-groups/{row['id']}/access-rules", headers=headers)
        assign = await client.patch(
            f"{API}/stations/{w.station_a}", json={"station_group_id": row["id"]}, headers=headers
        )
        foreign_owner = await client.post(
            f"{API}/station-groups", json={"name": "X", "owner_entity_id": w.b}, headers=headers
        )
    assert read.status_code == rules.status_code == 404
    assert listed.json()["items"] == []
    assert assign.status_code == 400
    assert assign.json()["detail"] == f"there is no station group {row['id']}"
    assert foreign_owner.status_code == 400


# -- access rules ----------------------------------------------------------------------------------


async def test_rules_are_added_listed_and_removed_and_announced(db: None) -> None:
    w = await world()
    announced = Announced()
    token = await user_token(w.a)
    async with api_client(ApiContext(station_changes=announced)) as client:
        headers = bearer(token)
        url = f"{API}/stations/{w.station_a}/access-rules"
        allow = await client.post(url, json={"subject": "owner_subtree"}, headers=headers)
        deny = await client.post(
            url,
            json={"effect": "deny", "subject": "medium", "value": "STOLEN", "note": "police"},
            headers=headers,
        )
        assert allow.status_code == deny.status_code == 201, deny.text
        listed = await client.get(url, headers=headers)
        assert [(r["effect"], r["subject"], r["value"]) for r in listed.json()] == [
            ("allow", "owner_subtree", ""),
            ("deny", "medium", "STOLEN"),
        ]
        removed = await client.delete(f"{API}/access-rules/{allow.json()['id']}", headers=headers)
        assert removed.status_code == 204
        again = await client.delete(f"{API}/access-rules/{allow.json()['id']}", headers=headers)
        assert again.status_code == 404
        left = await client.get(url, headers=headers)
    assert [r["value"] for r in left.json()] == ["STOLEN"]
    assert announced.changes == [frozenset({w.station_a})] * 3


async def test_bad_rules_are_refused_with_a_message(db: None) -> None:
    w = await world()
    outsider = await make_entity("Outsider")
    token = await user_token(w.a)
    url = f"{API}/stations/{w.station_a}/access-rules"
    cases = [
        ({"subject": "anyone"}, 400, "subject is one of everyone"),
        ({"subject": "medium"}, 400, "needs the medium's uid"),
        ({"subject": "owner_entity", "value": "5"}, 400, "takes no value"),
        ({"subject": "everyone", "effect": "maybe"}, 400, "effect is one of allow, deny"),
        ({"subject": "issuing_entity", "value": "x"}, 400, "needs an entity id"),
        ({"subject": "issuing_entity", "value": "999999"}, 400, "there is no entity 999999"),
        # An entity the user does not see is answered like one that does not exist.
        ({"subject": "issuing_subtree", "value": str(outsider)}, 400, "there is no entity"),
    ]
    async with api_client() as client:
        for body, status, message in cases:
            answer = await client.post(url, json=body, headers=bearer(token))
            assert answer.status_code == status, (body, answer.text)
            assert message in answer.json()["detail"], (body, answer.json())
        first = await client.post(url, json={"subject": "everyone"}, headers=bearer(token))
        second = await client.post(url, json={"subject": "everyone"}, headers=bearer(token))
    assert first.status_code == 201
    assert second.status_code == 409
    assert await AccessRule.count().run() == 1


async def test_a_rule_of_another_entity_cannot_be_removed(db: None) -> None:
    w = await world()
    now = datetime.now(UTC)
    (rule,) = (
        await AccessRule.insert(AccessRule(station=w.station_a, subject="everyone", created_at=now))
        .returning(AccessRule.id)
        .run()
    )
    b_token = await user_token(w.b)
    async with api_client() as client:
        answer = await client.delete(f"{API}/access-rules/{rule['id']}", headers=bearer(b_token))
    assert answer.status_code == 404
    assert await AccessRule.count().run() == 1


async def test_rules_need_their_own_permission(db: None) -> None:
    """Seeing a station is not enough to add a rule to it (403)."""
    w = await world()
    token = await user_token(w.a, permissions=("stations:*", "access_rules:read"))
    async with api_client() as client:
        listed = await client.get(
            f"{API}/stations/{w.station_a}/access-rules", headers=bearer(token)
        )
        added = await client.post(
            f"{API}/stations/{w.station_a}/access-rules",
            json={"subject": "everyone"},
            headers=bearer(token),
        )
    assert listed.status_code == 200
    assert added.status_code == 403
    assert added.json()["detail"] == "you may not create access rules"


async def test_a_group_rule_announces_every_station_of_the_group(db: None) -> None:
    w = await world()
    second = await make_station("CP-A2", w.a)
    announced = Announced()
    token = await user_token(w.a)
    async with api_client(ApiContext(station_changes=announced)) as client:
        headers = bearer(token)
        group = (
            await client.post(f"{API}/station-groups", json={"name": "G"}, headers=headers)
        ).json()
        for station in (w.station_a, second):
            await client.patch(
                f"{API}/stations/{station}", json={"station_group_id": group["id"]}, headers=headers
            )
        announced.changes.clear()
        added = await client.post(
            f"{API}/station-groups/{group['id']}/access-rules",
            json={"subject": "issuing_entity", "value": str(w.a)},
            headers=headers,
        )
    assert added.status_code == 201, added.text
    assert added.json()["station_group_id"] == group["id"]
    assert announced.changes == [frozenset({w.station_a, second})]


async def test_a_station_group_counts_only_stations_the_viewer_sees(db: None) -> None:
    """A's group holding a station of B shows a count of 0 to a viewer of A
    who cannot see B's stations (a count would tell what they cannot see)."""
    from datetime import UTC, datetime

    from csms.tables import Station, StationGroup
    from tests.world import bearer, make_entity, make_group, make_user, token_for

    root = await make_entity("Root")
    a = await make_entity("A", parent=root)
    b = await make_entity("B", parent=root)
    now = datetime.now(UTC)
    (group,) = await StationGroup.insert(
        StationGroup(owner_entity=a, name="Depot", created_at=now, updated_at=now)
    ).returning(StationGroup.id)
    await Station.insert(
        Station(
            charge_point_id="CP-B",
            owner_entity=b,
            station_group=group["id"],
            created_at=now,
            updated_at=now,
        )
    )
    viewers = await make_group(a, scope="own", permissions=["station_groups:read", "stations:read"])
    token = await token_for(await make_user([a], [viewers]), a)
    from tests.world import api_client

    async with api_client() as client:
        listed = await client.get("/api/v1/station-groups", headers=bearer(token))
        detail = await client.get(f"/api/v1/station-groups/{group['id']}", headers=bearer(token))
    assert [g["station_count"] for g in listed.json()["items"]] == [0]
    assert detail.json()["station_count"] == 0
