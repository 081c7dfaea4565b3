"""Document layouts on the in-memory twins: validation at save time (fields
and syntax of the texts, lengths, the logo a real PNG), the service's
permissions and scope, and what a layout does to issued documents (texts,
payment terms, logo, display name, language; cancellation texts)."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime

import msgspec
import pytest
from pypdf import PdfReader

from billing.documents.layouts import (
    LOGO_MAX_BYTES,
    TEXT_MAX,
    DocumentLayoutUpdate,
    LayoutError,
    branding_keys,
    checked_changes,
    checked_logo,
)
from billing.documents.model import from_json
from billing.services.layouts import InvalidLayout, LayoutService
from billing.storage.layouts import MemoryLayouts
from crm.access import AccessProfile, Grant, Principal, Scope
from crm.errors import Forbidden, NotFound
from tests.layout_helpers import png

from .world import World, narrow_principal, pipeline_world

NOW = datetime(2026, 11, 1, 8, tzinfo=UTC)
OCTOBER_5 = datetime(2026, 10, 5, 10, tzinfo=UTC)


@pytest.fixture
async def world() -> World:
    return await pipeline_world()


LOGO = base64.b64encode(png(2, 2)).decode()


def errors_of(**fields: object) -> list[tuple[str, str]]:
    with pytest.raises(LayoutError) as caught:
        checked_changes(msgspec.convert(fields, DocumentLayoutUpdate))
    return caught.value.errors


def test_texts_with_known_fields_are_kept_trimmed_with_line_feeds() -> None:
    changes = checked_changes(
        DocumentLayoutUpdate(
            invoice_pre_text="  Sehr geehrte Damen und Herren,\r\n{{ customer_name }} \n",
            payment_terms=" Zahlbar sofort. ",
            display_name=" Stadtwerke ",
            language="EN",
        )
    )
    assert changes == {
        "invoice_pre_text": "Sehr geehrte Damen und Herren,\n{{ customer_name }}",
        "payment_terms": "Zahlbar sofort.",
        "display_name": "Stadtwerke",
        "language": "en",
    }


def test_an_unknown_field_is_refused_naming_the_text_and_the_field() -> None:
    (error,) = errors_of(invoice_pre_text="IBAN {{customer_iban}}")
    assert error[0] == "invoice_pre_text"
    assert error[1].startswith("unknown field {{customer_iban}}")
    message = str(InvalidLayout([error]))
    assert message.startswith("invoice_pre_text: unknown field {{customer_iban}}; known: ")


def test_every_bad_field_is_named() -> None:
    errors = dict(
        errors_of(
            credit_note_post_text="{{ document_number",
            cancellation_pre_text="{{ customer.__class__ }}",
            invoice_post_text="x" * (TEXT_MAX + 1),
            payment_terms="bis {{issue_date}}",
            display_name="two\nlines",
            language="fr",
            logo_png_base64="not base64!",
        )
    )
    assert set(errors) == {
        "credit_note_post_text",
        "cancellation_pre_text",
        "invoice_post_text",
        "payment_terms",
        "display_name",
        "language",
        "logo_png_base64",
    }
    assert "unclosed" in errors["credit_note_post_text"]
    assert "only a plain field name" in errors["cancellation_pre_text"]
    assert f"at most {TEXT_MAX} characters" in errors["invoice_post_text"]
    assert "not filled" in errors["payment_terms"]
    assert "fr" in errors["language"]
    assert "base64" in errors["logo_png_base64"]


def test_control_characters_are_refused() -> None:
    ((name, problem),) = errors_of(invoice_post_text="Danke\x07")
    assert name == "invoice_post_text" and "U+0007" in problem


def test_a_logo_must_be_a_png_the_pdf_can_show() -> None:
    assert checked_logo(LOGO) == png(2, 2)
    # base64 with line breaks (as `base64` writes it) is fine.
    assert checked_logo("\n".join(LOGO[i : i + 8] for i in range(0, len(LOGO), 8))) == png(2, 2)
    jpeg = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\0" * 40).decode()
    with pytest.raises(ValueError, match="not a PNG"):
        checked_logo(jpeg)
    with pytest.raises(ValueError, match="PDF can show"):
        checked_logo(base64.b64encode(png(2, 2)[:40] + b"garbage" * 5).decode())
    with pytest.raises(ValueError, match="pixels"):
        checked_logo(base64.b64encode(png(5000, 1)).decode())
    too_big = png(1, 1) + b"\0" * LOGO_MAX_BYTES
    with pytest.raises(ValueError, match="256 KiB"):
        checked_logo(base64.b64encode(too_big).decode())


def test_a_logo_is_stored_as_canonical_base64_and_removed_by_null() -> None:
    spaced = " " + LOGO[:10] + "\n" + LOGO[10:] + " "
    assert checked_changes(DocumentLayoutUpdate(logo_png_base64=spaced)) == {
        "logo_png_base64": LOGO
    }
    assert checked_changes(DocumentLayoutUpdate(logo_png_base64=None)) == {"logo_png_base64": ""}


def test_branding_keys_carry_only_what_is_set() -> None:
    row = {"invoice_pre_text": "Hallo", "payment_terms": "", "language": "en", "entity": 3}
    assert branding_keys(row) == {"invoice_pre_text": "Hallo", "language": "en"}


# -- the service --------------------------------------------------------------------------


def reader(world: World, entity_id: int) -> Principal:
    return Principal(
        user_id=2,
        active_entity_id=entity_id,
        member_entity_ids=frozenset({entity_id}),
        profile=AccessProfile.combine([Grant(frozenset({"billing:read"}), Scope.OWN)]),
        tree=world.directory.tree(),
    )


async def test_reading_and_changing_needs_billing_permissions_in_scope(world: World) -> None:
    service = LayoutService(MemoryLayouts(), clock=lambda: NOW)
    own = narrow_principal(world, world.sub_cpo)
    fresh = await service.get(own, world.sub_cpo)
    assert fresh.updated_at is None and fresh.invoice_pre_text == ""
    saved = await service.update(
        own, world.sub_cpo, DocumentLayoutUpdate(invoice_pre_text="Hallo {{customer_name}}")
    )
    assert saved.updated_at == NOW and saved.invoice_pre_text == "Hallo {{customer_name}}"
    kept = await service.update(own, world.sub_cpo, DocumentLayoutUpdate(payment_terms="Sofort."))
    assert (kept.invoice_pre_text, kept.payment_terms) == ("Hallo {{customer_name}}", "Sofort.")
    assert await service.get(reader(world, world.sub_cpo), world.sub_cpo) == kept
    with pytest.raises(NotFound):
        await service.get(own, world.cpo_b)
    with pytest.raises(NotFound):
        await service.update(own, world.cpo_b, DocumentLayoutUpdate(language="en"))
    with pytest.raises(NotFound):
        await service.get(world.system, 999)
    with pytest.raises(Forbidden):
        await service.update(reader(world, world.sub_cpo), world.sub_cpo, DocumentLayoutUpdate())
    with pytest.raises(InvalidLayout, match="invoice_post_text: unknown field"):
        await service.update(
            own, world.sub_cpo, DocumentLayoutUpdate(invoice_post_text="{{customer_iban}}")
        )
    assert (await service.get(own, world.sub_cpo)).invoice_post_text == ""


# -- on documents -------------------------------------------------------------------------


async def with_layout(world: World, entity_id: int, **fields: object) -> None:
    """Sets the entity's layout as SqlDirectory merges it into its branding."""
    changes = checked_changes(msgspec.convert(fields, DocumentLayoutUpdate))
    entities = await world.directory.entities()
    current = entities[entity_id]
    world.directory.add_entity(
        msgspec.structs.replace(current, branding={**current.branding, **branding_keys(changes)})
    )


async def test_an_invoice_carries_the_layout(world: World) -> None:
    await with_layout(
        world,
        world.sub_cpo,
        invoice_pre_text="Sehr geehrte Damen und Herren, {{customer_name}} erhält:",
        invoice_post_text="Bitte geben Sie {{document_number}} an.",
        payment_terms="Zahlbar binnen 7 Tagen.",
        logo_png_base64=LOGO,
        display_name="Süd Energie",
    )
    world.charge(world.station_a, OCTOBER_5)
    await world.rater.rate_all()
    (invoice,) = (
        await world.runs.run(world.system, world.sub_cpo, "2026-10", preview=False)
    ).issued
    document = from_json(invoice.content)
    assert document.pre_text == "Sehr geehrte Damen und Herren, EMP XY GmbH erhält:"
    assert document.post_text == "Bitte geben Sie A-RE-2026-0001 an."
    assert document.payment_terms == "Zahlbar binnen 7 Tagen."
    assert document.branding is not None
    assert document.branding.display_name == "Süd Energie"
    assert document.branding.logo_png_base64 == LOGO
    _, pdf = await world.runs.pdf(world.system, invoice.id)
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    assert "EMP XY GmbH erhält" in page.extract_text()
    assert list(page.images)


async def test_the_layouts_language_wins_over_the_country(world: World) -> None:
    await with_layout(world, world.sub_cpo, language="en", invoice_pre_text="{{document_title}}")
    world.charge(world.station_a, OCTOBER_5)
    await world.rater.rate_all()
    (invoice,) = (
        await world.runs.run(world.system, world.sub_cpo, "2026-10", preview=False)
    ).issued
    document = from_json(invoice.content)
    assert document.language == "en" and document.pre_text == "Invoice"


async def test_a_cancellation_carries_the_cancellation_texts(world: World) -> None:
    await with_layout(
        world,
        world.sub_cpo,
        invoice_pre_text="Rechnung für {{customer_name}}",
        cancellation_pre_text="Storno {{document_number}} zu {{refers_to_number}}",
        cancellation_post_text="Der Betrag {{total_gross}} wird erstattet.",
    )
    world.charge(world.station_a, OCTOBER_5)
    await world.rater.rate_all()
    (invoice,) = (
        await world.runs.run(world.system, world.sub_cpo, "2026-10", preview=False)
    ).issued
    cancellation = from_json((await world.runs.cancel(world.system, invoice.id)).content)
    assert cancellation.pre_text == "Storno ST-2026-000001 zu A-RE-2026-0001"
    assert cancellation.post_text == "Der Betrag -5,95 € wird erstattet."
