"""An entity's document layout through the operators' API over HTTP: read
and set it (fields left out are kept), bad input is a 400 naming the field,
a logo must be a PNG of at most 256 KiB, other entities' layouts are 404;
and the layout reaches what a billing run issues: the invoice's pre-text
names the customer, its post-text the number, its payment terms and logo
are in the PDF."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime

from pypdf import PdfReader

from billing.documents.layouts import LOGO_MAX_BYTES
from tests.integration.billing_world import (
    cdr,
    company,
    master_contact,
    session,
    station,
    user_token,
)
from tests.layout_helpers import png, png_base64
from tests.world import admin_token, api_client, bearer

API = "/api/v1"
OCT = datetime(2026, 10, 14, 9, 0, tzinfo=UTC)
LOGO = png_base64(3, 2)


def layout_url(entity: int) -> str:
    return f"{API}/entities/{entity}/document-layout"


async def test_a_layout_is_read_set_and_kept_field_by_field(db: None) -> None:
    root = await company("Root")
    a = await company("Alpha", parent=root)
    token = await user_token(a, "billing:read", "billing:run")
    headers = bearer(token)
    async with api_client() as client:
        fresh = await client.get(layout_url(a), headers=headers)
        saved = await client.put(
            layout_url(a),
            json={
                "invoice_pre_text": "Sehr geehrte Damen und Herren, {{customer_name}}",
                "invoice_post_text": "Bitte {{document_number}} angeben.",
                "credit_note_pre_text": "Gutschrift für {{ customer_name }}",
                "cancellation_post_text": "Storno zu {{refers_to_number}}",
                "payment_terms": "Zahlbar binnen 10 Tagen.",
                "logo_png_base64": LOGO,
                "display_name": "Alpha Energie",
                "language": "de",
            },
            headers=headers,
        )
        partly = await client.put(
            layout_url(a), json={"payment_terms": "Sofort fällig."}, headers=headers
        )
        read = await client.get(layout_url(a), headers=headers)
        no_logo = await client.put(layout_url(a), json={"logo_png_base64": None}, headers=headers)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["entity_id"] == a and fresh.json()["updated_at"] is None
    assert fresh.json()["logo_png_base64"] is None and fresh.json()["invoice_pre_text"] == ""
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["invoice_pre_text"] == "Sehr geehrte Damen und Herren, {{customer_name}}"
    assert body["logo_png_base64"] == LOGO and body["updated_at"] is not None
    assert partly.json()["payment_terms"] == "Sofort fällig."
    assert read.json() == partly.json()
    assert read.json()["invoice_post_text"] == "Bitte {{document_number}} angeben."
    assert read.json()["display_name"] == "Alpha Energie"
    assert no_logo.json()["logo_png_base64"] is None
    assert no_logo.json()["cancellation_post_text"] == "Storno zu {{refers_to_number}}"


async def test_bad_fields_are_refused_naming_them(db: None) -> None:
    a = await company("Alpha")
    headers = bearer(await admin_token(a))
    cases = {
        "invoice_pre_text: unknown field {{customer_iban}}": {
            "invoice_pre_text": "IBAN: {{customer_iban}}"
        },
        "credit_note_post_text: unclosed": {"credit_note_post_text": "{{customer_name"},
        "cancellation_pre_text: invalid field": {"cancellation_pre_text": "{{ a.b }}"},
        "invoice_post_text: at most 2000 characters": {"invoice_post_text": "x" * 2001},
        "payment_terms": {"payment_terms": "bis {{issue_date}}"},
        "display_name": {"display_name": "a\nb"},
        "language": {"language": "fr"},
        '"key":"language"': {"language": 5},
        "colour": {"colour": "#ffffff"},
    }
    async with api_client() as client:
        answers = {
            name: await client.put(layout_url(a), json=body, headers=headers)
            for name, body in cases.items()
        }
        both = await client.put(
            layout_url(a),
            json={"invoice_pre_text": "{{x}}", "language": "xx"},
            headers=headers,
        )
        unchanged = await client.get(layout_url(a), headers=headers)
    for name, answer in answers.items():
        assert answer.status_code == 400, (name, answer.text)
        assert name in answer.json()["detail"] or name in answer.text, (name, answer.text)
    assert "invoice_pre_text: unknown field {{x}}" in both.json()["detail"]
    assert "language: de, en or empty" in both.json()["detail"]
    assert unchanged.json()["updated_at"] is None


async def test_a_logo_is_a_png_of_at_most_256_kib(db: None) -> None:
    a = await company("Alpha")
    headers = bearer(await admin_token(a))
    refused = {
        "not base64": "this is no base64!",
        "no PNG signature": base64.b64encode(b"GIF89a" + b"\0" * 30).decode(),
        "PDF can show": base64.b64encode(png(2, 2)[:45] + b"\0" * 20).decode(),
        "256 KiB": base64.b64encode(png(1, 1) + b"\0" * LOGO_MAX_BYTES).decode(),
    }
    async with api_client() as client:
        accepted = await client.put(layout_url(a), json={"logo_png_base64": LOGO}, headers=headers)
        answers = {
            name: await client.put(layout_url(a), json={"logo_png_base64": data}, headers=headers)
            for name, data in refused.items()
        }
        kept = await client.get(layout_url(a), headers=headers)
    assert accepted.status_code == 200, accepted.text
    for name, answer in answers.items():
        assert answer.status_code == 400, (name, answer.text)
        detail = answer.json()["detail"]
        assert detail.startswith("logo_png_base64: ") and name in detail, (name, detail)
    assert kept.json()["logo_png_base64"] == LOGO


async def test_other_entities_layouts_are_not_found(db: None) -> None:
    """A user of A (own scope) gets 404 for B's layout and an unknown
    entity's; with billing:read only, changing is 403; without billing at
    all, reading is 403."""
    root = await company("Root")
    a = await company("Alpha", parent=root)
    b = await company("Beta", parent=root)
    runner = bearer(await user_token(a, "billing:read", "billing:run"))
    reader = bearer(await user_token(a, "billing:read"))
    stranger = bearer(await user_token(a, "stations:read"))
    parent = bearer(await user_token(root, "billing:read", "billing:run", scope="subtree"))
    async with api_client() as client:
        foreign_get = await client.get(layout_url(b), headers=runner)
        foreign_put = await client.put(layout_url(b), json={"language": "en"}, headers=runner)
        unknown = await client.get(layout_url(987654), headers=runner)
        read_only = await client.put(layout_url(a), json={"language": "en"}, headers=reader)
        read_ok = await client.get(layout_url(a), headers=reader)
        no_billing = await client.get(layout_url(a), headers=stranger)
        from_parent = await client.put(layout_url(b), json={"language": "en"}, headers=parent)
    assert foreign_get.status_code == 404 and foreign_put.status_code == 404
    assert unknown.status_code == 404
    assert read_only.status_code == 403 and read_ok.status_code == 200
    assert no_billing.status_code == 403
    assert from_parent.status_code == 200 and from_parent.json()["language"] == "en"


async def test_an_issued_invoice_carries_the_layout(db: None) -> None:
    """A's layout: a pre-text with the customer's name, a post-text with the
    number, payment terms and a logo. October's invoice to B carries them
    filled; the PDF shows the texts and the logo (an image on the page)."""
    root = await company("Root")
    a = await company("Alpha Laden", parent=root)
    b = await company("Beta Mobil", parent=root)
    s = await station(a, "CP-LAYOUT-1")
    await cdr(
        await session(s, OCT), s, "emp", seller=a, buyer_entity=b,
        buyer_contact=await master_contact(b), started_at=OCT,
    )  # fmt: skip
    headers = bearer(await admin_token(a))
    async with api_client() as client:
        saved = await client.put(
            layout_url(a),
            json={
                "invoice_pre_text": "Sehr geehrte Damen und Herren, {{customer_name}} erhält"
                " für {{period}}:",
                "invoice_post_text": "Bitte geben Sie {{document_number}} bei Zahlung an.",
                "payment_terms": "Zahlbar binnen 10 Tagen ohne Abzug.",
                "logo_png_base64": LOGO,
                "display_name": "Alpha Energie",
            },
            headers=headers,
        )
        run = await client.post(
            f"{API}/billing-runs", json={"entity_id": a, "period": "2026-10"}, headers=headers
        )
        (document,) = run.json()["documents"]
        detail = await client.get(f"{API}/billing-documents/{document['id']}", headers=headers)
        pdf = await client.get(f"{API}/billing-documents/{document['id']}/pdf", headers=headers)
    assert saved.status_code == 200, saved.text
    assert run.status_code == 201, run.text
    content = detail.json()["content"]
    number = document["number"]
    assert content["pre_text"] == (
        "Sehr geehrte Damen und Herren, Beta Mobil erhält für 01.10.2026 \u2013 31.10.2026:"
    )
    assert content["post_text"] == f"Bitte geben Sie {number} bei Zahlung an."
    assert content["payment_terms"] == "Zahlbar binnen 10 Tagen ohne Abzug."
    assert content["branding"]["logo_png_base64"] == LOGO
    assert content["branding"]["display_name"] == "Alpha Energie"
    assert pdf.status_code == 200
    page = PdfReader(io.BytesIO(pdf.content)).pages[0]
    text = " ".join(page.extract_text().split())
    assert "Sehr geehrte Damen und Herren, Beta Mobil erhält" in text
    assert f"Bitte geben Sie {number} bei Zahlung an." in text
    assert "Zahlbar binnen 10 Tagen ohne Abzug." in text
    assert "Alpha Energie" in text
    images = list(page.images)
    assert len(images) == 1 and images[0].image is not None
    assert images[0].image.size == (3, 2)


async def test_the_directory_merges_the_layout_into_the_crm_branding(db: None) -> None:
    """SqlDirectory.entities gives drafting the layout's keys beside the CRM
    branding's colours; empty layout fields leave drafting's defaults; two
    saves of different fields at once keep both."""
    import asyncio

    from billing.storage.layouts import PiccoloLayouts
    from billing.storage.sources import SqlDirectory

    a = await company("Alpha", branding='{"primary_color": "#112233", "logo_url": ""}')
    b = await company("Beta")
    store = PiccoloLayouts()
    await asyncio.gather(
        store.put(a, {"invoice_pre_text": "Hallo {{customer_name}}"}, OCT),
        store.put(a, {"logo_png_base64": LOGO, "language": "en"}, OCT),
    )
    await store.put(a, {"payment_terms": ""}, OCT)
    directory = SqlDirectory()
    try:
        entities = await directory.entities()
    finally:
        await directory.close()
    assert entities[a].branding == {
        "primary_color": "#112233",
        "logo_url": "",
        "invoice_pre_text": "Hallo {{customer_name}}",
        "logo_png_base64": LOGO,
        "language": "en",
    }
    assert "invoice_pre_text" not in entities[b].branding
