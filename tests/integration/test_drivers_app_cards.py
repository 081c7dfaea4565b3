"""The drivers' app API, identification: the app token issued at
registration and the driver's own RFID cards (media of the entity, owner
and bill-to the driver); blocking reaches the authorisation caches."""

from __future__ import annotations

from crm.changes import RecordedChanges
from crm.tables import Medium
from tests.drivers_app_helpers import (
    APP,
    app_context,
    auth,
    drivers_client,
    entity_with_code,
    registered,
)
from tests.media_helpers import allow


async def test_the_app_token_is_listed_and_usable_as_an_id_tag(db: None) -> None:
    """After verification the driver's media are the active app token, whose
    uid fits an OCPP 1.6 idTag and is the one /me shows."""
    _, code = await entity_with_code()
    async with drivers_client() as client:
        login = await registered(client, code)
        cards = (await client.get(f"{APP}/cards", headers=auth(login["access_token"]))).json()
        me = (await client.get(f"{APP}/me", headers=auth(login["access_token"]))).json()
    assert [(c["kind"], c["status"]) for c in cards] == [("app", "active")]
    assert cards[0]["uid"] == me["app_token"] and len(me["app_token"]) <= 20


async def test_an_added_card_is_the_entitys_owned_and_paid_by_the_driver(db: None) -> None:
    """POST /cards adds an RFID card issued by the driver's entity, owner
    and bill-to the driver's contact."""
    entity, code = await entity_with_code()
    async with drivers_client() as client:
        login = await registered(client, code)
        added = await client.post(
            f"{APP}/cards", json={"uid": " 04A2B3C4 "}, headers=auth(login["access_token"])
        )
        me = (await client.get(f"{APP}/me", headers=auth(login["access_token"]))).json()
    assert added.status_code == 201, added.text
    assert (added.json()["uid"], added.json()["kind"]) == ("04A2B3C4", "rfid")
    row = await Medium.select().where(Medium.uid == "04A2B3C4").first()
    owner = await Medium.select(Medium.owner_contact).where(Medium.uid == me["app_token"]).first()
    assert row["issuing_entity"] == entity
    assert row["owner_contact"] == row["bill_to_contact"] == owner["owner_contact"]


async def test_a_known_uid_is_409_and_changes_nothing(db: None) -> None:
    """A uid another medium has is refused with 409; that medium stays as it was."""
    _, code = await entity_with_code()
    await allow("SOMEONE-ELSES")
    async with drivers_client() as client:
        login = await registered(client, code)
        answer = await client.post(
            f"{APP}/cards", json={"uid": "SOMEONE-ELSES"}, headers=auth(login["access_token"])
        )
    assert answer.status_code == 409
    row = await Medium.select().where(Medium.uid == "SOMEONE-ELSES").first()
    assert row["owner_contact"] is None


async def test_blocking_a_card_blocks_it_and_tells_the_caches(db: None) -> None:
    """POST /cards/{id}/block sets the card blocked and announces its uid."""
    _, code = await entity_with_code()
    changes = RecordedChanges()
    context = app_context()
    context.accounts.changes = changes
    async with drivers_client(context) as client:
        login = await registered(client, code)
        card = (
            await client.post(
                f"{APP}/cards", json={"uid": "CARD-LOST"}, headers=auth(login["access_token"])
            )
        ).json()
        blocked = await client.post(
            f"{APP}/cards/{card['id']}/block", headers=auth(login["access_token"])
        )
    assert blocked.status_code == 200 and blocked.json()["status"] == "blocked"
    assert "CARD-LOST" in set().union(*changes.media)


async def test_another_drivers_card_is_404_to_read_and_to_block(db: None) -> None:
    """A card of another driver does not exist for this one: 404, unchanged."""
    _, code = await entity_with_code()
    async with drivers_client() as client:
        alice = await registered(client, code)
        bob = await registered(client, code)
        card = (
            await client.post(
                f"{APP}/cards", json={"uid": "ALICE-1"}, headers=auth(alice["access_token"])
            )
        ).json()
        read = await client.get(f"{APP}/cards/{card['id']}", headers=auth(bob["access_token"]))
        block = await client.post(
            f"{APP}/cards/{card['id']}/block", headers=auth(bob["access_token"])
        )
        listed = (await client.get(f"{APP}/cards", headers=auth(bob["access_token"]))).json()
    assert read.status_code == block.status_code == 404
    assert "ALICE-1" not in {c["uid"] for c in listed}
    row = await Medium.select(Medium.status).where(Medium.uid == "ALICE-1").first()
    assert row["status"] == "active"


async def test_an_unverified_driver_cannot_start_charging(db: None) -> None:
    """Before the e-mail is verified a remote start is 403 (and the app
    token is blocked, so a charger would refuse it too)."""
    _, code = await entity_with_code()
    async with drivers_client() as client:
        login = await registered(client, code, verify=False)
        start = await client.post(
            f"{APP}/charging/start",
            json={"station_id": 1, "connector_id": 1},
            headers=auth(login["access_token"]),
        )
        cards = (await client.get(f"{APP}/cards", headers=auth(login["access_token"]))).json()
    assert start.status_code == 403, start.text
    assert [c["status"] for c in cards] == ["blocked"]
