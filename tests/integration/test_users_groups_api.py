"""Users and groups through the operators' API."""

from __future__ import annotations

from crm.passwords import hash_password
from tests.world import (
    PASSWORD,
    admin_token,
    api_client,
    bearer,
    make_entity,
    make_group,
    make_user,
    token_for,
)


async def test_a_user_with_two_entities_logs_in_and_switches(db: None) -> None:
    """An admin creates a user in two entities with a password; the user
    logs in in the default entity and works in the other by header."""
    root = await make_entity("Root")
    a = await make_entity("A", parent=root)
    b = await make_entity("B", parent=root)
    token = await admin_token(root)
    async with api_client() as client:
        group = await client.post(
            "/api/v1/groups",
            json={"name": "Dispatch", "scope": "own", "permissions": ["entities:read"]},
            headers=bearer(token),
        )
        assert group.status_code == 201, group.text
        created = await client.post(
            "/api/v1/users",
            json={
                "email": "Dana@Example.com",
                "name": "Dana",
                "entity_ids": [a, b],
                "default_entity_id": b,
                "group_ids": [group.json()["id"]],
                "password": PASSWORD,
            },
            headers=bearer(token),
        )
        assert created.status_code == 201, created.text
        assert created.json()["entity_ids"] == [a, b]
        login = await client.post(
            "/api/v1/auth/login", json={"email": "dana@example.com", "password": PASSWORD}
        )
        user_token = login.json()["token"]
        in_b = await client.get(f"/api/v1/entities/{b}", headers=bearer(user_token))
        a_from_b = await client.get(f"/api/v1/entities/{a}", headers=bearer(user_token))
        in_a = await client.get(f"/api/v1/entities/{a}", headers=bearer(user_token, a))
    assert login.json()["active_entity_id"] == b
    assert in_b.status_code == 200
    assert a_from_b.status_code == 404
    assert in_a.status_code == 200


async def test_nobody_grants_more_than_they_hold(db: None) -> None:
    """A user manager with scope own cannot create a group with scope all or
    with permissions they lack, nor put someone in an admin group."""
    root = await make_entity("Root")
    admins = await make_group(root, scope="all", permissions=["*"])
    managers = await make_group(
        root, scope="own", permissions=["users:*", "groups:*", "contacts:read"]
    )
    manager = await make_user([root], [managers])
    victim = await make_user([root])
    token = await token_for(manager, root)
    async with api_client() as client:
        wider = await client.post(
            "/api/v1/groups",
            json={"name": "Wide", "scope": "all", "permissions": ["contacts:read"]},
            headers=bearer(token),
        )
        more = await client.post(
            "/api/v1/groups",
            json={"name": "More", "scope": "own", "permissions": ["media:read"]},
            headers=bearer(token),
        )
        fine = await client.post(
            "/api/v1/groups",
            json={"name": "Readers", "scope": "own", "permissions": ["contacts:read"]},
            headers=bearer(token),
        )
        escalate = await client.post(
            f"/api/v1/users/{victim}/groups", json={"group_id": admins}, headers=bearer(token)
        )
    assert wider.status_code == 403
    assert more.status_code == 403
    assert fine.status_code == 201
    assert escalate.status_code == 403


async def test_users_outside_the_scope_are_not_found(db: None) -> None:
    """A user manager of A sees A's users only, and only A's memberships of
    a user who is also in B."""
    root = await make_entity("Root")
    a = await make_entity("A", parent=root)
    b = await make_entity("B", parent=root)
    managers = await make_group(a, scope="own", permissions=["users:read"])
    manager = await make_user([a], [managers])
    both = await make_user([a, b])
    only_b = await make_user([b])
    token = await token_for(manager, a)
    async with api_client() as client:
        listed = await client.get("/api/v1/users", headers=bearer(token))
        foreign = await client.get(f"/api/v1/users/{only_b}", headers=bearer(token))
        shared = await client.get(f"/api/v1/users/{both}", headers=bearer(token))
    assert sorted(u["id"] for u in listed.json()["items"]) == sorted([manager, both])
    assert foreign.status_code == 404
    assert shared.json()["entity_ids"] == [a]


async def test_deactivating_a_user_ends_their_logins(db: None) -> None:
    """After active=false the user's token is refused and login fails."""
    root = await make_entity("Root")
    admin = await admin_token(root)
    user = await make_user(
        [root], email="leaver@example.com", password_hash=hash_password(PASSWORD, "fast")
    )
    user_token = await token_for(user, root)
    async with api_client() as client:
        off = await client.patch(
            f"/api/v1/users/{user}", json={"active": False}, headers=bearer(admin)
        )
        me = await client.get("/api/v1/auth/me", headers=bearer(user_token))
        again = await client.post(
            "/api/v1/auth/login", json={"email": "leaver@example.com", "password": PASSWORD}
        )
    assert off.status_code == 200
    assert me.status_code == 401
    assert again.status_code == 401


async def test_bad_user_and_group_input_is_a_400(db: None) -> None:
    """Bad e-mail, short password, unknown permission or hidden field, a
    duplicate e-mail (409)."""
    root = await make_entity("Root")
    token = await admin_token(root)
    await make_user([root], email="taken@example.com")
    async with api_client() as client:
        answers = {
            "email": await client.post(
                "/api/v1/users", json={"email": "nope", "entity_ids": [root]}, headers=bearer(token)
            ),
            "password": await client.post(
                "/api/v1/users",
                json={"email": "x@example.com", "entity_ids": [root], "password": "short"},
                headers=bearer(token),
            ),
            "permission": await client.post(
                "/api/v1/groups",
                json={"name": "G", "permissions": ["rockets:launch"]},
                headers=bearer(token),
            ),
            "hidden": await client.post(
                "/api/v1/groups",
                json={
                    "name": "G",
                    "permissions": ["contacts:read"],
                    "hidden_fields": ["contacts.id"],
                },
                headers=bearer(token),
            ),
            "scope": await client.post(
                "/api/v1/groups", json={"name": "G", "scope": "galaxy"}, headers=bearer(token)
            ),
        }
        duplicate = await client.post(
            "/api/v1/users",
            json={"email": "TAKEN@example.com", "entity_ids": [root]},
            headers=bearer(token),
        )
    assert {k: a.status_code for k, a in answers.items()} == dict.fromkeys(answers, 400)
    assert duplicate.status_code == 409


async def test_the_most_permissive_group_wins(db: None) -> None:
    """In a group with scope own hiding nothing and one with scope subtree
    hiding the comment, the user sees the subtree, and the comment on their
    own entity (the own group reads it and hides nothing) but not on the
    child (only the subtree group reads it, and hides it)."""
    root = await make_entity("Root", comment="root note")
    child = await make_entity("Child", parent=root, comment="child note")
    narrow = await make_group(root, scope="own", permissions=["entities:read"])
    wide = await make_group(
        root, scope="subtree", permissions=["entities:read"], hidden=["entities.comment"]
    )
    user = await make_user([root], [narrow, wide])
    token = await token_for(user, root)
    async with api_client() as client:
        listed = await client.get("/api/v1/entities", headers=bearer(token))
    items = listed.json()["items"]
    assert sorted(e["id"] for e in items) == [root, child]
    shown = {e["id"]: e for e in items}
    assert shown[root]["comment"] == "root note"
    assert "comment" not in shown[child]


async def test_rows_a_user_may_see_name_nothing_they_may_not(db: None) -> None:
    """A group's members and a user's default entity outside the viewer's
    scope are left out (property tests found both)."""
    root = await make_entity("Root")
    a = await make_entity("A", parent=root)
    b = await make_entity("B", parent=root)
    viewers = await make_group(a, scope="own", permissions=["groups:read", "users:read"])
    viewer = await make_user([a], [viewers])
    outsider = await make_user([b, a], [viewers], default=b)
    token = await token_for(viewer, a)
    async with api_client() as client:
        group = await client.get(f"/api/v1/groups/{viewers}", headers=bearer(token))
        user = await client.get(f"/api/v1/users/{outsider}", headers=bearer(token))
    assert group.json()["member_ids"] == [viewer, outsider]
    assert user.json()["entity_ids"] == [a]
    assert user.json()["default_entity_id"] is None


async def test_group_members_the_viewer_cannot_see_are_not_listed(db: None) -> None:
    """A member of A's group who belongs only to B is not in member_ids for
    a viewer of A."""
    root = await make_entity("Root")
    a = await make_entity("A", parent=root)
    b = await make_entity("B", parent=root)
    viewers = await make_group(a, scope="own", permissions=["groups:read", "users:read"])
    viewer = await make_user([a], [viewers])
    await make_user([b], [viewers])
    token = await token_for(viewer, a)
    async with api_client() as client:
        listed = await client.get("/api/v1/groups", headers=bearer(token))
    assert [g["member_ids"] for g in listed.json()["items"]] == [[viewer]]


async def test_a_search_does_not_match_an_email_hidden_from_the_searcher(db: None) -> None:
    """For a user whose group hides users' e-mail, ?q= matches names only:
    searching for a piece of someone's address finds nobody (it would tell
    whose address it is); a user who sees e-mails finds them by it."""
    a = await make_entity("A")
    blind = await make_group(a, permissions=["users:read"], hidden=["users.email"])
    seeing = await make_group(a, permissions=["users:read"])
    searcher = await make_user([a], [blind])
    admin = await make_user([a], [seeing])
    target = await make_user([a], email="secret.person@hidden.example")
    async with api_client() as client:
        hidden = await client.get(
            "/api/v1/users",
            params={"q": "secret.person"},
            headers=bearer(await token_for(searcher, a)),
        )
        by_name = await client.get(
            "/api/v1/users", params={"q": "Test User"}, headers=bearer(await token_for(searcher, a))
        )
        shown = await client.get(
            "/api/v1/users",
            params={"q": "secret.person"},
            headers=bearer(await token_for(admin, a)),
        )
    assert hidden.status_code == 200 and hidden.json()["items"] == []
    assert target in [u["id"] for u in by_name.json()["items"]]
    assert all("email" not in u for u in by_name.json()["items"])
    assert [u["id"] for u in shown.json()["items"]] == [target]
