"""The drivers' app API, accounts: registration with an entity's code,
e-mail verification from the outbox, logins with rotated refresh tokens,
password reset, rate limits, and the separation from the operators' API."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from crm.tables import Contact, DriverLogin, DriverToken, Medium
from tests.drivers_app_helpers import (
    APP,
    PASSWORD,
    app_context,
    auth,
    drivers_client,
    entity_with_code,
    mailed_code,
    mails,
    registered,
    registration,
    unique_email,
)
from tests.world import admin_token, bearer, make_group, make_user, token_for


async def test_registration_makes_a_contact_with_the_entitys_number_and_a_blocked_app_token(
    db: None,
) -> None:
    """A registration answers 202, makes the driver a contact of the entity
    with a number of its format, and an app token that stays blocked until
    the e-mail is verified (then it is active)."""
    entity, code = await entity_with_code(customer_number_format="D-%04d")
    email = unique_email()
    async with drivers_client() as client:
        answer = await client.post(f"{APP}/registrations", json=registration(code, email))
        assert answer.status_code == 202, answer.text
        contact = await Contact.select().where(Contact.email == email).first()
        assert contact["owner_entity"] == entity
        assert contact["customer_number"] == "D-0001"
        token = await Medium.select().where(Medium.owner_contact == contact["id"]).first()
        assert (token["kind"], token["status"], token["issuing_entity"]) == (
            "app",
            "blocked",
            entity,
        )
        assert token["bill_to_contact"] == contact["id"]
        verified = await client.post(
            f"{APP}/verification", json={"token": await mailed_code(email, "verify")}
        )
        assert verified.status_code == 204
        token = await Medium.select().where(Medium.id == token["id"]).first()
        assert token["status"] == "active"


async def test_an_entity_that_does_not_allow_self_registration_refuses_with_403(db: None) -> None:
    """The code of an entity without customer self-registration: 403, no contact."""
    _, code = await entity_with_code(allows=False)
    email = unique_email()
    async with drivers_client() as client:
        answer = await client.post(f"{APP}/registrations", json=registration(code, email))
    assert answer.status_code == 403, answer.text
    assert await Contact.count().where(Contact.email == email) == 0


async def test_an_unknown_code_is_404(db: None) -> None:
    """A registration code nobody has: 404."""
    async with drivers_client() as client:
        answer = await client.post(
            f"{APP}/registrations", json=registration("NOSUCHCODE", unique_email())
        )
    assert answer.status_code == 404


async def test_a_known_email_gets_the_same_answer_and_an_account_exists_mail(db: None) -> None:
    """Registering an e-mail that has a login answers exactly as a new one
    and mails "you already have an account"; no second login is made."""
    _, code = await entity_with_code()
    email = unique_email()
    async with drivers_client() as client:
        first = await client.post(f"{APP}/registrations", json=registration(code, email))
        second = await client.post(
            f"{APP}/registrations", json=registration(code, email.upper(), name="Other")
        )
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert await DriverLogin.count() == 1
    assert len(await mails(email, "account_exists")) == 1


async def test_iban_and_bic_are_checked_and_stored_compact(db: None) -> None:
    """A wrong IBAN check digit is 400; a valid one is stored without spaces."""
    _, code = await entity_with_code()
    async with drivers_client() as client:
        bad = await client.post(
            f"{APP}/registrations",
            json=registration(code, unique_email(), iban="DE89 3704 0044 0532 0130 01"),
        )
        email = unique_email()
        good = await client.post(
            f"{APP}/registrations",
            json=registration(code, email, iban="DE89 3704 0044 0532 0130 00", bic="COBADEFFXXX"),
        )
    assert bad.status_code == 400 and "iban" in bad.json()["detail"]
    assert good.status_code == 202
    contact = await Contact.select(Contact.iban, Contact.bic).where(Contact.email == email).first()
    assert contact == {"iban": "DE89370400440532013000", "bic": "COBADEFFXXX"}


async def test_a_short_password_is_refused_as_for_operators(db: None) -> None:
    """The operators' password rule (at least 10 characters) holds: 400."""
    _, code = await entity_with_code()
    async with drivers_client() as client:
        answer = await client.post(
            f"{APP}/registrations", json=registration(code, unique_email(), password="short")
        )
    assert answer.status_code == 400
    assert "10 characters" in answer.json()["detail"]


async def test_a_rotated_refresh_token_used_again_revokes_the_login(db: None) -> None:
    """Refreshing gives a new pair and uses the old refresh token up; using
    it a second time is 401 and ends every token of that login."""
    _, code = await entity_with_code()
    async with drivers_client() as client:
        login = await registered(client, code)
        first = await client.post(f"{APP}/token", json={"refresh_token": login["refresh_token"]})
        assert first.status_code == 200, first.text
        pair = first.json()
        assert (
            await client.get(f"{APP}/me", headers=auth(pair["access_token"]))
        ).status_code == 200
        replay = await client.post(f"{APP}/token", json={"refresh_token": login["refresh_token"]})
        assert replay.status_code == 401
        after = await client.get(f"{APP}/me", headers=auth(pair["access_token"]))
        refreshed = await client.post(f"{APP}/token", json={"refresh_token": pair["refresh_token"]})
    assert after.status_code == 401
    assert refreshed.status_code == 401


async def test_logout_ends_the_access_and_refresh_tokens(db: None) -> None:
    """After DELETE /login neither token works."""
    _, code = await entity_with_code()
    async with drivers_client() as client:
        login = await registered(client, code)
        out = await client.delete(f"{APP}/login", headers=auth(login["access_token"]))
        me = await client.get(f"{APP}/me", headers=auth(login["access_token"]))
        refresh = await client.post(f"{APP}/token", json={"refresh_token": login["refresh_token"]})
    assert out.status_code == 204
    assert me.status_code == 401 and refresh.status_code == 401


async def test_tokens_are_stored_hashed(db: None) -> None:
    """No token is stored as issued: only its SHA-256."""
    _, code = await entity_with_code()
    async with drivers_client() as client:
        login = await registered(client, code)
    stored = {row["token_hash"] for row in await DriverToken.select(DriverToken.token_hash)}
    assert login["access_token"] not in stored and login["refresh_token"] not in stored
    assert len(stored) >= 3


async def test_driver_and_operator_tokens_do_not_cross(db: None) -> None:
    """A driver's access token is 401 on /api/v1; an operator's token is
    401 on /app/v1."""
    entity, code = await entity_with_code()
    operator = await admin_token(entity)
    async with drivers_client() as client:
        login = await registered(client, code)
        on_api = await client.get("/api/v1/auth/me", headers=auth(login["access_token"]))
        on_app = await client.get(f"{APP}/me", headers=bearer(operator))
        own = await client.get(f"{APP}/me", headers=auth(login["access_token"]))
    assert on_api.status_code == 401
    assert on_app.status_code == 401
    assert own.status_code == 200 and own.json()["email"] == login["email"]


async def test_password_reset_answers_alike_and_ends_every_login(db: None) -> None:
    """A reset for an unknown e-mail answers as for a known one and sends
    nothing; the mailed code sets the password, and the old login ends."""
    _, code = await entity_with_code()
    async with drivers_client() as client:
        login = await registered(client, code)
        unknown = await client.post(f"{APP}/password-reset", json={"email": unique_email()})
        known = await client.post(f"{APP}/password-reset", json={"email": login["email"]})
        assert unknown.status_code == known.status_code == 202
        assert unknown.json() == known.json()
        reset_code = await mailed_code(login["email"], "reset")
        done = await client.post(
            f"{APP}/password-reset/confirm",
            json={"token": reset_code, "password": "another long password"},
        )
        again = await client.post(
            f"{APP}/password-reset/confirm",
            json={"token": reset_code, "password": "yet another password"},
        )
        old = await client.get(f"{APP}/me", headers=auth(login["access_token"]))
        new_login = await client.post(
            f"{APP}/login", json={"email": login["email"], "password": "another long password"}
        )
        old_password = await client.post(
            f"{APP}/login", json={"email": login["email"], "password": PASSWORD}
        )
    assert done.status_code == 204 and again.status_code == 401
    assert old.status_code == 401
    assert new_login.status_code == 200 and old_password.status_code == 401


async def test_logins_are_rate_limited_per_email(db: None) -> None:
    """More than the allowed attempts at one e-mail within the window: 429
    with Retry-After, even with the right password."""
    _, code = await entity_with_code()
    async with drivers_client(app_context(app_rate_limit=3)) as client:
        login = await registered(client, code)
        wrong = [
            await client.post(f"{APP}/login", json={"email": login["email"], "password": "x" * 12})
            for _ in range(2)
        ]
        right = await client.post(
            f"{APP}/login", json={"email": login["email"], "password": PASSWORD}
        )
    assert [a.status_code for a in wrong] == [401, 401]
    assert right.status_code == 429
    assert int(right.headers["retry-after"]) > 0


async def test_the_verification_code_is_in_the_outbox_only(db: None, caplog) -> None:  # type: ignore[no-untyped-def]
    """The default sender keeps the mail in the outbox and logs that it
    did, never the code itself."""
    _, code = await entity_with_code()
    email = unique_email()
    caplog.set_level(logging.DEBUG)
    async with drivers_client() as client:
        await client.post(f"{APP}/registrations", json=registration(code, email))
    secret = await mailed_code(email, "verify")
    assert any("outbox" in r.getMessage() for r in caplog.records)
    assert secret not in caplog.text


async def test_the_app_has_its_own_openapi_document(db: None) -> None:
    """/app/v1/schema/openapi.json documents the app's routes and none of
    the operators'."""
    async with drivers_client() as client:
        answer = await client.get(f"{APP}/schema/openapi.json")
    assert answer.status_code == 200
    paths = answer.json()["paths"]
    assert "/registrations" in paths and "/charging/start" in paths
    assert not any(path.startswith("/api") for path in paths)
    assert answer.json()["servers"] == [{"url": APP}]


async def test_operators_read_and_renew_an_entitys_registration_code(db: None) -> None:
    """POST gives the entity's code (the same each time), with renew a new
    one; a user without entities:update on the entity gets 403."""
    entity, code = await entity_with_code()
    admin = await admin_token(entity)
    reader = await token_for(
        await make_user([entity], [await make_group(entity, permissions=("entities:read",))]),
        entity,
    )
    path = f"/api/v1/entities/{entity}/registration-code"
    async with drivers_client() as client:
        got = await client.post(path, json={}, headers=bearer(admin))
        renewed = await client.post(path, json={"renew": True}, headers=bearer(admin))
        refused = await client.post(path, json={}, headers=bearer(reader))
        old = await client.post(f"{APP}/registrations", json=registration(code, unique_email()))
    assert got.status_code == 200 and got.json()["code"] == code
    assert renewed.status_code == 200 and renewed.json()["code"] != code
    assert refused.status_code == 403
    assert old.status_code == 404


async def test_expired_tokens_are_purged_and_live_ones_kept(db: None) -> None:
    """The periodic purge deletes tokens past their expiry (here the used
    verification code) and leaves a live login working."""
    _, code = await entity_with_code()
    context = app_context()
    async with drivers_client(context) as client:
        login = await registered(client, code)
        await DriverToken.update(
            {DriverToken.expires_at: datetime.now(UTC) - timedelta(seconds=1)}
        ).where(DriverToken.kind == "verify")
        purged = await context.accounts.purge()
        me = await client.get(f"{APP}/me", headers=auth(login["access_token"]))
    assert purged == 1
    assert await DriverToken.count().where(DriverToken.kind == "verify") == 0
    assert me.status_code == 200
