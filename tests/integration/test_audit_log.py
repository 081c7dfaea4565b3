"""The audit log (issue 14): every operator change made through the API is
kept with who, when, which entity, what and from where, listed and filtered
at GET /api/v1/audit-log within the reader's scope, and never changed.

(The table outlives each test's rows, as it outlives everything in
production: each test reads only the entries since it began.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm.tables import AuditEntry
from tests.world import admin_token, api_client, bearer, make_entity, make_group, make_user

AUDIT = "/api/v1/audit-log"


def _since(moment: datetime) -> dict[str, str]:
    return {"since": moment.isoformat()}


async def test_a_change_is_recorded_with_who_what_and_where(db: None) -> None:
    """A PATCH of an entity and a POST of a user are kept with the user's id
    and e-mail, the time, the entity, method, path, kind, object id, the
    names of the fields sent (the password's name, never its value), the
    client address and the request id; reads and refused changes are not."""
    began = datetime.now(UTC)
    root = await make_entity("Root")
    child = await make_entity("Child", parent=root)
    group = await make_group(root, scope="all")
    admin = await make_user([root], [group], email="auditor@example.com")
    from tests.world import token_for

    token = await token_for(admin, root)
    async with api_client() as client:
        changed = await client.patch(
            f"/api/v1/entities/{child}",
            json={"name": "Child GmbH", "phone": "+49 40 1"},
            headers=bearer(token),
        )
        created = await client.post(
            "/api/v1/users",
            json={
                "email": "new@example.com",
                "name": "New",
                "entity_ids": [child],
                "password": "a-secret-password-1",
            },
            headers=bearer(token),
        )
        await client.get(f"/api/v1/entities/{child}", headers=bearer(token))
        refused = await client.patch(
            f"/api/v1/entities/{child}", json={"parent_id": child}, headers=bearer(token)
        )
        listed = await client.get(AUDIT, params=_since(began), headers=bearer(token))
    assert changed.status_code == 200 and created.status_code == 201, created.text
    assert refused.status_code == 400
    assert listed.status_code == 200, listed.text
    assert "a-secret-password-1" not in listed.text
    entries = listed.json()["items"]
    assert [(e["method"], e["kind"]) for e in entries] == [("POST", "users"), ("PATCH", "entities")]
    user_entry, entity_entry = entries
    assert entity_entry | {"id": None, "at": None} == {
        "id": None,
        "at": None,
        "user_id": admin,
        "user_email": "auditor@example.com",
        "entity_id": child,
        "acting_entity_id": root,
        "method": "PATCH",
        "path": f"/api/v1/entities/{child}",
        "kind": "entities",
        "object_id": str(child),
        "fields": ["name", "phone"],
        "status": 200,
        "client_address": "testclient",
        "request_id": changed.headers["x-request-id"],
    }
    moment = datetime.fromisoformat(entity_entry["at"])
    assert began <= moment <= datetime.now(UTC)
    assert user_entry["object_id"] == str(created.json()["id"])
    assert user_entry["entity_id"] == child  # the new user's default entity
    assert user_entry["fields"] == ["email", "entity_ids", "name", "password"]


async def _changes_in_two_entities() -> tuple[int, int, int, str]:
    root = await make_entity("Root")
    a = await make_entity("A", parent=root)
    b = await make_entity("B", parent=root)
    token = await admin_token(root)
    async with api_client() as client:
        for entity in (a, b):
            answer = await client.patch(
                f"/api/v1/entities/{entity}", json={"city": "Kiel"}, headers=bearer(token)
            )
            assert answer.status_code == 200
            answer = await client.post(
                "/api/v1/media",
                json={"uid": f"04AA{entity:04d}", "issuing_entity_id": entity},
                headers=bearer(token),
            )
            assert answer.status_code == 201, answer.text
    return root, a, b, token


async def test_a_user_sees_the_entries_of_their_entities_only(db: None) -> None:
    """A user of A (scope own) lists A's entries, none of B's, even when
    asking for B by filter; a user without audit_log:read gets 403."""
    began = datetime.now(UTC)
    _, a, b, _ = await _changes_in_two_entities()
    a_user = await make_user([a], [await make_group(a, scope="own")])
    reader_less = await make_user([a], [await make_group(a, permissions=["entities:read"])])
    from tests.world import token_for

    async with api_client() as client:
        mine = await client.get(
            AUDIT, params=_since(began), headers=bearer(await token_for(a_user, a))
        )
        theirs = await client.get(
            AUDIT,
            params=_since(began) | {"entity_id": str(b)},
            headers=bearer(await token_for(a_user, a)),
        )
        refused = await client.get(AUDIT, headers=bearer(await token_for(reader_less, a)))
    assert {e["entity_id"] for e in mine.json()["items"]} == {a}
    assert sorted(e["kind"] for e in mine.json()["items"]) == ["entities", "media"]
    assert theirs.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
    assert refused.status_code == 403


async def test_the_log_is_filtered_by_entity_user_kind_and_time(db: None) -> None:
    """Filters: entity_id, user_id, kind, since and until (a zone is
    required), combined."""
    began = datetime.now(UTC)
    _, _, b, token = await _changes_in_two_entities()
    after = datetime.now(UTC) + timedelta(seconds=1)
    async with api_client() as client:
        me = (await client.get("/api/v1/auth/me", headers=bearer(token))).json()["user_id"]

        async def ask(**filters: Any) -> Any:
            answer = await client.get(
                AUDIT,
                params=_since(began) | {k: str(v) for k, v in filters.items()},
                headers=bearer(token),
            )
            return answer

        everything = (await ask()).json()
        of_b = (await ask(entity_id=b)).json()["items"]
        media_of_b = (await ask(entity_id=b, kind="media")).json()["items"]
        by_me = (await ask(user_id=me)).json()["total"]
        by_nobody = (await ask(user_id=me + 1000)).json()["total"]
        later = (await ask(since=after.isoformat())).json()["total"]
        before = (await ask(until=began.isoformat())).json()["total"]
        naive = await ask(until="2026-12-06T10:00:00")
    assert everything["total"] == 4
    assert {e["entity_id"] for e in of_b} == {b} and len(of_b) == 2
    assert [(e["kind"], e["method"]) for e in media_of_b] == [("media", "POST")]
    assert by_me == 4 and by_nobody == 0
    assert later == 0 and before == 0
    assert naive.status_code == 400


async def test_entries_cannot_be_changed_or_deleted(db: None) -> None:
    """The database refuses UPDATE and DELETE of an entry (a trigger), and
    the API has no path that would try."""
    began = datetime.now(UTC)
    _, a, _, token = await _changes_in_two_entities()
    async with api_client() as client:
        listed = await client.get(AUDIT, params=_since(began), headers=bearer(token))
        entry = listed.json()["items"][0]
        patched = await client.patch(f"{AUDIT}/{entry['id']}", json={}, headers=bearer(token))
        deleted = await client.delete(f"{AUDIT}/{entry['id']}", headers=bearer(token))
    assert patched.status_code in (404, 405) and deleted.status_code in (404, 405)
    with pytest.raises(Exception, match="append-only"):
        await AuditEntry.update({AuditEntry.user_email: "someone@else.example"}).where(
            AuditEntry.id == entry["id"]
        )
    with pytest.raises(Exception, match="append-only"):
        await AuditEntry.delete().where(AuditEntry.id == entry["id"])
    kept = await AuditEntry.select().where(AuditEntry.id == entry["id"]).first()
    assert kept is not None and kept["user_email"] == entry["user_email"]
    assert kept["entity_id"] == entry["entity_id"]
    assert a in {entry["entity_id"] for entry in listed.json()["items"]}


async def test_a_change_made_on_the_operators_pages_is_recorded(db: None) -> None:
    """A medium issued through the media page's form is kept like one made
    through the API (user, entity named in the form, POST and path, kind,
    the names of the form's fields, the CSRF token left out); the login
    and a form refused for bad input are not changes."""
    import re

    from tests.e2e.ui_helpers import operator_user
    from tests.world import PASSWORD, token_for

    began = datetime.now(UTC)
    a = await make_entity("Alpha")
    user = await operator_user([a], email="anna@alpha.example")
    async with api_client() as client:
        login_page = await client.get("/login")
        (csrf,) = re.findall(r'name="_csrf" value="([^"]+)"', login_page.text)[:1]
        logged_in = await client.post(
            "/login",
            data={"_csrf": csrf, "email": "anna@alpha.example", "password": PASSWORD, "next": "/"},
            follow_redirects=False,
        )
        assert logged_in.status_code == 303
        form = {
            "_csrf": csrf,
            "uid": "04AUD1T0",
            "kind": "rfid",
            "status": "active",
            "issuing_entity_id": str(a),
        }
        issued = await client.post("/media", data=form, follow_redirects=False)
        refused = await client.post("/media", data={**form, "issuing_entity_id": "x"})
        client.cookies.clear()
        token = await token_for(user, a)
        log = await client.get(AUDIT, params=_since(began), headers=bearer(token))
    assert issued.status_code == 303, issued.text
    assert refused.status_code == 400
    entries = log.json()["items"]
    assert [(e["method"], e["path"], e["kind"]) for e in entries] == [("POST", "/media", "media")]
    [entry] = entries
    assert entry["user_id"] == user and entry["entity_id"] == a
    assert entry["status"] == 303
    assert "_csrf" not in entry["fields"] and {"uid", "issuing_entity_id"} <= set(entry["fields"])
