"""Contacts, media and access rules in a real browser on a real node: a
medium issued through the form and blocked, a CSV of media imported and
exported again, a contact created, shared and unshared, an access rule
added and deleted; each form's bad input shows the field's message.

Run: ``python -m pytest tests/e2e/test_admin_ui_customers.py -q`` (needs
/usr/bin/chromium); ``CSMS_UI_SCREENSHOTS=1`` refreshes
docs/screenshots/contacts.png and media.png."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.ui_helpers import UiNode, login, operator_user, screenshot, ui_node
from tests.integration.billing_world import company, person, station

__all__ = ["ui_node"]

CARDS = (
    "uid,kind,status,group,valid_from,valid_until,bill_to_contact_id,note\r\n"
    "04A1B2C3D4,rfid,active,FLEET-1,,2031-12-31T23:00:00+00:00,{erika},Fahrer 1\r\n"
    "04A1B2C3D5,rfid,blocked,FLEET-1,,,{erika},Fahrer 2\r\n"
    "04A1B2C3D6,rfid,active,FLEET-2,,,,Werkstatt\r\n"
    "DE-ABC-C12345678-9,emaid,active,,2026-01-01T00:00:00+00:00,,{erika},Vertrag 7\r\n"
    "APP-7F3A9C,app,lost,,,,,\r\n"
)


async def _world() -> dict[str, Any]:
    """Alpha (with a station and a customer) and Beta; Anna works in Alpha
    with every right on every entity, Ben in Beta with his own only."""
    a = await company("Alpha Laden")
    b = await company("Beta Mobil")
    await station(a, "CP-ALPHA-1")
    erika = await person(a, "Erika Kundin")
    await operator_user([a], email="anna@alpha.example", scope="all")
    await operator_user([b], email="ben@beta.example", scope="own")
    return {"a": a, "b": b, "erika": erika}


@pytest.fixture
def world(ui_node: UiNode) -> dict[str, Any]:
    ui_node.empty()
    return ui_node.run(_world())


async def _anna(ui_node: UiNode) -> Any:
    page = await ui_node.new_page()
    await login(page, ui_node.base_url, "anna@alpha.example")
    await page.wait_for_url(ui_node.base_url + "/")
    return page


def test_a_medium_is_issued_through_the_form_and_blocked(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """The new-medium form shows an empty uid's and a bad bill-to contact's
    messages beside their fields; the corrected medium is listed with its
    issuer and bill-to contact, and Block turns it blocked; its edit form
    shows a bad validity's message beside the field."""

    async def body() -> None:
        page = await _anna(ui_node)
        await page.click("nav.menu >> text=Media")
        await page.click("text=New medium")
        await page.fill("#bill_to_contact_id", "abc")
        await page.click("button:has-text('Issue the medium')")
        assert "must not be empty" in await page.inner_text("#uid-error")
        assert "contact's number" in await page.inner_text("#bill_to_contact_id-error")
        await page.fill("#uid", "04AABBCC")
        await page.fill("#bill_to_contact_id", str(world["erika"]))
        await page.fill("#group_uid", "FLEET-1")
        await page.click("button:has-text('Issue the medium')")
        row = page.locator("[data-testid=media] tr[data-uid='04AABBCC']")
        await row.wait_for()
        text = await row.inner_text()
        assert "Alpha Laden" in text and "Erika Kundin" in text and "Active" in text
        await row.locator("button:has-text('Block')").click()
        await page.wait_for_selector("tr[data-uid='04AABBCC'] >> text=Blocked")
        await page.click("[data-testid=media] >> text=04AABBCC")
        await page.fill("#valid_from", "tomorrow")
        await page.click("button:has-text('Save')")
        assert "ISO 8601" in await page.inner_text("#valid_from-error")
        assert await page.input_value("#valid_from") == "tomorrow"
        await page.context.close()

    ui_node.run(body(), timeout=60)


def test_a_csv_of_media_is_imported_and_exported_again(
    ui_node: UiNode, world: dict[str, Any], tmp_path: Path
) -> None:
    """A CSV with a bad line is refused whole with the line's number and
    nothing is listed; the good CSV imports its five media, and the list's
    export gives back the same rows (uid, kind, status, group, validity,
    bill-to contact, note), issued by Alpha."""

    async def body() -> None:
        page = await _anna(ui_node)
        bad = tmp_path / "bad.csv"
        cards = CARDS.format(erika=world["erika"])
        bad.write_text(cards + "04A1B2C3D9,floppy,,,,,,\r\n", encoding="utf-8")
        good = tmp_path / "cards.csv"
        good.write_text(cards, encoding="utf-8")
        await page.click("nav.menu >> text=Media")
        await page.click("text=Import CSV")
        await page.click("button:has-text('Import')")
        assert await page.inner_text("#file-error") == "Choose a CSV file."
        await page.set_input_files("#file", str(bad))
        await page.click("button:has-text('Import')")
        problems = await page.inner_text("[data-testid=import-problems]")
        assert "line 7: kind is one of" in problems
        assert "Nothing was imported" in await page.inner_text("#file-error")
        await page.goto(ui_node.base_url + "/media")
        assert "No medium matches." in await page.inner_text("[data-testid=media]")
        await page.goto(ui_node.base_url + "/media/import")
        await page.set_input_files("#file", str(good))
        await page.click("button:has-text('Import')")
        assert "Imported media: 5" in await page.inner_text("[data-testid=import-result]")
        await page.click("a:has-text('Media') >> nth=1")
        await page.wait_for_selector("tr[data-uid='DE-ABC-C12345678-9']")
        await screenshot(page, "media")
        async with page.expect_download() as waiting:
            await page.click("[data-testid=export]")
        download = await waiting.value
        target = tmp_path / "media.csv"
        await download.save_as(target)
        exported = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
        imported = list(csv.DictReader(io.StringIO(cards)))
        columns = tuple(imported[0])
        by_uid = sorted(imported, key=lambda row: row["uid"])
        assert [{c: row[c] for c in columns} for row in exported] == by_uid
        assert {row["issuing_entity"] for row in exported} == {str(world["a"])}
        await page.context.close()

    ui_node.run(body(), timeout=60)


def test_a_contact_is_created_shared_and_unshared(ui_node: UiNode, world: dict[str, Any]) -> None:
    """The new-contact form shows a bad e-mail's message beside the field
    and keeps what was entered; the contact is created, its edit form
    refuses a bad IBAN beside the field; sharing without an entity says so
    beside the field; shared with Beta it is in Ben's list, unshared it is
    not."""

    async def body() -> None:
        base = ui_node.base_url
        page = await _anna(ui_node)
        await page.click("nav.menu >> text=Contacts")
        await page.click("text=New contact")
        await page.select_option("#kind", "company")
        await page.fill("#company", "Flotte Nord GmbH")
        await page.fill("#city", "Hamburg")
        await page.fill("#email", "flotte-nord")
        await page.click("button:has-text('Save')")
        assert "email" in await page.inner_text("#email-error")
        assert await page.input_value("#company") == "Flotte Nord GmbH"
        await page.fill("#email", "einkauf@flotte-nord.example")
        await page.click("button:has-text('Save')")
        await page.wait_for_selector("h1 >> text=Flotte Nord GmbH")
        contact_url = page.url
        await page.click("a:has-text('Edit')")
        await page.fill("#iban", "DE00")
        await page.click("button:has-text('Save')")
        assert "iban" in await page.inner_text("#iban-error")
        await page.goto(contact_url)
        await page.click("button:has-text('Share')")
        assert await page.inner_text("#share_entity-error") == "Choose one of the entities offered."
        await page.select_option("#share_entity", label="Beta Mobil")
        await page.select_option("#share_access", "write")
        await page.click("button:has-text('Share')")
        shares = page.locator("[data-testid=shares]")
        await shares.locator("text=Beta Mobil").wait_for()
        assert "Read and write" in await shares.inner_text()
        await screenshot(page, "contacts")

        ben = await ui_node.new_page()
        await login(ben, base, "ben@beta.example")
        await ben.wait_for_url(base + "/")
        await ben.click("nav.menu >> text=Contacts")
        assert "Flotte Nord GmbH" in await ben.inner_text("[data-testid=contacts]")

        await page.click("[data-testid=shares] >> button:has-text('Stop sharing')")
        await page.wait_for_selector("text=Not shared with any other entity.")
        await ben.reload()
        assert "Flotte Nord GmbH" not in await ben.inner_text("[data-testid=contacts]")
        await ben.context.close()
        await page.context.close()

    ui_node.run(body(), timeout=60)


def test_an_access_rule_is_created_and_deleted(ui_node: UiNode, world: dict[str, Any]) -> None:
    """An unknown station's id and a medium rule without its uid show their
    messages beside the fields; the rule with the uid is listed for the
    station and Delete removes it."""

    async def body() -> None:
        page = await _anna(ui_node)
        await page.click("nav.menu >> text=Access rules")
        await page.fill("#station", "CP-NOWHERE")
        await page.click("button:has-text('Show') >> nth=0")
        assert "There is no station" in await page.inner_text("#station-error")
        await page.fill("#station", "CP-ALPHA-1")
        await page.click("button:has-text('Show') >> nth=0")
        await page.select_option("#effect", "deny")
        await page.select_option("#subject", "medium")
        await page.click("button:has-text('Add the rule')")
        assert "needs the medium's uid" in await page.inner_text("#value-error")
        await page.fill("#value", "04AABBCC")
        await page.fill("#note", "lost card")
        await page.click("button:has-text('Add the rule')")
        rules = page.locator("[data-testid=rules]")
        await rules.locator("text=04AABBCC").wait_for()
        assert "Deny" in await rules.inner_text()
        await rules.locator("button:has-text('Delete')").click()
        await page.wait_for_selector("text=No rules: every valid medium may charge here")
        assert "04AABBCC" not in await page.inner_text("[data-testid=rules]")
        await page.context.close()

    ui_node.run(body(), timeout=60)
