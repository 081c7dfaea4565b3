"""PDF rendering: text content, embedded Factur-X XML, PDF/A-3B parts."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import facturx
import msgspec
import pytest
from pypdf import PdfReader

from billing.documents.einvoice import render_cii
from billing.documents.model import Branding, Document
from billing.documents.pdf import render_pdf, render_visual_pdf
from tests.unit.billing_documents import samples

pytestmark = pytest.mark.backend_independent


def _text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.fixture(scope="module")
def rendered() -> dict[str, tuple[Document, bytes]]:
    out = {}
    for name, make in samples.ALL.items():
        document = make()
        out[name] = (document, render_pdf(document))
    return out


@pytest.mark.parametrize("name", list(samples.ALL))
def test_pdf_text_has_number_names_totals_and_umlauts(
    rendered: dict[str, tuple[Document, bytes]], name: str
) -> None:
    """The PDF opens with pypdf; its text has the number, both names (with
    umlauts and ß), the customer number and the gross total with €."""
    document, pdf = rendered[name]
    text = _text(pdf)
    assert document.number in text
    assert document.issuer.name in text and "Müßingen" in text
    assert document.recipient.name in text
    assert document.recipient.customer_number and document.recipient.customer_number in text
    gross = f"{document.total_gross:.2f}".replace(".", ",") + " €"
    assert gross in text
    assert "01.11.2026 \u2013 30.11.2026" in text
    assert "DE123456789" in text  # issuer VAT id in the footer


@pytest.mark.parametrize("name", list(samples.ALL))
def test_embedded_facturx_xml_equals_render_cii(
    rendered: dict[str, tuple[Document, bytes]], name: str
) -> None:
    """The PDF carries factur-x.xml, byte-equal to render_cii of the document."""
    document, pdf = rendered[name]
    filename, xml = facturx.get_facturx_xml_from_pdf(pdf, check_xsd=True)
    assert filename == "factur-x.xml"
    assert xml == render_cii(document)


def test_titles_and_vat_per_rate() -> None:
    """Invoice shows Rechnung, VAT per rate and the three totals."""
    text = _text(render_pdf(samples.invoice()))
    assert "Rechnung RE-2026-0001" in text
    assert "USt. 19 % auf 6,09 €" in text and "1,16 €" in text
    assert "USt. 7 % auf 4,99 €" in text and "0,35 €" in text
    assert "Summe netto" in text and "11,08 €" in text
    assert "Gesamtbetrag" in text and "12,59 €" in text
    assert "Steuerschuldnerschaft" not in text


def test_credit_note_title() -> None:
    """A credit note is titled Gutschrift and says it is self-billing."""
    text = _text(render_pdf(samples.credit_note()))
    assert "Gutschrift GS-2026-0001" in text
    assert "Gutschriftsverfahren" in text


def test_reverse_charge_wording(rendered: dict[str, tuple[Document, bytes]]) -> None:
    """A reverse-charge document carries the legal wording and both VAT ids."""
    text = _text(rendered["reverse_charge"][1])
    assert "Steuerschuldnerschaft des Leistungsempfängers" in text
    assert "FR40303265045" in text and "DE123456789" in text


def test_cancellation_refers_to_the_invoice(rendered: dict[str, tuple[Document, bytes]]) -> None:
    """A cancellation is a Stornorechnung referring to invoice N of its date,
    with negative amounts."""
    text = _text(rendered["cancellation"][1])
    assert "Stornorechnung ST-2026-0001" in text
    assert "Storno zu Rechnung RE-2026-0001 vom 01.12.2026" in text
    assert "-12,59 €" in text


def test_english_document() -> None:
    """language="en" gives English titles and labels."""
    text = _text(render_pdf(samples.document(language="en")))
    assert "Invoice RE-2026-0001" in text and "Total net" in text and "€12.59" in text


def test_visual_pdf_is_pdfa_3b_with_embedded_font() -> None:
    """fpdf2's output declares PDF/A-3B in its XMP, embeds the TrueType fonts,
    has an sRGB output intent and is created on the issue date."""
    reader = PdfReader(io.BytesIO(render_visual_pdf(samples.invoice())))
    root: Any = reader.trailer["/Root"]
    assert root["/OutputIntents"][0]["/S"] == "/GTS_PDFA1"
    xmp = root["/Metadata"].get_object().get_data()
    assert b"<pdfaid:part>3</pdfaid:part>" in xmp
    assert b"<pdfaid:conformance>B</pdfaid:conformance>" in xmp
    assert b'xmp:CreateDate="2026-12-01T00:00:00+00:00"' in xmp
    resources: Any = reader.pages[0]["/Resources"]
    fonts = resources["/Font"]
    descriptors = [
        f.get_object()["/DescendantFonts"][0].get_object()["/FontDescriptor"]
        for f in fonts.values()
    ]
    assert len(descriptors) == 2  # regular and bold
    assert all("/FontFile2" in d for d in descriptors)


def test_rerender_gives_the_same_content(rendered: dict[str, tuple[Document, bytes]]) -> None:
    """Rendering the stored document again gives the same text and XML."""
    _, first = rendered["credit_note"]
    again = render_pdf(samples.credit_note())
    assert _text(again) == _text(first)
    assert facturx.get_facturx_xml_from_pdf(again)[1] == facturx.get_facturx_xml_from_pdf(first)[1]


def test_logo_is_drawn() -> None:
    """A PNG logo in the branding is placed on the page."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (60, 20), (0, 90, 156)).save(buffer, format="PNG")
    logo = base64.b64encode(buffer.getvalue()).decode()
    document = msgspec.structs.replace(
        samples.invoice(), branding=Branding(display_name="SW", logo_png_base64=logo)
    )
    reader = PdfReader(io.BytesIO(render_pdf(document)))
    assert len(reader.pages[0].images) == 1


@pytest.mark.parametrize("make", [samples.invoice], ids=["invoice"])
def test_many_lines_flow_onto_more_pages(make: Callable[[], Document]) -> None:
    """Sixty lines break onto further pages, totals on the last one."""
    document = make()
    lines = tuple(msgspec.structs.replace(document.lines[0], position=i + 1) for i in range(60))
    from billing.documents.model import build_totals

    breakdown, net, vat, gross = build_totals(lines, reverse_charge=False)
    many = msgspec.structs.replace(
        document,
        lines=lines,
        vat_breakdown=breakdown,
        total_net=net,
        total_vat=vat,
        total_gross=gross,
    )
    reader = PdfReader(io.BytesIO(render_pdf(many)))
    assert len(reader.pages) > 1
    assert "Gesamtbetrag" in reader.pages[-1].extract_text()
