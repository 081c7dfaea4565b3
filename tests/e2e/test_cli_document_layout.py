"""``csms entity set`` and ``csms billing layout`` as operators run them, and
a month billed from the command line whose invoice carries the layout: the
pre-text names the customer, the post-text the number, the PDF shows both,
the payment terms and the logo."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pypdf

from tests.billing_world import (
    completed_session,
    energy_tariff,
    make_medium,
    make_station,
    make_tariff,
)
from tests.e2e.test_cli import csms
from tests.layout_helpers import png
from tests.world import make_entity


def write_file(directory: str, name: str, data: bytes) -> str:
    path = os.path.join(directory, name)
    with open(path, "wb") as file:
        file.write(data)
    return path


async def run(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(csms, *args)


def test_entity_set_changes_fields_through_the_entity_service(db: None) -> None:
    """Each option changes its field (shown by csms entity show) and is
    printed; the service's checks and billing's number formats refuse bad
    values and change nothing."""
    assert csms("entity", "add", "Stadtwerke", "--kind", "operator").returncode == 0
    done = csms(
        "entity", "set", "1",
        "--name", "Stadtwerke Nord",
        "--kind", "cpo",
        "--time-zone", "Europe/Berlin",
        "--email", "billing@sw.example",
        "--street", "Hafenstraße 2",
        "--postal-code", "20457",
        "--city", "Hamburg",
        "--country", "de",
        "--vat-id", "DE123456789",
        "--operator-id", "de*swn",
        "--may-act-as-sub-emp", "yes",
        "--customer-self-registration", "yes",
        "--force-purchase-prices", "no",
        "--invoice-number-range", "SW-{yyyy}-{seq:05d}",
        "--credit-note-number-range", "SG-{seq}",
        "--invoice-reply-to", "reply@sw.example",
        "--credit-note-address", "Stadtwerke Nord\nPostfach 1\n20001 Hamburg",
        "--primary-color", "#112233",
        "--secondary-color", "#ddeeff",
        "--logo-url", "https://sw.example/logo.png",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "entity 1 name: Stadtwerke -> Stadtwerke Nord" in done.stdout
    assert 'entity 1 operator_id: "" -> DE*SWN' in done.stdout
    assert 'entity 1 branding.primary_color: "" -> #112233' in done.stdout
    assert "force_purchase_prices" not in done.stdout  # it was "no" already
    shown = json.loads(csms("entity", "show", "1", "--json").stdout)
    assert shown["name"] == "Stadtwerke Nord" and shown["kind"] == "cpo"
    assert shown["time_zone"] == "Europe/Berlin" and shown["country"] == "DE"
    assert (shown["street"], shown["postal_code"], shown["city"]) == (
        "Hafenstraße 2",
        "20457",
        "Hamburg",
    )
    assert shown["may_act_as_sub_emp"] is True and shown["customer_self_registration"] is True
    assert shown["invoice_number_range"] == "SW-{yyyy}-{seq:05d}"
    assert shown["credit_note_number_range"] == "SG-{seq}"
    assert shown["invoice_reply_to"] == "reply@sw.example"
    assert shown["credit_note_address"] == "Stadtwerke Nord\nPostfach 1\n20001 Hamburg"
    assert shown["branding"] == {
        "logo_url": "https://sw.example/logo.png",
        "primary_color": "#112233",
        "secondary_color": "#ddeeff",
    }
    # Only the colour given changes; the branding's other parts stay.
    again = csms("entity", "set", "1", "--secondary-color", "#000000")
    assert again.stdout.strip() == "entity 1 branding.secondary_color: #ddeeff -> #000000"
    assert json.loads(csms("entity", "show", "1", "--json").stdout)["branding"]["logo_url"]

    refusals = {
        "unknown field(s) {year}": ("--invoice-number-range", "RE-{year}-{seq}"),
        "needs exactly one {seq}": ("--credit-note-number-range", "GS-{yyyy}"),
        "time zone": ("--time-zone", "Mars/Base"),
        "primary_color": ("--primary-color", "blue"),
        "operator_id": ("--operator-id", "nope"),
        "email": ("--email", "not-an-address"),
    }
    for expected, option in refusals.items():
        refused = csms("entity", "set", "1", *option)
        assert refused.returncode == 1, (option, refused.stdout)
        assert expected in refused.stderr, (option, refused.stderr)
    assert json.loads(csms("entity", "show", "1", "--json").stdout)["invoice_number_range"] == (
        "SW-{yyyy}-{seq:05d}"
    )
    missing = csms("entity", "set", "99", "--name", "X")
    assert missing.returncode == 1 and "no entity 99" in missing.stderr
    nothing = csms("entity", "set", "1")
    assert nothing.returncode == 1 and "nothing to set" in nothing.stderr
    bad_choice = csms("entity", "set", "1", "--may-act-as-sub-emp", "maybe")
    assert bad_choice.returncode == 2


def test_billing_layout_is_set_and_shown(db: None, tmp_dir: str) -> None:
    """No options show the layout (defaults first); options set fields and
    keep the others; refusals name the field and change nothing."""
    assert csms("entity", "add", "Stadtwerke").returncode == 0
    logo = write_file(tmp_dir, "logo.png", png(4, 3))
    fresh = csms("billing", "layout", "1")
    assert fresh.returncode == 0, fresh.stderr
    assert "updated_at: - (never saved)" in fresh.stdout and "logo: -" in fresh.stdout
    saved = csms(
        "billing", "layout", "1",
        "--invoice-pre-text", "Guten Tag {{customer_name}},",
        "--invoice-post-text", "Bitte {{document_number}} angeben.",
        "--credit-note-pre-text", "Gutschrift für {{customer_name}}",
        "--cancellation-post-text", "Storno zu {{refers_to_number}}",
        "--payment-terms", "Zahlbar sofort.",
        "--logo", logo,
        "--display-name", "SW Nord",
        "--language", "en",
    )  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    assert "saved: invoice_pre_text, invoice_post_text" in saved.stdout
    assert f"logo: PNG, {len(png(4, 3))} bytes" in saved.stdout
    assert "invoice_pre_text: Guten Tag {{customer_name}}," in saved.stdout
    partly = csms("billing", "layout", "1", "--payment-terms", "Zahlbar in 7 Tagen.", "--json")
    layout = json.loads(partly.stdout)
    assert layout["payment_terms"] == "Zahlbar in 7 Tagen."
    assert layout["invoice_post_text"] == "Bitte {{document_number}} angeben."
    assert layout["language"] == "en" and layout["display_name"] == "SW Nord"
    assert layout["logo_png_base64"]

    not_png = write_file(tmp_dir, "logo.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 64)
    refusals = {
        "invoice_pre_text: unknown field {{customer_iban}}": (
            "--invoice-pre-text",
            "IBAN {{customer_iban}}",
        ),
        "credit_note_post_text: unclosed": ("--credit-note-post-text", "{{document_number"),
        "logo_png_base64: not a PNG image": ("--logo", not_png),
        "--logo: cannot read": ("--logo", os.path.join(tmp_dir, "missing.png")),
        "payment_terms: plain text": ("--payment-terms", "bis {{issue_date}}"),
    }
    for expected, option in refusals.items():
        refused = csms("billing", "layout", "1", *option)
        assert refused.returncode == 1, (option, refused.stdout)
        assert expected in refused.stderr, (option, refused.stderr)
    assert json.loads(csms("billing", "layout", "1", "--json").stdout) == layout
    removed = json.loads(csms("billing", "layout", "1", "--no-logo", "--json").stdout)
    assert removed["logo_png_base64"] is None
    auto = json.loads(csms("billing", "layout", "1", "--language", "auto", "--json").stdout)
    assert auto["language"] == ""
    both = csms("billing", "layout", "1", "--logo", logo, "--no-logo")
    assert both.returncode == 2
    missing = csms("billing", "layout", "42")
    assert missing.returncode == 1 and "entity 42 does not exist" in missing.stderr


async def test_a_month_billed_from_the_cli_carries_the_layout(db: None, tmp_dir: str) -> None:
    """CPO A sets its layout with the CLI; a session of EMP X's card at A's
    station is rated and billed with csms billing; the invoice's pre-text
    names X, its post-text the number; the PDF shows both, the payment terms
    and the logo."""
    cpo = await make_entity(
        "Alpha Laden GmbH", kind="cpo", country="DE", time_zone="Europe/Berlin",
        street="Ladeweg 1", postal_code="10115", city="Berlin", vat_id="DE111111111",
        email="billing@alpha.example",
    )  # fmt: skip
    emp = await make_entity(
        "EMP XY GmbH", kind="emp", country="DE", time_zone="Europe/Berlin",
        street="Fahrweg 2", postal_code="50667", city="Köln", vat_id="DE222222222",
    )  # fmt: skip
    station = await make_station(cpo, "CP-LAYOUT", time_zone="Europe/Berlin")
    card = await make_medium("CARD-LAYOUT", emp)
    await make_tariff(cpo, energy_tariff("A-EMP", per_kwh="0.40"), audience="emp")
    await completed_session(
        station,
        id_tag="CARD-LAYOUT",
        started_at=datetime(2026, 10, 5, 10, tzinfo=UTC),
        medium=card,
        issuer=emp,
    )
    logo = write_file(tmp_dir, "logo.png", png(6, 4))
    layout = await run(
        "billing", "layout", str(cpo),
        "--invoice-pre-text",
        "Sehr geehrte Damen und Herren, {{customer_name}} erhält die Ladevorgänge vom {{period}}.",
        "--invoice-post-text", "Bitte geben Sie bei Zahlung {{document_number}} an.",
        "--payment-terms", "Zahlbar binnen 10 Tagen ohne Abzug.",
        "--logo", logo,
    )  # fmt: skip
    assert layout.returncode == 0, layout.stderr
    rated = await run("billing", "rate")
    assert rated.returncode == 0, rated.stderr
    billed = await run("billing", "run", "--entity", str(cpo), "--period", "2026-10", "--json")
    assert billed.returncode == 0, billed.stderr
    (document,) = json.loads(billed.stdout)["documents"]
    number = document["number"]
    pdf = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "csms", "billing", "pdf", str(document["id"]), "-o", "-"],
        capture_output=True,
        timeout=60,
    )
    assert pdf.returncode == 0, pdf.stderr.decode()

    from billing.documents.model import from_json
    from billing.tables import Document

    (row,) = await Document.select(Document.content).where(Document.id == document["id"])
    content = from_json(row["content"].encode())
    assert content.pre_text == (
        "Sehr geehrte Damen und Herren, EMP XY GmbH erhält die Ladevorgänge vom"
        " 01.10.2026 \u2013 31.10.2026."
    )
    assert content.post_text == f"Bitte geben Sie bei Zahlung {number} an."
    assert content.payment_terms == "Zahlbar binnen 10 Tagen ohne Abzug."
    page = pypdf.PdfReader(io.BytesIO(pdf.stdout)).pages[0]
    text = " ".join(page.extract_text().split())
    assert "Sehr geehrte Damen und Herren, EMP XY GmbH erhält" in text
    assert f"Bitte geben Sie bei Zahlung {number} an." in text
    assert "Zahlbar binnen 10 Tagen ohne Abzug." in text
    (image,) = page.images
    assert image.image is not None and image.image.size == (6, 4)
