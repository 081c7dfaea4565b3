"""The media registry through the operators' API: scoped by issuing entity,
hidden fields absent, contacts checked, uids unique, imports all or nothing,
every change announced to the authorisation caches."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from admin_ui.api.context import ApiContext
from crm.changes import RecordedChanges
from crm.media import MediumKind, MediumStatus
from crm.tables import Contact, ContactShare
from tests.media_helpers import allow
from tests.world import (
    admin_token,
    api_client,
    bearer,
    make_entity,
    make_group,
    make_user,
    token_for,
)

MEDIA = "/api/v1/media"


async def _contact(owner: int, name: str, *, shared_with: int | None = None) -> int:
    now = datetime.now(UTC)
    (row,) = (
        await Contact.insert(Contact(owner_entity=owner, name=name, created_at=now, updated_at=now))
        .returning(Contact.id)
        .run()
    )
    if shared_with is not None:
        await ContactShare.insert(
            ContactShare(contact=row["id"], entity=shared_with, access="read", created_at=now)
        ).run()
    return int(row["id"])


async def _user_token(
    entity: int,
    *,
    scope: str = "subtree",
    permissions: tuple[str, ...] = ("media:*", "contacts:read"),
    hidden: tuple[str, ...] = (),
) -> str:
    group = await make_group(entity, scope=scope, permissions=permissions, hidden=hidden)
    user = await make_user([entity], [group])
    return await token_for(user, entity)


async def _world() -> tuple[int, int, int, int]:
    """root -> a -> a1, root -> b."""
    root = await make_entity("Root")
    a = await make_entity("A", parent=root)
    a1 = await make_entity("A1", parent=a)
    b = await make_entity("B", parent=root)
    return root, a, a1, b


async def test_lists_details_and_exports_show_only_media_of_visible_issuers(db: None) -> None:
    """A user of A with subtree scope sees the media A and A1 issued, never
    B's: not in the list, not in the export, and B's medium's detail is 404."""
    _, a, a1, b = await _world()
    await allow("A-CARD", issuer=a)
    await allow("A1-CARD", issuer=a1)
    await allow("B-CARD", issuer=b)
    token = await _user_token(a)
    async with api_client() as client:
        listed = await client.get(MEDIA, headers=bearer(token))
        foreign_id = (
            await client.get(MEDIA, params={"q": "b-card"}, headers=bearer(await admin_token(b)))
        ).json()["items"][0]["id"]
        detail = await client.get(f"{MEDIA}/{foreign_id}", headers=bearer(token))
        patched = await client.patch(
            f"{MEDIA}/{foreign_id}", json={"status": "blocked"}, headers=bearer(token)
        )
        export = await client.get(f"{MEDIA}/export.csv", headers=bearer(token))
    assert listed.status_code == 200, listed.text
    assert [m["uid"] for m in listed.json()["items"]] == ["A-CARD", "A1-CARD"]
    assert listed.json()["total"] == 2
    assert detail.status_code == 404
    assert patched.status_code == 404
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert [row["uid"] for row in csv.DictReader(io.StringIO(export.text))] == [
        "A-CARD",
        "A1-CARD",
    ]


async def test_own_scope_sees_only_the_active_entity(db: None) -> None:
    """With scope own, media of the entity's children are not visible."""
    _, a, a1, _ = await _world()
    await allow("A-CARD", issuer=a)
    await allow("A1-CARD", issuer=a1)
    token = await _user_token(a, scope="own")
    async with api_client() as client:
        listed = await client.get(MEDIA, headers=bearer(token))
    assert [m["uid"] for m in listed.json()["items"]] == ["A-CARD"]


async def test_hidden_fields_are_absent_from_answers_and_exports(db: None) -> None:
    """Fields the user's groups hide are not in list, detail, create answers
    or the export, not even as null."""
    _, a, _, _ = await _world()
    contact = await _contact(a, "Driver")
    token = await _user_token(a, hidden=("media.note", "media.owner_contact_id"))
    async with api_client() as client:
        created = await client.post(
            MEDIA,
            json={"uid": "HID-1", "note": "secret", "owner_contact_id": contact},
            headers=bearer(token),
        )
        listed = await client.get(MEDIA, headers=bearer(token))
        detail = await client.get(f"{MEDIA}/{created.json()['id']}", headers=bearer(token))
        export = await client.get(f"{MEDIA}/export.csv", headers=bearer(token))
        by_owner = await client.get(
            MEDIA, params={"owner_contact_id": contact}, headers=bearer(token)
        )
        admin = await client.get(
            f"{MEDIA}/{created.json()['id']}", headers=bearer(await admin_token(a))
        )
    assert created.status_code == 201, created.text
    for body in (created.json(), listed.json()["items"][0], detail.json()):
        assert "note" not in body and "owner_contact_id" not in body
        assert body["bill_to_contact_id"] is None
    header = export.text.splitlines()[0].split(",")
    assert "note" not in header and "owner_contact_id" not in header
    assert "bill_to_contact_id" in header
    assert by_owner.status_code == 400
    assert (admin.json()["note"], admin.json()["owner_contact_id"]) == ("secret", contact)


async def test_contacts_must_be_visible_to_the_user(db: None) -> None:
    """Owner and bill-to contacts of another entity are refused with the
    field named; a contact shared with the user's entity is accepted."""
    _, a, _, b = await _world()
    foreign = await _contact(b, "Foreign")
    shared = await _contact(b, "Shared", shared_with=a)
    mine = await _contact(a, "Mine")
    token = await _user_token(a)
    async with api_client() as client:
        refused = await client.post(
            MEDIA,
            json={"uid": "C-1", "owner_contact_id": mine, "bill_to_contact_id": foreign},
            headers=bearer(token),
        )
        missing = await client.post(
            MEDIA, json={"uid": "C-1", "owner_contact_id": 999999}, headers=bearer(token)
        )
        accepted = await client.post(
            MEDIA,
            json={"uid": "C-1", "owner_contact_id": mine, "bill_to_contact_id": shared},
            headers=bearer(token),
        )
        patched = await client.patch(
            f"{MEDIA}/{accepted.json()['id']}",
            json={"owner_contact_id": foreign},
            headers=bearer(token),
        )
    assert refused.status_code == 400
    assert "bill_to_contact_id" in refused.json()["detail"]
    assert "owner_contact_id" not in refused.json()["detail"]
    assert missing.status_code == 400 and "owner_contact_id" in missing.json()["detail"]
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["bill_to_contact_id"] == shared
    assert patched.status_code == 400 and "owner_contact_id" in patched.json()["detail"]


async def test_a_uid_exists_once_in_the_instance(db: None) -> None:
    """Issuing a uid another entity's medium has, even one the user cannot
    see, is 409; bad uids and validity are 400."""
    _, a, _, b = await _world()
    await allow("TAKEN", issuer=b)
    token = await _user_token(a)
    async with api_client() as client:
        taken = await client.post(MEDIA, json={"uid": " TAKEN "}, headers=bearer(token))
        long = await client.post(MEDIA, json={"uid": "X" * 37}, headers=bearer(token))
        backwards = await client.post(
            MEDIA,
            json={
                "uid": "V-1",
                "valid_from": "2030-01-02T00:00:00Z",
                "valid_until": "2030-01-01T00:00:00Z",
            },
            headers=bearer(token),
        )
        naive = await client.post(
            MEDIA, json={"uid": "V-2", "valid_until": "2030-01-01T00:00:00"}, headers=bearer(token)
        )
        unknown = await client.post(
            MEDIA, json={"uid": "V-3", "colour": "red"}, headers=bearer(token)
        )
    assert taken.status_code == 409
    assert long.status_code == 400 and "36" in long.json()["detail"]
    assert backwards.status_code == 400 and "valid_until" in backwards.json()["detail"]
    assert naive.status_code == 400 and "time zone" in naive.json()["detail"]
    assert unknown.status_code == 400


async def test_issuers_are_checked_on_create_and_move(db: None) -> None:
    """A medium is issued by the active entity by default; issuing for, or
    moving to, an entity outside the user's scope is refused."""
    _, a, a1, b = await _world()
    token = await _user_token(a)
    async with api_client() as client:
        default = await client.post(MEDIA, json={"uid": "M-1"}, headers=bearer(token))
        foreign = await client.post(
            MEDIA, json={"uid": "M-2", "issuing_entity_id": b}, headers=bearer(token)
        )
        moved = await client.patch(
            f"{MEDIA}/{default.json()['id']}", json={"issuing_entity_id": a1}, headers=bearer(token)
        )
        away = await client.patch(
            f"{MEDIA}/{default.json()['id']}", json={"issuing_entity_id": b}, headers=bearer(token)
        )
    assert default.status_code == 201 and default.json()["issuing_entity_id"] == a
    # An entity the user may not see is answered as an absent one (issue 14).
    assert foreign.status_code == 400
    assert moved.status_code == 200 and moved.json()["issuing_entity_id"] == a1
    assert away.status_code == 400


async def test_read_only_users_cannot_issue_or_block(db: None) -> None:
    """media:read alone lists media but may neither create nor change them."""
    _, a, _, _ = await _world()
    await allow("RO-1", issuer=a)
    token = await _user_token(a, permissions=("media:read",))
    async with api_client() as client:
        listed = await client.get(MEDIA, headers=bearer(token))
        created = await client.post(MEDIA, json={"uid": "RO-2"}, headers=bearer(token))
        blocked = await client.patch(
            f"{MEDIA}/{listed.json()['items'][0]['id']}",
            json={"status": "blocked"},
            headers=bearer(token),
        )
    assert listed.json()["total"] == 1
    assert created.status_code == 403
    assert blocked.status_code == 403


async def test_filters_narrow_the_list(db: None) -> None:
    """q matches part of the uid in any case (a % is literal); status,
    kind, group and issuer filter exactly; pages hold the total."""
    _, a, a1, _ = await _world()
    await allow("CARD_100", issuer=a, group_uid="FLEET")
    await allow("CARD-200", issuer=a1)
    await allow("APP-1", issuer=a, status=MediumStatus.BLOCKED, kind=MediumKind.APP)
    token = await _user_token(a)

    async def uids(**params: object) -> list[str]:
        answer = await client.get(MEDIA, params=params, headers=bearer(token))
        assert answer.status_code == 200, answer.text
        return [m["uid"] for m in answer.json()["items"]]

    async with api_client() as client:
        assert await uids(q="card") == ["CARD-200", "CARD_100"]
        assert await uids(q="d_1") == ["CARD_100"]
        assert await uids(q="%") == []
        assert await uids(status="blocked") == ["APP-1"]
        assert await uids(kind="app") == ["APP-1"]
        assert await uids(group_uid="FLEET") == ["CARD_100"]
        assert await uids(issuing_entity_id=a1) == ["CARD-200"]
        page = await client.get(MEDIA, params={"limit": 1, "offset": 1}, headers=bearer(token))
        bad = await client.get(MEDIA, params={"status": "gone"}, headers=bearer(token))
    assert page.json()["total"] == 3 and [m["uid"] for m in page.json()["items"]] == ["CARD-200"]
    assert bad.status_code == 400


async def test_every_change_is_announced_after_it_is_stored(db: None) -> None:
    """Create, block, edit and import each announce the uids changed; a
    refused change announces nothing."""
    _, a, _, _ = await _world()
    changes = RecordedChanges()
    token = await _user_token(a)
    async with api_client(ApiContext(crm_changes=changes)) as client:
        created = await client.post(MEDIA, json={"uid": "ANN-1"}, headers=bearer(token))
        medium_id = created.json()["id"]
        blocked = await client.patch(
            f"{MEDIA}/{medium_id}", json={"status": "blocked"}, headers=bearer(token)
        )
        await client.post(MEDIA, json={"uid": "ANN-1"}, headers=bearer(token))
        await client.patch(
            f"{MEDIA}/{medium_id}",
            json={"valid_from": "2030-01-01T00:00:00Z", "valid_until": "2029-01-01T00:00:00Z"},
            headers=bearer(token),
        )
        imported = await client.post(
            f"{MEDIA}/import",
            content=b"uid,status\nANN-2,\nANN-3,lost\n",
            headers=bearer(token) | {"Content-Type": "text/csv"},
        )
    assert blocked.json()["status"] == "blocked"
    assert imported.status_code == 201, imported.text
    assert changes.media == [
        frozenset({"ANN-1"}),
        frozenset({"ANN-1"}),
        frozenset({"ANN-2", "ANN-3"}),
    ]


async def test_an_import_with_bad_lines_imports_nothing(db: None) -> None:
    """A CSV import names every bad line (format, repeats, foreign issuer,
    invisible contact, existing uid) and writes nothing; a good one adds
    every row, and skip_existing leaves existing uids alone."""
    _, a, a1, b = await _world()
    await allow("OLD-1", issuer=a)
    foreign_contact = await _contact(b, "Foreign")
    token = await _user_token(a)
    bad = (
        "uid,kind,status,valid_until,issuing_entity,owner_contact_id,group\n"
        "GOOD-1,rfid,,2030-01-01T00:00:00Z,,,FLEET\n"  # line 2
        "BAD-KIND,card,,,,,\n"  # line 3
        "BAD-TIME,,,2030-01-01,,,\n"  # line 4
        f"BAD-ISSUER,,,,{b},,\n"  # line 5
        f"BAD-CONTACT,,,,,{foreign_contact},\n"  # line 6
        "OLD-1,,,,,,\n"  # line 7
        "GOOD-1,,,,,,\n"  # line 8
    )
    async with api_client() as client:
        refused = await client.post(f"{MEDIA}/import", content=bad.encode(), headers=bearer(token))
        after = await client.get(MEDIA, headers=bearer(token))
        typo = await client.post(
            f"{MEDIA}/import", content=b"uid,colour\nX,red\n", headers=bearer(token)
        )
        good = await client.post(
            f"{MEDIA}/import",
            content=f"uid,issuing_entity,group\nNEW-1,{a1},FLEET\nNEW-2,,\nOLD-1,,\n".encode(),
            params={"skip_existing": "true"},
            headers=bearer(token),
        )
        listed = await client.get(MEDIA, params={"group_uid": "FLEET"}, headers=bearer(token))
    assert refused.status_code == 400
    detail = refused.json()["detail"]
    assert detail.startswith("nothing imported")
    for expected in (
        "line 3: kind",
        "line 4: give a time zone",
        f"line 5: you may not create media of entity {b}",
        "line 6: owner_contact_id",
        "line 7: a medium with uid 'OLD-1' exists already",
        "line 8: 'GOOD-1' repeats line 2",
    ):
        assert expected in detail
    assert "line 2:" not in detail
    assert [m["uid"] for m in after.json()["items"]] == ["OLD-1"]
    assert typo.status_code == 400 and "colour" in typo.json()["detail"]
    assert good.status_code == 201, good.text
    assert good.json() == {"imported": 2, "skipped": ["OLD-1"]}
    assert [(m["uid"], m["issuing_entity_id"]) for m in listed.json()["items"]] == [("NEW-1", a1)]


async def test_an_export_imports_again(db: None) -> None:
    """What the export writes, an import in another instance's empty
    registry reads back unchanged, a note that looks like a formula too."""
    _, a, _, _ = await _world()
    contact = await _contact(a, "Driver")
    token = await _user_token(a)
    async with api_client() as client:
        await client.post(
            MEDIA,
            json={
                "uid": "RT-1",
                "kind": "emaid",
                "group_uid": "G",
                "valid_from": "2029-01-01T00:00:00+01:00",
                "valid_until": "2030-01-01T00:00:00Z",
                "owner_contact_id": contact,
                "note": '=HYPERLINK("http://evil.example", "a, b")',
            },
            headers=bearer(token),
        )
        before = (await client.get(MEDIA, headers=bearer(token))).json()["items"]
        export = await client.get(f"{MEDIA}/export.csv", headers=bearer(token))
        # A spreadsheet must not run the note as a formula.
        assert "'=HYPERLINK" in export.text
        await client.patch(
            f"{MEDIA}/{before[0]['id']}", json={"status": "lost"}, headers=bearer(token)
        )
        # Another uid, same content: rename the exported row.
        again = await client.post(
            f"{MEDIA}/import",
            content=export.text.replace("RT-1", "RT-2").encode(),
            headers=bearer(token),
        )
        after = (await client.get(MEDIA, params={"q": "RT-2"}, headers=bearer(token))).json()
    assert again.status_code == 201, again.text
    copy = after["items"][0]
    for field in ("kind", "group_uid", "owner_contact_id", "note", "issuing_entity_id", "status"):
        assert copy[field] == before[0][field], field
    for field in ("valid_from", "valid_until"):
        assert datetime.fromisoformat(copy[field]) == datetime.fromisoformat(before[0][field])
