"""Contacts, shares, documents and customer numbers through the operators' API."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterable
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from crm.storage import contacts as contact_storage
from crm.tables import Contact, Entity
from tests.world import (
    admin_token,
    api_client,
    bearer,
    make_entity,
    make_group,
    make_user,
    token_for,
)

CRUD = ("contacts:*", "documents:*")
URL = "/api/v1/contacts"


async def headers_of(
    entity: int,
    *,
    scope: str = "own",
    permissions: Iterable[str] = CRUD,
    hidden: Iterable[str] = (),
) -> dict[str, str]:
    """Headers of a new user of ``entity`` in one group with these rights."""
    group = await make_group(entity, scope=scope, permissions=permissions, hidden=hidden)
    user = await make_user([entity], [group])
    return bearer(await token_for(user, entity))


async def create(client: AsyncTestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    fields.setdefault("name", "Erika Mustermann")
    answer = await client.post(URL, json=fields, headers=headers)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def listed(client: AsyncTestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    params.setdefault("limit", 500)
    answer = await client.get(URL, params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def ids_listed(client: AsyncTestClient, headers: dict[str, str], **params: Any) -> set[int]:
    return {item["id"] for item in (await listed(client, headers, **params))["items"]}


async def master_contact(entity: int) -> int:
    row = await Contact.select(Contact.id).where(Contact.master_of_entity == entity).first().run()
    assert row is not None
    return int(row["id"])


async def upload(
    client: AsyncTestClient,
    headers: dict[str, str],
    contact_id: int,
    content: bytes = b"%PDF-1.4 contract",
    *,
    title: str = "Contract",
    kind: str = "contract",
    file_name: str = "contract.pdf",
) -> Any:
    return await client.post(
        f"{URL}/{contact_id}/documents",
        files={"file": (file_name, content, "application/pdf")},
        data={"title": title, "kind": kind},
        headers=headers,
    )


async def test_scopes_own_subtree_and_all(db: None) -> None:
    """A user sees the contacts of their own entity, of its subtree or of
    every entity, as their group's scope says; details outside are 404."""
    root = await make_entity("Root")
    child = await make_entity("Child", parent=root)
    grandchild = await make_entity("Grandchild", parent=child)
    sibling = await make_entity("Sibling", parent=root)
    admin = bearer(await admin_token(root))
    async with api_client() as client:
        made = {
            entity: (await create(client, admin, owner_entity_id=entity, name=f"C{entity}"))["id"]
            for entity in (root, child, grandchild, sibling)
        }
        masters = {entity: await master_contact(entity) for entity in made}
        own = await ids_listed(client, await headers_of(child, scope="own"))
        subtree = await ids_listed(client, await headers_of(child, scope="subtree"))
        everything = await ids_listed(client, await headers_of(child, scope="all"))
        own_user = await headers_of(child, scope="own")
        outside = await client.get(f"{URL}/{made[grandchild]}", headers=own_user)
        inside = await client.get(f"{URL}/{made[child]}", headers=own_user)
        no_right = await client.get(
            URL, headers=await headers_of(child, scope="all", permissions=["media:read"])
        )
    assert own == {made[child], masters[child]}
    assert subtree == {made[child], masters[child], made[grandchild], masters[grandchild]}
    assert everything == set(made.values()) | set(masters.values())
    assert outside.status_code == 404
    assert inside.status_code == 200
    assert inside.json()["owner_entity_id"] == child
    assert no_right.status_code == 403


async def test_a_read_share_shows_the_contact_but_only_a_write_share_lets_it_change(
    db: None,
) -> None:
    """Entity B sees A's contact shared with it read-only, may not PATCH it
    until the share becomes writable; entity C never sees it."""
    root = await make_entity("Root")
    a = await make_entity("A", parent=root)
    b = await make_entity("B", parent=root)
    c = await make_entity("C", parent=root)
    owner = await headers_of(a)
    async with api_client() as client:
        contact = await create(client, owner, name="Shared Person")
        cid = contact["id"]
        b_user = await headers_of(b)
        c_user = await headers_of(c)
        before = await client.get(f"{URL}/{cid}", headers=b_user)
        shared = await client.post(
            f"{URL}/{cid}/shares", json={"entity_id": b, "access": "read"}, headers=owner
        )
        b_list = await ids_listed(client, b_user)
        b_detail = await client.get(f"{URL}/{cid}", headers=b_user)
        c_detail = await client.get(f"{URL}/{cid}", headers=c_user)
        read_only_patch = await client.patch(f"{URL}/{cid}", json={"city": "Bonn"}, headers=b_user)
        made_writable = await client.put(
            f"{URL}/{cid}/shares/{b}", json={"access": "write"}, headers=owner
        )
        write_patch = await client.patch(f"{URL}/{cid}", json={"city": "Bonn"}, headers=b_user)
        b_deactivates = await client.patch(f"{URL}/{cid}", json={"active": False}, headers=b_user)
        b_deletes = await client.delete(f"{URL}/{cid}", headers=b_user)
        b_shares = await client.get(f"{URL}/{cid}/shares", headers=b_user)
        b_reshares = await client.post(f"{URL}/{cid}/shares", json={"entity_id": c}, headers=b_user)
        owner_shares = await client.get(f"{URL}/{cid}/shares", headers=owner)
        unshared = await client.delete(f"{URL}/{cid}/shares/{b}", headers=owner)
        after = await client.get(f"{URL}/{cid}", headers=b_user)
    assert before.status_code == 404
    assert shared.status_code == 201, shared.text
    assert shared.json()["entity_name"] == "B"
    assert cid in b_list
    assert b_detail.status_code == 200
    assert c_detail.status_code == 404
    assert read_only_patch.status_code == 403
    assert made_writable.status_code == 200
    assert made_writable.json()["access"] == "write"
    assert write_patch.status_code == 200
    assert write_patch.json()["city"] == "Bonn"
    # (De)activation and the share list are the owner's.
    assert b_deactivates.status_code == 403
    assert b_deletes.status_code == 403
    assert b_shares.status_code == 403
    assert b_reshares.status_code == 403
    assert [s["entity_id"] for s in owner_shares.json()] == [b]
    assert unshared.status_code == 204
    assert after.status_code == 404


async def test_documents_never_cross_a_shared_contact(db: None) -> None:
    """B sees A's shared contact, but neither A's documents in its list nor
    A's document by id; B's own document on it stays B's, hidden from A."""
    root = await make_entity("Root")
    a = await make_entity("A", parent=root)
    b = await make_entity("B", parent=root)
    a_user = await headers_of(a)
    b_user = await headers_of(b)
    async with api_client() as client:
        cid = (await create(client, a_user, name="Customer"))["id"]
        await client.post(
            f"{URL}/{cid}/shares", json={"entity_id": b, "access": "write"}, headers=a_user
        )
        a_doc = await upload(client, a_user, cid, b"A's contract", title="A contract")
        assert a_doc.status_code == 201, a_doc.text
        b_doc = await upload(client, b_user, cid, b"B's note", title="B note", kind="file")
        assert b_doc.status_code == 201, b_doc.text
        b_sees_contact = await client.get(f"{URL}/{cid}", headers=b_user)
        a_list = await client.get(f"{URL}/{cid}/documents", headers=a_user)
        b_list = await client.get(f"{URL}/{cid}/documents", headers=b_user)
        b_fetches_a = await client.get(f"/api/v1/documents/{a_doc.json()['id']}", headers=b_user)
        a_fetches_b = await client.get(f"/api/v1/documents/{b_doc.json()['id']}", headers=a_user)
        a_fetches_a = await client.get(f"/api/v1/documents/{a_doc.json()['id']}", headers=a_user)
    assert b_sees_contact.status_code == 200
    assert a_doc.json()["owner_entity_id"] == a
    assert b_doc.json()["owner_entity_id"] == b
    assert [d["title"] for d in a_list.json()] == ["A contract"]
    assert [d["title"] for d in b_list.json()] == ["B note"]
    assert b_fetches_a.status_code == 404
    assert a_fetches_b.status_code == 404
    assert a_fetches_a.status_code == 200
    assert a_fetches_a.content == b"A's contract"
    assert "attachment" in a_fetches_a.headers["content-disposition"]
    assert a_fetches_a.headers["content-type"].startswith("application/pdf")


async def test_document_upload_checks_kind_size_and_contact(db: None) -> None:
    """An upload with an unknown kind is 400, over 10 MiB is 413, to an
    invisible contact 404; without documents:create it is 403."""
    root = await make_entity("Root")
    other = await make_entity("Other")
    user = await headers_of(root)
    reader = await headers_of(root, permissions=["contacts:read", "documents:read"])
    async with api_client() as client:
        cid = (await create(client, user))["id"]
        hidden_cid = (await create(client, await headers_of(other)))["id"]
        bad_kind = await upload(client, user, cid, kind="invoice")
        too_large = await upload(client, user, cid, b"x" * (10 * 1024 * 1024 + 1))
        invisible = await upload(client, user, hidden_cid)
        no_right = await upload(client, reader, cid)
        ok = await upload(client, user, cid, b"data", title="", file_name="../../etc/Vertrag.pdf")
        listed_docs = await client.get(f"{URL}/{cid}/documents", headers=reader)
    assert bad_kind.status_code == 400
    assert "kind" in bad_kind.json()["detail"]
    assert too_large.status_code == 413
    assert invisible.status_code == 404
    assert no_right.status_code == 403
    assert ok.status_code == 201, ok.text
    assert ok.json()["file_name"] == "Vertrag.pdf"
    assert ok.json()["title"] == "Vertrag.pdf"
    assert ok.json()["size"] == 4
    assert [d["id"] for d in listed_docs.json()] == [ok.json()["id"]]
    assert "content" not in listed_docs.json()[0]


async def test_hidden_fields_are_absent_from_detail_list_search_and_export(db: None) -> None:
    """Fields the user's group hides are not in detail or list answers nor
    export columns, cannot be searched for, and cannot be written."""
    root = await make_entity("Root")
    writer = await headers_of(root)
    restricted = await headers_of(root, hidden=["contacts.iban", "contacts.email"])
    async with api_client() as client:
        cid = (
            await create(
                client,
                writer,
                name="Hidden Details",
                email="secret@example.com",
                iban="DE89 3704 0044 0532 0130 00",
            )
        )["id"]
        full = await client.get(f"{URL}/{cid}", headers=writer)
        detail = await client.get(f"{URL}/{cid}", headers=restricted)
        items = (await listed(client, restricted))["items"]
        search_hidden = await listed(client, restricted, q="secret@")
        search_full = await listed(client, writer, q="secret@")
        export = await client.get(f"{URL}/export.csv", headers=restricted)
        write_hidden = await client.patch(
            f"{URL}/{cid}", json={"iban": "DE02120300000000202051"}, headers=restricted
        )
        write_visible = await client.patch(
            f"{URL}/{cid}", json={"city": "Köln"}, headers=restricted
        )
    assert full.json()["iban"] == "DE89370400440532013000"
    assert full.json()["email"] == "secret@example.com"
    assert "iban" not in detail.json() and "email" not in detail.json()
    assert detail.json()["name"] == "Hidden Details"
    assert all("iban" not in item and "email" not in item for item in items)
    assert search_hidden["total"] == 0
    assert search_full["total"] == 1
    header = next(csv.reader(io.StringIO(export.text)))
    assert "iban" not in header and "email" not in header and "name" in header
    assert "secret@example.com" not in export.text
    assert write_hidden.status_code == 403
    assert write_visible.status_code == 200
    assert "iban" not in write_visible.json()


async def test_list_filters_pagination_and_csv_export(db: None) -> None:
    """Lists page with a total of every match; filters narrow list and export
    alike; the export holds every matching row the user sees, no others."""
    root = await make_entity("Root")
    other = await make_entity("Other")
    user = await headers_of(root)
    async with api_client() as client:
        for n in range(7):
            await create(client, user, name=f"Person {n}", email=f"p{n}@Example.com")
        company = await create(client, user, kind="company", name="ACME_50% GmbH", company="ACME")
        await create(client, await headers_of(other), name="Person of Other")
        page = await listed(client, user, limit=3, offset=3)
        last = await listed(client, user, limit=3, offset=9)
        persons = await listed(client, user, kind="person")
        companies = await listed(client, user, kind="company")
        by_q = await listed(client, user, q="EXAMPLE.COM")
        wildcard = await listed(client, user, q="_50%")
        literal = await listed(client, user, q="%")
        by_number = await listed(client, user, customer_number=company["customer_number"])
        by_owner = await listed(client, user, owner_entity_id=other)
        gone = await client.delete(f"{URL}/{company['id']}", headers=user)
        inactive = await listed(client, user, active=False)
        active = await listed(client, user, active=True)
        export = await client.get(f"{URL}/export.csv", params={"kind": "person"}, headers=user)
        bad_page = await client.get(URL, params={"limit": 0}, headers=user)
    # 7 persons, 1 company, and Root's own (company) contact.
    assert page["total"] == 9 and len(page["items"]) == 3
    assert (page["limit"], page["offset"]) == (3, 3)
    assert page["items"][0]["name"] == "Person 2"
    assert last["items"] == [] and last["total"] == 9
    assert persons["total"] == 7
    assert {item["name"] for item in companies["items"]} == {"ACME_50% GmbH", "Root"}
    assert by_q["total"] == 7
    assert [item["id"] for item in wildcard["items"]] == [company["id"]]
    assert [item["id"] for item in literal["items"]] == [company["id"]]
    assert [item["id"] for item in by_number["items"]] == [company["id"]]
    assert by_owner["total"] == 0
    assert gone.status_code == 200 and gone.json()["active"] is False
    assert [item["id"] for item in inactive["items"]] == [company["id"]]
    assert active["total"] == 8
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert sorted(row["name"] for row in rows) == [f"Person {n}" for n in range(7)]
    assert {row["owner_entity_id"] for row in rows} == {str(root)}
    assert bad_page.status_code == 400


async def test_customer_numbers_follow_the_owner_format_and_stay_unique(db: None) -> None:
    """Numbers come from the owning entity's format and counter; a number
    taken elsewhere (a colliding format, a number given by hand) is skipped;
    a hand-given number that exists is 409."""
    root = await make_entity("Root", customer_number="R-1")
    aa = await make_entity("AA", parent=root, customer_number_format="AA0-%d")
    plain = await make_entity("Plain", parent=root, customer_number_format="%d")
    also_plain = await make_entity("Also plain", parent=root, customer_number_format="%d")
    padded = await make_entity("Padded", parent=root, customer_number_format="K-%05d")
    admin = bearer(await admin_token(root))

    async def number(entity: int, **fields: Any) -> str:
        made = await create(client, admin, owner_entity_id=entity, **fields)
        assert made["owner_entity_id"] == entity
        return str(made["customer_number"])

    async with api_client() as client:
        first_aa = await number(aa)
        by_hand = await number(plain, customer_number=" AA0-2 ")
        second_aa = await number(aa)
        first_plain = await number(plain)
        colliding = await number(also_plain)
        also_next = await number(also_plain)
        padded_first = await number(padded)
        taken = await client.post(
            URL, json={"name": "X", "customer_number": "AA0-1"}, headers=admin
        )
        entity_number = await client.post(
            URL, json={"name": "X", "customer_number": "R-1"}, headers=admin
        )
        other = await create(client, admin, owner_entity_id=plain)
        renumber = await client.patch(
            f"{URL}/{other['id']}", json={"customer_number": "AA0-3"}, headers=admin
        )
        renumber_taken = await client.patch(
            f"{URL}/{other['id']}", json={"customer_number": "AA0-1"}, headers=admin
        )
    assert first_aa == "AA0-1"
    assert by_hand == "AA0-2"
    assert second_aa == "AA0-3"  # AA0-2 was given by hand
    assert first_plain == "1"
    assert colliding == "2"  # "1" belongs to Plain's contact
    assert also_next == "3"
    assert padded_first == "K-00001"
    assert taken.status_code == 409 and "AA0-1" in taken.json()["detail"]
    assert entity_number.status_code == 409
    assert renumber.status_code == 409  # AA's second contact has it
    assert renumber_taken.status_code == 409
    counters = {
        row["id"]: row["customer_number_counter"]
        for row in await Entity.select(Entity.id, Entity.customer_number_counter).run()
    }
    # Plain's second draw skipped "2" and "3" (Also plain's).
    assert other["customer_number"] == "4"
    assert counters[aa] == 3 and counters[plain] == 4 and counters[also_plain] == 3


async def test_simultaneous_creates_draw_distinct_consecutive_numbers(db: None) -> None:
    """Creates racing in one entity each get their own number, no gaps."""
    root = await make_entity("Root", customer_number_format="N-%d")
    user = await headers_of(root)
    async with api_client() as client:
        answers = await asyncio.gather(
            *(client.post(URL, json={"name": f"P{n}"}, headers=user) for n in range(10))
        )
    assert [a.status_code for a in answers] == [201] * 10
    assert sorted(a.json()["customer_number"] for a in answers) == sorted(
        f"N-{n}" for n in range(1, 11)
    )


async def test_a_refused_create_gives_its_drawn_numbers_back(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When no free number is found the create is 409 and the entity's
    counter is where it was: the draw rolls back with the transaction."""
    monkeypatch.setattr(contact_storage, "MAX_DRAWS", 3)
    root = await make_entity("Root", customer_number_format="%d")
    other = await make_entity("Other", customer_number_format="X%d")
    admin = bearer(await admin_token(root))
    async with api_client() as client:
        for n in (1, 2, 3):
            await create(client, admin, owner_entity_id=other, customer_number=str(n))
        refused = await client.post(URL, json={"name": "P"}, headers=admin)
        await create(client, admin, owner_entity_id=other, customer_number="X4")
        row = await Entity.select(Entity.customer_number_counter).where(Entity.id == root).first()
        assert row is not None and row["customer_number_counter"] == 0
        monkeypatch.setattr(contact_storage, "MAX_DRAWS", 100)
        drawn = await create(client, admin, name="Q")
    assert refused.status_code == 409
    assert "taken" in refused.json()["detail"]
    assert drawn["customer_number"] == "4"


async def test_master_fields_of_an_entity_contact_are_read_only(db: None) -> None:
    """An entity's own contact shows its read-only fields; a PATCH changing
    one of them is 400 pointing at the entity; other fields change; it
    cannot be deactivated here."""
    root = await make_entity("Root", customer_number="R-1")
    admin = bearer(await admin_token(root))
    cid = await master_contact(root)
    async with api_client() as client:
        detail = await client.get(f"{URL}/{cid}", headers=admin)
        rename = await client.patch(f"{URL}/{cid}", json={"name": "Other"}, headers=admin)
        address = await client.patch(
            f"{URL}/{cid}", json={"city": "Köln", "comment": "x"}, headers=admin
        )
        same = await client.patch(
            f"{URL}/{cid}", json={"name": "Root", "comment": "key account"}, headers=admin
        )
        deactivate = await client.delete(f"{URL}/{cid}", headers=admin)
        plain = await create(client, admin)
        plain_detail = await client.get(f"{URL}/{plain['id']}", headers=admin)
    assert detail.status_code == 200
    assert detail.json()["master_of_entity_id"] == root
    assert {"name", "customer_number", "email", "city"} <= set(detail.json()["read_only_fields"])
    assert rename.status_code == 400
    assert "entit" in rename.json()["detail"] and "name" in rename.json()["detail"]
    assert address.status_code == 400 and "city" in address.json()["detail"]
    assert same.status_code == 200 and same.json()["comment"] == "key account"
    assert deactivate.status_code == 400
    assert plain_detail.json()["master_of_entity_id"] is None
    assert plain_detail.json()["read_only_fields"] == []


async def test_bad_input_gets_a_4xx_with_a_message(db: None) -> None:
    """Unknown kind, bad country, bad e-mail, unknown fields, no name, a
    foreign owner entity, bad shares: each a 4xx naming the problem."""
    root = await make_entity("Root")
    child = await make_entity("Child", parent=root)
    sibling = await make_entity("Sibling")
    user = await headers_of(root, scope="subtree")
    async with api_client() as client:
        cid = (await create(client, user))["id"]

        async def post(body: dict[str, Any]) -> Any:
            return await client.post(URL, json=body, headers=user)

        answers = {
            "kind": await post({"name": "X", "kind": "robot"}),
            "country": await post({"name": "X", "country": "DEU"}),
            "email": await post({"name": "X", "email": "not-an-address"}),
            "iban": await post({"name": "X", "iban": "12"}),
            "unknown": await post({"name": "X", "owner_entity": root}),
            "name": await post({"first_name": " ", "kind": "person"}),
            "long": await post({"name": "X" * 201}),
            "number": await post({"name": "X", "customer_number": "  "}),
            "patch_country": await client.patch(
                f"{URL}/{cid}", json={"country": "1"}, headers=user
            ),
            "list_kind": await client.get(URL, params={"kind": "robot"}, headers=user),
            "share_owner": await client.post(
                f"{URL}/{cid}/shares", json={"entity_id": root}, headers=user
            ),
            "share_unknown": await client.post(
                f"{URL}/{cid}/shares", json={"entity_id": 999_999}, headers=user
            ),
            "share_access": await client.post(
                f"{URL}/{cid}/shares", json={"entity_id": child, "access": "admin"}, headers=user
            ),
        }
        named = await post({"first_name": "Erika", "last_name": "Mustermann", "country": "de"})
        for_child = await post({"name": "X", "owner_entity_id": child})
        for_sibling = await post({"name": "X", "owner_entity_id": sibling})
        share = await client.post(f"{URL}/{cid}/shares", json={"entity_id": child}, headers=user)
        share_again = await client.post(
            f"{URL}/{cid}/shares", json={"entity_id": child}, headers=user
        )
        unshare_missing = await client.delete(f"{URL}/{cid}/shares/{sibling}", headers=user)
        missing = await client.get(f"{URL}/999999", headers=user)
    for what, answer in answers.items():
        assert answer.status_code == 400, (what, answer.text)
        assert answer.json()["detail"], what
    assert "robot" in answers["kind"].text
    assert "alpha-2" in answers["country"].json()["detail"]
    assert "email" in answers["email"].json()["detail"]
    assert "owner_entity" in answers["unknown"].text
    assert "name" in answers["name"].json()["detail"]
    assert "999999" in answers["share_unknown"].json()["detail"]
    assert named.status_code == 201
    assert named.json()["name"] == "Erika Mustermann" and named.json()["country"] == "DE"
    assert for_child.status_code == 201 and for_child.json()["owner_entity_id"] == child
    # An entity the user may not see is answered as an absent one (issue 14).
    assert for_sibling.status_code == 400
    assert share.status_code == 201
    assert share_again.status_code == 409
    assert unshare_missing.status_code == 404
    assert missing.status_code == 404


async def test_deactivated_contacts_stay_and_come_back(db: None) -> None:
    """DELETE deactivates (the row stays, readable); PATCH active=true
    reactivates; DELETE needs contacts:delete."""
    root = await make_entity("Root")
    user = await headers_of(root)
    no_delete = await headers_of(root, permissions=["contacts:read", "contacts:update"])
    async with api_client() as client:
        cid = (await create(client, user))["id"]
        refused = await client.delete(f"{URL}/{cid}", headers=no_delete)
        gone = await client.delete(f"{URL}/{cid}", headers=user)
        still = await client.get(f"{URL}/{cid}", headers=user)
        back = await client.patch(f"{URL}/{cid}", json={"active": True}, headers=no_delete)
    assert refused.status_code == 403
    assert gone.status_code == 200 and gone.json()["active"] is False
    assert still.status_code == 200 and still.json()["active"] is False
    assert back.status_code == 200 and back.json()["active"] is True


async def test_the_openapi_schema_lists_the_contact_endpoints(db: None) -> None:
    """The schema builds and names every contact path."""
    async with api_client() as client:
        schema = await client.get("/api/schema/openapi.json")
    assert schema.status_code == 200
    paths = set(schema.json()["paths"])
    assert {
        "/api/v1/contacts",
        "/api/v1/contacts/{contact_id}",
        "/api/v1/contacts/export.csv",
        "/api/v1/contacts/{contact_id}/shares",
        "/api/v1/contacts/{contact_id}/shares/{entity_id}",
        "/api/v1/contacts/{contact_id}/documents",
        "/api/v1/documents/{document_id}",
    } <= paths
