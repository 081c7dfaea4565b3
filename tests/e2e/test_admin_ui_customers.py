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
import re
from pathlib import Path
from typing import Any

import pytest

from crm.access import system_principal
from crm.media import MediumCreate
from crm.services.media import MediaService
from crm.storage.tree import load_tree
from crm.tables import Contact
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
    """Alpha (with a station, a customer and her card) and Beta (with its
    own customer and card); Anna works in Alpha with every right on every
    entity, Ben in Beta with his own only, Hugo in Alpha with e-mails,
    bill-to contacts and notes hidden."""
    a = await company("Alpha Laden")
    b = await company("Beta Mobil")
    await station(a, "CP-ALPHA-1")
    erika = await person(a, "Erika Kundin")
    await Contact.update({Contact.email: "erika@kundin.example"}).where(Contact.id == erika).run()
    bruno = await person(b, "Bruno Bekannt")
    system = system_principal(await load_tree())
    cards = MediaService()
    alpha_card = await cards.create(
        system,
        MediumCreate(
            uid="ALPHA-CARD-1", issuing_entity_id=a, bill_to_contact_id=erika, note="Notiz A"
        ),
    )
    await cards.create(
        system, MediumCreate(uid="BETA-CARD-1", issuing_entity_id=b, bill_to_contact_id=bruno)
    )
    await operator_user([a], email="anna@alpha.example", scope="all")
    await operator_user([b], email="ben@beta.example", scope="own")
    await operator_user(
        [a],
        email="hugo@alpha.example",
        hidden=("contacts.email", "media.bill_to_contact_id", "media.note"),
    )
    return {"a": a, "b": b, "erika": erika, "alpha_card": alpha_card.id}


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
    none of its media is listed; the good CSV imports its five media, and
    the list's export gives back the same rows (uid, kind, status, group,
    validity, bill-to contact, note), issued by Alpha."""

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
        assert "04A1B2C3D4" not in await page.inner_text("[data-testid=media]")
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
        mine = [row for row in exported if row["uid"] in {r["uid"] for r in imported}]
        assert [{c: row[c] for c in columns} for row in mine] == by_uid
        assert {row["issuing_entity"] for row in mine} == {str(world["a"])}
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


def test_users_see_only_their_entitys_customers_and_no_hidden_field(
    ui_node: UiNode, world: dict[str, Any]
) -> None:
    """Ben (Beta) finds none of Alpha's contacts, media or station on the
    contact, media and access-rule pages, by list or search, and Alpha's
    rows by their address are 404; Hugo (Alpha, e-mails, bill-to contacts
    and notes hidden) sees neither an e-mail nor a bill-to contact nor a
    note on any of them, forms and export included."""

    async def body() -> None:
        base = ui_node.base_url
        ben = await ui_node.new_page()
        await login(ben, base, "ben@beta.example")
        await ben.wait_for_url(base + "/")
        forbidden = re.compile("Erika|ALPHA-CARD|CP-ALPHA|Alpha Laden")
        for path in (
            "/contacts",
            "/contacts?q=Erika",
            "/contacts?sort=city",
            "/media",
            "/media?q=ALPHA",
            "/media?sort=-issuer",
            "/access-rules",
            "/access-rules?station=CP-ALPHA-1",
        ):
            await ben.goto(base + path)
            html = re.sub(r'(value|href)="[^"]*"', "", await ben.content())
            found = forbidden.search(html)
            assert found is None, f"{path} shows {found.group(0) if found else ''}"
        await ben.goto(base + "/contacts")
        assert "Bruno Bekannt" in await ben.inner_text("[data-testid=contacts]")
        for path in (f"/contacts/{world['erika']}", f"/media/{world['alpha_card']}"):
            answer = await ben.goto(base + path)
            assert answer is not None and answer.status == 404, path
        export = await ben.request.get(base + "/media/export.csv")
        assert "BETA-CARD-1" in await export.text()
        assert "ALPHA-CARD-1" not in await export.text()
        await ben.context.close()

        hugo = await ui_node.new_page()
        await login(hugo, base, "hugo@alpha.example")
        await hugo.wait_for_url(base + "/")
        pages = (
            "/contacts",
            f"/contacts/{world['erika']}",
            f"/contacts/{world['erika']}/edit",
            "/contacts/new",
            "/media",
            f"/media/{world['alpha_card']}",
            "/media/new",
        )
        for path in pages:
            answer = await hugo.goto(base + path)
            assert answer is not None and answer.status == 200, path
            html = await hugo.content()
            for secret in ("erika@kundin.example", "Notiz A", 'name="email"', 'name="note"'):
                assert secret not in html, (path, secret)
            assert 'name="bill_to_contact_id"' not in html, path
            assert "Bill-to contact" not in html, path
        await hugo.goto(base + "/media")
        assert "Erika Kundin" not in await hugo.inner_text("[data-testid=media]")
        export = await hugo.request.get(base + "/media/export.csv")
        header = (await export.text()).splitlines()[0]
        assert "bill_to_contact_id" not in header and "note" not in header
        await hugo.context.close()

    ui_node.run(body(), timeout=60)
