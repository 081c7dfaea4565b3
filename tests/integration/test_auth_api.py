"""Logging in to the operators' API and acting in one's entities."""

from __future__ import annotations

from crm.passwords import hash_password
from tests.world import PASSWORD, api_client, bearer, make_entity, make_group, make_user


async def test_login_gives_a_token_that_opens_the_api(db: None) -> None:
    """Login with e-mail and password gives a bearer token; /auth/me answers with it."""
    root = await make_entity("Root")
    group = await make_group(root, scope="subtree", permissions=["contacts:read"])
    await make_user(
        [root], [group], email="ops@example.com", password_hash=hash_password(PASSWORD, "fast")
    )
    async with api_client() as client:
        login = await client.post(
            "/api/v1/auth/login", json={"email": "OPS@example.com ", "password": PASSWORD}
        )
        assert login.status_code == 201, login.text
        token = login.json()["token"]
        me = await client.get("/api/v1/auth/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json()["active_entity_id"] == root
    assert me.json()["permissions"] == {"contacts:read": "subtree"}


async def test_wrong_password_and_unknown_user_get_the_same_401(db: None) -> None:
    """A wrong password and an unknown e-mail are told apart by nothing."""
    root = await make_entity("Root")
    await make_user([root], email="ops@example.com", password_hash=hash_password(PASSWORD, "fast"))
    async with api_client() as client:
        wrong = await client.post(
            "/api/v1/auth/login", json={"email": "ops@example.com", "password": "x" * 12}
        )
        unknown = await client.post(
            "/api/v1/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
        )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_no_token_is_401_and_a_foreign_entity_is_403(db: None) -> None:
    """Without a token the API says 401; asking to act in an entity the user
    does not belong to is 403."""
    root = await make_entity("Root")
    other = await make_entity("Other", parent=root)
    user = await make_user([root], email="ops@example.com")
    from tests.world import token_for

    token = await token_for(user, root)
    async with api_client() as client:
        anonymous = await client.get("/api/v1/auth/me")
        foreign = await client.get("/api/v1/auth/me", headers=bearer(token, other))
        garbled = await client.get("/api/v1/auth/me", headers=bearer(token) | {"X-Entity-Id": "x"})
    assert anonymous.status_code == 401
    assert foreign.status_code == 403
    assert garbled.status_code == 400


async def test_switching_the_active_entity_per_session(db: None) -> None:
    """A user of two entities switches the session's active entity; the
    header overrides it for one request."""
    first = await make_entity("First")
    second = await make_entity("Second")
    user = await make_user([first, second], email="two@example.com")
    from tests.world import token_for

    token = await token_for(user, first)
    async with api_client() as client:
        switched = await client.put(
            "/api/v1/auth/entity", json={"entity_id": second}, headers=bearer(token)
        )
        after = await client.get("/api/v1/auth/me", headers=bearer(token))
        header = await client.get("/api/v1/auth/me", headers=bearer(token, first))
    assert switched.status_code == 200
    assert after.json()["active_entity_id"] == second
    assert header.json()["active_entity_id"] == first


async def test_logout_ends_the_token(db: None) -> None:
    """After logout the token is refused."""
    root = await make_entity("Root")
    await make_user([root], email="ops@example.com", password_hash=hash_password(PASSWORD, "fast"))
    async with api_client() as client:
        login = await client.post(
            "/api/v1/auth/login",
            json={"email": "ops@example.com", "password": PASSWORD, "kind": "ui"},
        )
        token = login.json()["token"]
        assert "csms_session" in login.headers.get("set-cookie", "")
        out = await client.delete("/api/v1/auth/login", headers=bearer(token))
        after = await client.get("/api/v1/auth/me", headers=bearer(token))
    assert out.status_code == 204
    assert after.status_code == 401


async def test_an_expired_login_is_refused_and_purged(db: None) -> None:
    """A token past its expiry gets 401; the hourly purge removes its row."""
    from datetime import UTC, datetime, timedelta

    from crm.storage.logins import PiccoloLogins
    from crm.tables import LoginSession
    from tests.world import token_for

    root = await make_entity("Root")
    user = await make_user([root])
    token = await token_for(user, root)
    await LoginSession.update(
        {LoginSession.expires_at: datetime.now(UTC) - timedelta(seconds=1)}
    ).where(LoginSession.user == user)
    async with api_client() as client:
        expired = await client.get("/api/v1/auth/me", headers=bearer(token))
    assert expired.status_code == 401
    assert await PiccoloLogins().purge_expired(datetime.now(UTC)) == 1
    assert await LoginSession.count() == 0
