"""The contact, media and access-rule pages over HTTP (the web app's own
test client, a real database): each form's bad input is a 400 page with the
message beside the field and what was entered; a CSV import with bad lines
names them and imports nothing; hidden fields are never rendered."""

from __future__ import annotations

import html as html_module
import re
from datetime import UTC, datetime

from litestar.testing import AsyncTestClient

from crm.tables import Medium
from tests.e2e.ui_helpers import operator_user
from tests.integration.billing_world import cdr, company, master_contact, person, session, station
from tests.world import PASSWORD, api_client


async def _logged_in(client: AsyncTestClient, email: str) -> str:
    """Logs in through the form; the CSRF token of the session."""
    form = await client.get("/login")
    (token,) = re.findall(r'name="_csrf" value="([^"]+)"', form.text)[:1]
    answer = await client.post(
        "/login",
        data={"_csrf": token, "email": email, "password": PASSWORD, "next": "/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return token


def _error(html: str, field: str) -> str:
    """The message shown beside ``field`` ('' if none)."""
    found = re.search(rf'<span class="field-error" id="{field}-error">([^<]*)</span>', html)
    return html_module.unescape(found.group(1)) if found else ""


async def test_a_bad_contact_form_shows_each_message_beside_its_field(db: None) -> None:
    """A new contact with a bad e-mail, IBAN and country is a 400 form with
    the three messages beside their fields and the text entered kept; the
    corrected form creates the contact and leads to its page."""
    a = await company("Alpha")
    await operator_user([a], email="anna@alpha.example")
    async with api_client() as client:
        token = await _logged_in(client, "anna@alpha.example")
        fields = {
            "_csrf": token,
            "owner_entity_id": str(a),
            "kind": "person",
            "first_name": "Erika",
            "last_name": "Muster",
            "email": "erika-at-example",
            "iban": "XX12",
            "country": "Germany",
        }
        bad = await client.post("/contacts", data=fields, follow_redirects=False)
        assert bad.status_code == 400
        assert "email" in _error(bad.text, "email")
        assert "iban" in _error(bad.text, "iban")
        assert "country" in _error(bad.text, "country")
        assert 'value="erika-at-example"' in bad.text
        fields.update(email="erika@example.com", iban="DE89370400440532013000", country="DE")
        good = await client.post("/contacts", data=fields, follow_redirects=False)
        assert good.status_code == 303, good.text
        page = await client.get(good.headers["location"])
    assert page.status_code == 200
    assert "Erika Muster" in page.text and "DE89370400440532013000" in page.text


async def test_hidden_contact_and_medium_fields_are_never_rendered(db: None) -> None:
    """A user whose group hides contacts.iban and media.note sees neither
    the IBAN on the contact's page nor an IBAN field in its forms, and no
    note field on a medium's form."""
    a = await company("Alpha")
    contact = await person(a, "Hanna Hidden")
    from crm.tables import Contact

    await (
        Contact.update({Contact.iban: "DE89370400440532013000"}).where(Contact.id == contact).run()
    )
    await operator_user([a], email="hugo@alpha.example", hidden=("contacts.iban", "media.note"))
    async with api_client() as client:
        await _logged_in(client, "hugo@alpha.example")
        detail = await client.get(f"/contacts/{contact}")
        edit = await client.get(f"/contacts/{contact}/edit")
        new = await client.get("/contacts/new")
        medium = await client.get("/media/new")
    assert detail.status_code == 200 and "Hanna Hidden" in detail.text
    assert "DE89370400440532013000" not in detail.text and "IBAN" not in detail.text
    for form in (edit, new):
        assert form.status_code == 200
        assert 'name="iban"' not in form.text and 'name="bic"' in form.text
    assert medium.status_code == 200
    assert 'name="note"' not in medium.text and 'name="uid"' in medium.text


async def test_a_csv_with_bad_lines_imports_nothing_and_names_each_line(db: None) -> None:
    """An import whose lines 3 and 4 are wrong (a bad kind, a repeated uid)
    is a 400 page listing both lines and no medium is stored; the corrected
    file imports every line, and the export gives the same rows back."""
    a = await company("Alpha")
    await operator_user([a], email="anna@alpha.example")
    bad = "uid,kind,group,note\nAA01,rfid,G1,first\nAA02,floppy,,\nAA01,rfid,,\n"
    good = "uid,kind,group,note\nAA01,rfid,G1,first\nAA02,app,,second\n"
    async with api_client() as client:
        token = await _logged_in(client, "anna@alpha.example")
        refused = await client.post(
            "/media/import",
            data={"_csrf": token, "issuer": str(a)},
            files={"file": ("cards.csv", bad.encode(), "text/csv")},
        )
        stored = await Medium.count().run()
        imported = await client.post(
            "/media/import",
            data={"_csrf": token, "issuer": str(a)},
            files={"file": ("cards.csv", good.encode(), "text/csv")},
        )
        exported = await client.get("/media/export.csv")
    assert refused.status_code == 400
    assert "line 3: kind is one of" in refused.text
    assert "line 4: &#39;AA01&#39; repeats line 2" in refused.text
    assert stored == 0
    assert imported.status_code == 200, imported.text
    assert 'data-testid="import-result"' in imported.text
    assert exported.headers["content-disposition"] == 'attachment; filename="media.csv"'
    lines = exported.text.splitlines()
    assert lines[0].startswith("uid,kind,status,issuing_entity,group")
    assert lines[1].startswith(f"AA01,rfid,active,{a},G1,") and lines[1].endswith(",first")
    assert lines[2].startswith(f"AA02,app,active,{a},,") and lines[2].endswith(",second")


async def test_an_import_without_a_file_says_so_beside_the_field(db: None) -> None:
    """The import form posted without a file is a 400 page with its message
    beside the file field."""
    a = await company("Alpha")
    await operator_user([a], email="anna@alpha.example")
    async with api_client() as client:
        token = await _logged_in(client, "anna@alpha.example")
        answer = await client.post("/media/import", data={"_csrf": token, "issuer": str(a)})
    assert answer.status_code == 400
    assert _error(answer.text, "file") == "Choose a CSV file."


async def test_bad_medium_and_rule_forms_show_the_fields_message(db: None) -> None:
    """A medium with an empty uid and a validity that ends before it starts,
    a second medium with a taken uid, and a rule for one medium without its
    uid each answer 400 with the message beside the field."""
    a = await company("Alpha")
    await station(a, "CP-RULES-1")
    await operator_user([a], email="anna@alpha.example")
    async with api_client() as client:
        token = await _logged_in(client, "anna@alpha.example")
        base = {"_csrf": token, "kind": "rfid", "status": "active", "issuing_entity_id": str(a)}
        empty = await client.post(
            "/media",
            data={
                **base,
                "uid": " ",
                "valid_from": "2030-01-02T00:00:00Z",
                "valid_until": "2030-01-01T00:00:00Z",
            },
        )
        first = await client.post("/media", data={**base, "uid": "CARD1"}, follow_redirects=False)
        again = await client.post("/media", data={**base, "uid": "CARD1"})
        page = await client.get("/access-rules", params={"station": "CP-RULES-1"})
        (target,) = re.findall(r'name="target" value="([^"]+)"', page.text)
        rule = await client.post(
            "/access-rules",
            data={"_csrf": token, "target": target, "effect": "allow", "subject": "medium"},
        )
        unknown = await client.get("/access-rules", params={"station": "CP-NOWHERE"})
    assert empty.status_code == 400
    assert "must not be empty" in _error(empty.text, "uid")
    assert "valid_until must be after valid_from" in _error(empty.text, "valid_until")
    assert first.status_code == 303
    assert again.status_code == 400 and "exists already" in _error(again.text, "uid")
    assert rule.status_code == 400
    assert "needs the medium's uid" in _error(rule.text, "value")
    assert unknown.status_code == 400
    assert _error(unknown.text, "station") == "There is no station with this charge point id."


async def test_a_contacts_page_lists_the_invoices_its_issuer_sent_it(db: None) -> None:
    """After Alpha's October run is issued, the page of Beta's contact shows
    Alpha's user the invoice with its PDF and XML links (and the PDF
    downloads); Beta's own user sees no document there (documents are the
    issuer's)."""
    a = await company("Alpha")
    b = await company("Beta")
    s = await station(a, "CP-ALPHA-1")
    october = datetime(2026, 10, 14, 9, 0, tzinfo=UTC)
    contact = await master_contact(b)
    await cdr(
        await session(s, october),
        s,
        "emp",
        seller=a,
        buyer_entity=b,
        buyer_contact=contact,
        started_at=october,
    )
    await operator_user([a], email="anna@alpha.example", scope="all")
    await operator_user([b], email="ben@beta.example")
    async with api_client() as client:
        token = await _logged_in(client, "anna@alpha.example")
        run = await client.post(
            "/billing/runs",
            data={"_csrf": token, "entity_id": str(a), "period": "2026-10"},
            follow_redirects=False,
        )
        assert run.status_code == 303, run.text
        issued = await client.post(
            run.headers["location"] + "/issue", data={"_csrf": token}, follow_redirects=False
        )
        assert issued.status_code == 303
        page = await client.get(f"/contacts/{contact}")
        (pdf,) = re.findall(r'href="(/billing/documents/\d+/pdf)"', page.text)
        download = await client.get(pdf)
    assert page.status_code == 200
    assert pdf.replace("/pdf", "/xml") in page.text
    assert download.content.startswith(b"%PDF-")
    async with api_client() as client:
        await _logged_in(client, "ben@beta.example")
        own = await client.get(f"/contacts/{contact}")
    assert own.status_code == 200
    assert "/billing/documents/" not in own.text


async def test_no_customer_page_answers_500_to_junk(db: None) -> None:
    """Every route of the contact, media and access-rule pages (enumerated
    from the app), asked with junk ids, queries and form fields with the
    CSRF token, answers below 500."""
    from litestar import Litestar

    a = await company("Alpha")
    await operator_user([a], email="anna@alpha.example")
    query = {"page": "-1", "q": "\u00e4" * 300, "sort": "-x", "status": "x", "kind": "y"}
    form = {
        "entity_id": "x",
        "owner_entity_id": "-1",
        "issuing_entity_id": "abc",
        "kind": "z",
        "status": "gone",
        "access": "all",
        "uid": "\u00e4" * 100,
        "email": "@",
        "valid_from": "2030-13-01",
        "target": "station:99999999999",
        "effect": "maybe",
        "subject": "medium",
        "next": "//evil.example/",
        "issuer": "x",
    }
    checked = 0
    async with api_client() as client:
        token = await _logged_in(client, "anna@alpha.example")
        app = client.app
        assert isinstance(app, Litestar)
        for route in app.routes:
            if not route.path.startswith(("/contacts", "/media", "/access-rules")):
                continue
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                for junk in ("1", "999999", "9223372036854775808"):
                    url = re.sub(r"\{[^}]+\}", junk, route.path)
                    if method == "GET":
                        answer = await client.get(url, params=query)
                    else:
                        answer = await client.post(
                            url, data={"_csrf": token, **form}, follow_redirects=False
                        )
                    assert answer.status_code < 500, (method, url, answer.text[:300])
                    checked += 1
    assert checked > 50
