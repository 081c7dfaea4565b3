"""Hidden fields per row through the API: a user in group A (scope all, read,
hides a field) and group B (scope own, everything, hides nothing) sees the
field on their own entity's rows only; on other entities' rows, which only
A lets them read, A hides it (the leak the scoping property found)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from crm.tables import Contact, ContactShare
from tests.world import admin_token, api_client, bearer, make_entity, make_group, make_user
from tests.world import token_for as login


async def _two_groups_user(entity: int, resource: str, field: str) -> str:
    wide = await make_group(
        entity, scope="all", permissions=(f"{resource}:read",), hidden=(f"{resource}.{field}",)
    )
    narrow = await make_group(entity, scope="own", permissions=(f"{resource}:*",))
    return await login(await make_user([entity], [wide, narrow]), entity)


async def _contact(owner: int, name: str, *, shared_with: int | None = None) -> int:
    now = datetime.now(UTC)
    (row,) = (
        await Contact.insert(
            Contact(
                owner_entity=owner,
                name=name,
                email=f"{name.lower()}@example.com",
                iban="DE02120300000000202051",
                created_at=now,
                updated_at=now,
            )
        )
        .returning(Contact.id)
        .run()
    )
    if shared_with is not None:
        await ContactShare.insert(
            ContactShare(contact=row["id"], entity=shared_with, access="read", created_at=now)
        ).run()
    return int(row["id"])


async def test_media_of_other_entities_do_not_show_the_field_the_wide_group_hides(
    db: None,
) -> None:
    """bill_to_contact_id is on the user's own entity's medium and absent
    from the other entity's, in the list, the detail and the export."""
    root = await make_entity("Root")
    a = await make_entity("A", parent=root)
    b = await make_entity("B", parent=root)
    mine, theirs = await _contact(a, "Mine"), await _contact(b, "Theirs")
    token = await _two_groups_user(a, "media", "bill_to_contact_id")
    async with api_client() as client:
        for entity, uid, contact in ((a, "OWN-1", mine), (b, "OTHER-1", theirs)):
            created = await client.post(
                "/api/v1/media",
                json={"uid": uid, "bill_to_contact_id": contact, "issuing_entity_id": entity},
                headers=bearer(await admin_token(entity)),
            )
            assert created.status_code == 201, created.text
        listed = await client.get("/api/v1/media", headers=bearer(token))
        other_id = next(m["id"] for m in listed.json()["items"] if m["uid"] == "OTHER-1")
        detail = await client.get(f"/api/v1/media/{other_id}", headers=bearer(token))
        export = await client.get("/api/v1/media/export.csv", headers=bearer(token))
    items = {m["uid"]: m for m in listed.json()["items"]}
    assert items["OWN-1"]["bill_to_contact_id"] == mine
    assert "bill_to_contact_id" not in items["OTHER-1"]
    assert detail.status_code == 200 and "bill_to_contact_id" not in detail.json()
    rows = {row["uid"]: row for row in csv.DictReader(io.StringIO(export.text))}
    assert rows["OWN-1"]["bill_to_contact_id"] == str(mine)
    assert rows["OTHER-1"]["bill_to_contact_id"] == ""


async def test_contacts_show_the_field_only_where_a_reading_group_shows_it(db: None) -> None:
    """iban is on the user's own contacts and on another entity's contact
    shared with the user's entity, and absent from that entity's unshared
    contact, in the list, the detail and the export."""
    root = await make_entity("Root")
    a = await make_entity("A", parent=root)
    b = await make_entity("B", parent=root)
    mine = await _contact(a, "Mine")
    shared = await _contact(b, "Shared", shared_with=a)
    theirs = await _contact(b, "Theirs")
    token = await _two_groups_user(a, "contacts", "iban")
    async with api_client() as client:
        listed = await client.get("/api/v1/contacts", params={"limit": 100}, headers=bearer(token))
        detail = await client.get(f"/api/v1/contacts/{theirs}", headers=bearer(token))
        export = await client.get("/api/v1/contacts/export.csv", headers=bearer(token))
    items = {c["id"]: c for c in listed.json()["items"]}
    assert "iban" in items[mine] and "iban" in items[shared]
    assert "iban" not in items[theirs]
    assert detail.status_code == 200 and "iban" not in detail.json()
    rows = {int(row["id"]): row for row in csv.DictReader(io.StringIO(export.text))}
    assert rows[mine]["iban"] and rows[shared]["iban"]
    assert rows[theirs]["iban"] == ""


async def test_a_search_does_not_match_a_field_where_it_is_hidden(db: None) -> None:
    """Searching contacts by e-mail finds the user's own contact by it, but
    not another entity's, whose e-mail only a hiding group lets them see."""
    root = await make_entity("Root")
    a = await make_entity("A", parent=root)
    b = await make_entity("B", parent=root)
    await _contact(a, "Mine")
    await _contact(b, "Theirs")
    token = await _two_groups_user(a, "contacts", "email")
    async with api_client() as client:
        own = await client.get("/api/v1/contacts", params={"q": "mine@"}, headers=bearer(token))
        other = await client.get("/api/v1/contacts", params={"q": "theirs@"}, headers=bearer(token))
    assert [c["name"] for c in own.json()["items"]] == ["Mine"]
    assert other.json()["total"] == 0


async def test_users_of_other_entities_do_not_show_the_field_the_wide_group_hides(
    db: None,
) -> None:
    """A user of the active entity shows email; a user only of another
    entity does not."""
    root = await make_entity("Root")
    a = await make_entity("A", parent=root)
    b = await make_entity("B", parent=root)
    colleague = await make_user([a])
    stranger = await make_user([b])
    token = await _two_groups_user(a, "users", "email")
    async with api_client() as client:
        near = await client.get(f"/api/v1/users/{colleague}", headers=bearer(token))
        far = await client.get(f"/api/v1/users/{stranger}", headers=bearer(token))
    assert near.status_code == 200 and "email" in near.json()
    assert far.status_code == 200 and "email" not in far.json()
