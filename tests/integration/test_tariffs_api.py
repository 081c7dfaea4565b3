"""Tariffs, tariff assignments and community partners through the
operators' API: scoped by the owning entity (out of scope is 404), OCPI
imported and exported exactly, versions by moment, bad input named."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from billing.tables import Cdr, TariffVersion
from csms.tables import ChargingSession, Station, StationGroup
from tests.unit.billing_tariffs.samples import TARIFF_TEXT, tariff
from tests.world import (
    admin_token,
    api_client,
    bearer,
    make_entity,
    make_group,
    make_user,
    token_for,
)

TARIFFS = "/api/v1/tariffs"
ASSIGNMENTS = "/api/v1/tariff-assignments"
PARTNERS = "/api/v1/community-partners"


async def _user_token(entity: int, *permissions: str, scope: str = "own") -> str:
    group = await make_group(entity, scope=scope, permissions=permissions or ("tariffs:*",))
    return await token_for(await make_user([entity], [group]), entity)


async def _world() -> tuple[int, int, int, int]:
    """root -> a -> a1 (a's sub-CPO), root -> b."""
    root = await make_entity("Root")
    a = await make_entity("A", parent=root)
    a1 = await make_entity("A1", parent=a)
    b = await make_entity("B", parent=root)
    return root, a, a1, b


async def _station(owner: int, name: str) -> int:
    (row,) = (
        await Station.insert(Station(charge_point_id=name, owner_entity=owner))
        .returning(Station.id)
        .run()
    )
    return int(row["id"])


async def _station_group(owner: int, name: str) -> int:
    (row,) = (
        await StationGroup.insert(StationGroup(name=name, owner_entity=owner))
        .returning(StationGroup.id)
        .run()
    )
    return int(row["id"])


def _body(owner: int, ocpi: Any = None, **fields: Any) -> dict[str, Any]:
    return {"owner_entity_id": owner, "ocpi": ocpi if ocpi is not None else tariff(), **fields}


async def test_import_versions_and_exports_by_moment(db: None) -> None:
    """Importing a code twice makes two versions of one tariff; the export
    at a moment gives the version valid then, numbers exact; before the
    first version it is 404."""
    _, a, _, _ = await _world()
    token = await admin_token(a)
    first_text = (
        f'{{"owner_entity_id": {a}, "valid_from": "2026-01-01T00:00:00Z", "ocpi": {TARIFF_TEXT}}}'
    )
    second = tariff()
    second["elements"][0]["price_components"][0]["price"] = 0.45
    async with api_client() as client:
        created = await client.post(
            TARIFFS,
            content=first_text,
            headers={**bearer(token), "content-type": "application/json"},
        )
        again = await client.post(
            TARIFFS,
            json=_body(a, second, valid_from="2026-03-01T00:00:00+01:00", name="AC"),
            headers=bearer(token),
        )
        tariff_id = created.json()["tariff"]["id"]
        detail = await client.get(f"{TARIFFS}/{tariff_id}", headers=bearer(token))
        feb = await client.get(
            f"{TARIFFS}/{tariff_id}/ocpi",
            params={"at": "2026-02-01T00:00:00Z"},
            headers=bearer(token),
        )
        now = await client.get(f"{TARIFFS}/{tariff_id}/ocpi", headers=bearer(token))
        before = await client.get(
            f"{TARIFFS}/{tariff_id}/ocpi",
            params={"at": "2025-01-01T00:00:00Z"},
            headers=bearer(token),
        )
    assert created.status_code == 201, created.text
    assert created.json()["created"] is True and again.json()["created"] is False
    assert again.json()["tariff"]["id"] == tariff_id
    assert detail.json()["name"] == "AC" and detail.json()["code"] == "AC-STANDARD"
    assert [v["valid_from"][:19] for v in detail.json()["versions"]] == [
        "2026-01-01T00:00:00",
        "2026-02-28T23:00:00",
    ]
    assert feb.status_code == 200
    assert "0.391234567890123456789" in feb.text
    price = json.loads(now.text, parse_float=Decimal)["elements"][0]["price_components"][0]
    assert price["price"] == Decimal("0.45")
    assert before.status_code == 404 and "no version valid" in before.json()["detail"]


async def test_another_entitys_tariff_is_404_for_every_operation(db: None) -> None:
    """A user of B sees none of A's tariffs: list empty, detail, export, new
    version, deletion and assigning A's tariff are 404, and A's assignment
    cannot be deleted by them."""
    _, a, _, b = await _world()
    admin = await admin_token(a)
    b_user = await _user_token(b)
    async with api_client() as client:
        created = await client.post(TARIFFS, json=_body(a), headers=bearer(admin))
        tariff_id = created.json()["tariff"]["id"]
        assigned = await client.post(
            ASSIGNMENTS, json={"tariff_id": tariff_id, "audience": "emp"}, headers=bearer(admin)
        )
        listed = await client.get(TARIFFS, headers=bearer(b_user))
        answers = [
            await client.get(f"{TARIFFS}/{tariff_id}", headers=bearer(b_user)),
            await client.get(f"{TARIFFS}/{tariff_id}/ocpi", headers=bearer(b_user)),
            await client.post(
                f"{TARIFFS}/{tariff_id}/versions", json={"ocpi": tariff()}, headers=bearer(b_user)
            ),
            await client.delete(f"{TARIFFS}/{tariff_id}", headers=bearer(b_user)),
            await client.post(
                ASSIGNMENTS,
                json={"tariff_id": tariff_id, "audience": "emp"},
                headers=bearer(b_user),
            ),
            await client.delete(f"{ASSIGNMENTS}/{assigned.json()['id']}", headers=bearer(b_user)),
        ]
        assignments = await client.get(ASSIGNMENTS, headers=bearer(b_user))
    assert assigned.status_code == 201, assigned.text
    assert listed.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
    assert [r.status_code for r in answers] == [404] * 6, [r.text for r in answers]
    assert assignments.json()["items"] == []


async def test_importing_for_another_entity_is_forbidden(db: None) -> None:
    """A user of B may not import a tariff owned by A, which they cannot see
    (400, as for an absent entity), nor without
    any tariff permission (403)."""
    _, a, _, b = await _world()
    b_user = await _user_token(b)
    reader = await _user_token(b, "tariffs:read")
    async with api_client() as client:
        foreign = await client.post(TARIFFS, json=_body(a), headers=bearer(b_user))
        read_only = await client.post(TARIFFS, json=_body(b), headers=bearer(reader))
    # An entity the user may not see is answered as an absent one (issue 14).
    assert foreign.status_code == 400, foreign.text
    assert read_only.status_code == 403, read_only.text


async def test_an_invalid_tariff_is_422_naming_every_field(db: None) -> None:
    """A tariff with a bad currency, a negative price and a bad step size is
    refused with each field named under ocpi, and nothing is stored."""
    _, a, _, _ = await _world()
    token = await admin_token(a)
    bad = tariff(currency="euro")
    bad["elements"][0]["price_components"][0]["price"] = -1
    bad["elements"][0]["price_components"][1]["step_size"] = "one"
    async with api_client() as client:
        refused = await client.post(TARIFFS, json=_body(a, bad), headers=bearer(token))
        not_object = await client.post(TARIFFS, json=_body(a, [1, 2]), headers=bearer(token))
        listed = await client.get(TARIFFS, headers=bearer(token))
    assert refused.status_code == 422, refused.text
    fields = {e["field"] for e in refused.json()["errors"]}
    assert {
        "ocpi.currency",
        "ocpi.elements[0].price_components[0].price",
        "ocpi.elements[0].price_components[1].step_size",
    } <= fields
    assert "ocpi.currency" not in refused.json()["detail"]
    assert "currency" in refused.json()["detail"]
    assert not_object.status_code == 422 and not_object.json()["errors"][0]["field"] == "ocpi"
    assert listed.json()["total"] == 0


async def test_bad_envelopes_are_400_naming_the_field(db: None) -> None:
    """A wrong type of owner, a time without zone, a missing ocpi member and
    an unknown owner entity are each 400 naming the field."""
    _, a, _, _ = await _world()
    token = await admin_token(a)
    async with api_client() as client:
        answers = {
            "owner_entity_id": await client.post(
                TARIFFS, json={"owner_entity_id": "x", "ocpi": tariff()}, headers=bearer(token)
            ),
            "valid_from": await client.post(
                TARIFFS, json=_body(a, valid_from="2026-01-01T00:00:00"), headers=bearer(token)
            ),
            "ocpi": await client.post(TARIFFS, json={"owner_entity_id": a}, headers=bearer(token)),
            "entity 999999": await client.post(TARIFFS, json=_body(999999), headers=bearer(token)),
            "at": await client.get(
                f"{TARIFFS}/1/ocpi", params={"at": "soon"}, headers=bearer(token)
            ),
        }
    for field, answer in answers.items():
        assert answer.status_code in (400, 403), (field, answer.text)
        assert field in answer.text, (field, answer.text)


async def test_a_version_at_an_existing_moment_is_409(db: None) -> None:
    """Versions are never changed: a second one from the same moment is 409."""
    _, a, _, _ = await _world()
    token = await admin_token(a)
    async with api_client() as client:
        created = await client.post(
            TARIFFS, json=_body(a, valid_from="2026-01-01T00:00:00Z"), headers=bearer(token)
        )
        tariff_id = created.json()["tariff"]["id"]
        clash = await client.post(
            f"{TARIFFS}/{tariff_id}/versions",
            json={"ocpi": tariff(), "valid_from": "2026-01-01T01:00:00+01:00"},
            headers=bearer(token),
        )
        renamed = await client.post(
            f"{TARIFFS}/{tariff_id}/versions",
            json={"ocpi": tariff(id="OTHER")},
            headers=bearer(token),
        )
    assert clash.status_code == 409, clash.text
    assert renamed.status_code == 422 and renamed.json()["errors"][0]["field"] == "ocpi.id"


async def test_assignment_rules_per_audience(db: None) -> None:
    """emp names the owner's own station; sub_cpo a child's station and the
    child; customer no counterparty; other stations are 400 naming the field."""
    _, a, a1, b = await _world()
    token = await admin_token(a)
    own = await _station(a, "CP-A")
    child = await _station(a1, "CP-A1")
    foreign = await _station(b, "CP-B")
    group = await _station_group(a, "G-A")
    async with api_client() as client:
        created = await client.post(TARIFFS, json=_body(a), headers=bearer(token))
        tariff_id = created.json()["tariff"]["id"]

        async def assign(**fields: Any) -> Any:
            return await client.post(
                ASSIGNMENTS, json={"tariff_id": tariff_id, **fields}, headers=bearer(token)
            )

        ok = [
            await assign(audience="emp", station_id=own, counterparty_entity_id=b, priority=3),
            await assign(audience="emp", station_group_id=group),
            await assign(audience="sub_cpo", station_id=child, counterparty_entity_id=a1),
            await assign(audience="customer", station_id=foreign),
        ]
        refused = {
            "station_id": await assign(audience="emp", station_id=foreign),
            "counterparty_entity_id": await assign(audience="sub_cpo", counterparty_entity_id=b),
            "counterparty_entity_id: not for": await assign(
                audience="customer", counterparty_entity_id=b
            ),
            "audience": await assign(audience="everyone"),
        }
        listed = await client.get(ASSIGNMENTS, params={"audience": "emp"}, headers=bearer(token))
        in_use = await client.delete(f"{TARIFFS}/{tariff_id}", headers=bearer(token))
        for answer in ok:
            await client.delete(f"{ASSIGNMENTS}/{answer.json()['id']}", headers=bearer(token))
        deleted = await client.delete(f"{TARIFFS}/{tariff_id}", headers=bearer(token))
        gone = await client.get(f"{TARIFFS}/{tariff_id}", headers=bearer(token))
    assert [r.status_code for r in ok] == [201] * 4, [r.text for r in ok]
    assert ok[0].json()["priority"] == 3 and ok[0].json()["owner_entity_id"] == a
    for field, answer in refused.items():
        assert answer.status_code == 400, (field, answer.text)
        assert field in answer.text, (field, answer.text)
    assert listed.json()["total"] == 2
    assert in_use.status_code == 409 and "4 assignment(s)" in in_use.json()["detail"]
    assert deleted.status_code == 204 and gone.status_code == 404


async def test_a_tariff_that_priced_a_cdr_is_kept(db: None) -> None:
    """Deleting a tariff whose version a CDR names is 409, whatever else."""
    _, a, _, _ = await _world()
    token = await admin_token(a)
    station = await _station(a, "CP-A")
    now = datetime.now(UTC)
    async with api_client() as client:
        created = await client.post(TARIFFS, json=_body(a), headers=bearer(token))
        tariff_id = created.json()["tariff"]["id"]
        (version,) = await TariffVersion.select(TariffVersion.id).run()
        (session,) = (
            await ChargingSession.insert(
                ChargingSession(station=station, connector_id=1, id_tag="X", started_at=now)
            )
            .returning(ChargingSession.id)
            .run()
        )
        await Cdr.insert(
            Cdr(
                session=session["id"],
                audience="emp",
                station=station,
                tariff_version=version["id"],
                started_at=now,
                stopped_at=now,
                rated_at=now,
            )
        ).run()
        refused = await client.delete(f"{TARIFFS}/{tariff_id}", headers=bearer(token))
    assert refused.status_code == 409 and "1 CDR(s)" in refused.json()["detail"]


async def test_community_partners_are_scoped_and_checked(db: None) -> None:
    """A names B as community partner; B's user neither sees nor removes
    it; naming A's own child or the same partner twice is refused."""
    _, a, a1, b = await _world()
    a_user = await _user_token(a)
    b_user = await _user_token(b)
    async with api_client() as client:
        added = await client.post(PARTNERS, json={"partner_entity_id": b}, headers=bearer(a_user))
        twice = await client.post(PARTNERS, json={"partner_entity_id": b}, headers=bearer(a_user))
        child = await client.post(PARTNERS, json={"partner_entity_id": a1}, headers=bearer(a_user))
        foreign = await client.post(
            PARTNERS, json={"entity_id": a, "partner_entity_id": b}, headers=bearer(b_user)
        )
        mine = await client.get(PARTNERS, headers=bearer(a_user))
        theirs = await client.get(PARTNERS, headers=bearer(b_user))
        removal = await client.delete(f"{PARTNERS}/{added.json()['id']}", headers=bearer(b_user))
        removed = await client.delete(f"{PARTNERS}/{added.json()['id']}", headers=bearer(a_user))
        after = await client.get(PARTNERS, headers=bearer(a_user))
    assert added.status_code == 201, added.text
    assert added.json()["entity_id"] == a and added.json()["partner_entity_id"] == b
    assert twice.status_code == 409
    assert child.status_code == 400 and "partner_entity_id" in child.json()["detail"]
    assert foreign.status_code == 400
    assert [p["id"] for p in mine.json()["items"]] == [added.json()["id"]]
    assert theirs.json()["items"] == []
    assert removal.status_code == 404
    assert removed.status_code == 204 and after.json()["total"] == 0


async def test_the_lookup_reads_what_the_api_wrote(db: None) -> None:
    """The rater's lookup finds the owner's assignments, the version valid
    at a moment (parsed once) and the community with the own subtree."""
    from billing.storage.tariffs import PiccoloTariffLookup

    _, a, a1, b = await _world()
    token = await admin_token(a)
    async with api_client() as client:
        created = await client.post(
            TARIFFS, json=_body(a, valid_from="2026-01-01T00:00:00Z"), headers=bearer(token)
        )
        tariff_id = created.json()["tariff"]["id"]
        await client.post(
            ASSIGNMENTS, json={"tariff_id": tariff_id, "audience": "emp"}, headers=bearer(token)
        )
        await client.post(
            PARTNERS, json={"entity_id": a, "partner_entity_id": b}, headers=bearer(token)
        )
    lookup = PiccoloTariffLookup()
    rows = await lookup.assignments_for(a, "emp")
    assert [(r.tariff_id, r.audience.value) for r in rows] == [(tariff_id, "emp")]
    assert await lookup.assignments_for(a, "customer") == []
    version = await lookup.version_at(tariff_id, datetime(2026, 5, 1, tzinfo=UTC))
    again = await lookup.version_at(tariff_id, datetime(2026, 6, 1, tzinfo=UTC))
    assert version is not None and again is not None and version.tariff is again.tariff
    assert version.currency == "EUR" and version.tariff.id == "AC-STANDARD"
    assert await lookup.version_at(tariff_id, datetime(2025, 1, 1, tzinfo=UTC)) is None
    assert await lookup.community_of(a) == {a, a1, b}


async def test_the_batch_read_agrees_with_the_per_seller_reads(db: None) -> None:
    """What a rating batch reads at once for many sellers (``rating_tariffs``)
    is what the per-seller reads give: every assignment of each seller and
    audience in order, with its station, counterparty and times, and each
    assigned tariff's versions in order with their currency; sellers with
    no assignment and unknown ids add nothing."""
    from billing.storage.tariffs import PiccoloTariffLookup

    _, a, a1, b = await _world()
    station = await _station(a, "CS-BATCH")
    group = await _station_group(a1, "G-BATCH")
    async with api_client() as client:
        a_token, a1_token = await admin_token(a), await admin_token(a1)
        first = await client.post(
            TARIFFS, json=_body(a, valid_from="2026-01-01T00:00:00Z"), headers=bearer(a_token)
        )
        a_tariff = first.json()["tariff"]["id"]
        await client.post(
            f"{TARIFFS}/{a_tariff}/versions",
            json={"ocpi": tariff(), "valid_from": "2026-03-01T00:00:00+01:00"},
            headers=bearer(a_token),
        )
        second = await client.post(
            TARIFFS,
            json=_body(a1, tariff(id="A1-AC"), valid_from="2026-02-01T00:00:00Z"),
            headers=bearer(a1_token),
        )
        a1_tariff = second.json()["tariff"]["id"]
        for body, token in (
            ({"tariff_id": a_tariff, "audience": "emp"}, a_token),
            (
                {"tariff_id": a_tariff, "audience": "emp", "station_id": station, "priority": 5},
                a_token,
            ),
            ({"tariff_id": a_tariff, "audience": "sub_cpo", "counterparty_entity_id": a1}, a_token),
            ({"tariff_id": a1_tariff, "audience": "customer"}, a1_token),
            ({"tariff_id": a1_tariff, "audience": "emp", "station_group_id": group}, a1_token),
        ):
            answer = await client.post(ASSIGNMENTS, json=body, headers=bearer(token))
            assert answer.status_code == 201, answer.text
    lookup = PiccoloTariffLookup()
    found = await lookup.rating_tariffs([a, a1, b, 999_999])
    expected = {}
    for seller in (a, a1, b):
        for audience in ("emp", "customer", "sub_cpo"):
            rows = await lookup.assignments_for(seller, audience)
            if rows:
                expected[(seller, audience)] = rows
    assert found.assignments == expected
    assert [len(rows) for rows in found.assignments.values()] == [2, 1, 1, 1]
    assert set(found.versions) == {a_tariff, a1_tariff}
    for tariff_id, versions in found.versions.items():
        one_by_one = await lookup.version_rows(tariff_id)
        assert [(v.id, v.tariff_id, v.valid_from, v.currency, v.tariff.id) for v in versions] == [
            (v.id, v.tariff_id, v.valid_from, v.currency, v.tariff.id) for v in one_by_one
        ]
        assert all(v.valid_from.tzinfo is not None for v in versions)
    assert len(found.versions[a_tariff]) == 2
    assert await lookup.rating_tariffs([]) == type(found)(assignments={}, versions={})
