"""PDF rendering of a document: A4, the issuer's layout, PDF/A-3B with the
EN 16931 CII XML embedded as Factur-X (``factur-x.xml``, profile EN 16931).

fpdf2 writes the visible PDF with ``enforce_compliance=PDFA_3B`` and an embedded
Unicode TrueType font (DejaVu Sans), so umlauts, ß and € render and the font is
embedded as PDF/A requires. The factur-x library then attaches the XML of
:func:`billing.documents.einvoice.render_cii` and writes the Factur-X XMP
metadata. The content is deterministic (creation date = issue date, same text,
same XML); the bytes are not: fpdf2 writes the XMP ModifyDate/MetadataDate and
the factur-x library its XMP metadata and /ModDate with the current time, so two
renders differ in those timestamps only.
"""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, time
from decimal import Decimal
from pathlib import Path

import facturx
from fpdf import FPDF
from fpdf.enums import DocumentCompliance, XPos, YPos
from fpdf.fonts import FontFace

from billing.documents.einvoice import render_cii
from billing.documents.model import REVERSE_CHARGE_TEXT, Document, Party
from billing.documents.texts import format_date, format_money, title

__all__ = ["FontMissing", "find_font", "render_pdf", "render_visual_pdf"]

#: Where DejaVu Sans is looked for (Debian/Ubuntu first, then other layouts).
FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/local/share/fonts"),
)
FONT_REGULAR = "DejaVuSans.ttf"
FONT_BOLD = "DejaVuSans-Bold.ttf"
_FAMILY = "DejaVu"

_LABELS: dict[str, dict[str, str]] = {
    "de": {
        "number": "Nummer",
        "issue_date": "Datum",
        "period": "Leistungszeitraum",
        "customer_number": "Kundennummer",
        "pos": "Pos.",
        "description": "Beschreibung",
        "quantity": "Menge",
        "unit_price": "Einzelpreis",
        "net": "Netto",
        "vat": "USt.",
        "vat_rate": "USt. {rate} % auf {net}",
        "vat_rate_ae": "USt. 0 % (Reverse Charge) auf {net}",
        "total_net": "Summe netto",
        "total_vat": "Umsatzsteuer",
        "total_gross": "Gesamtbetrag",
        "refers_to": "Storno zu {kind} {number} vom {date}",
        "vat_id": "USt-IdNr.",
        "tax_number": "Steuernr.",
        "self_billed": "Gutschrift im Gutschriftsverfahren (§ 14 Abs. 2 Satz 2 UStG)",
        "recipient_vat_id": "USt-IdNr. des Leistungsempfängers",
        "supplier_vat_id": "USt-IdNr. des Leistenden",
        "page": "Seite {page}/{pages}",
        "reply_to": "Rückfragen",
    },
    "en": {
        "number": "Number",
        "issue_date": "Date",
        "period": "Supply period",
        "customer_number": "Customer number",
        "pos": "Pos.",
        "description": "Description",
        "quantity": "Quantity",
        "unit_price": "Unit price",
        "net": "Net",
        "vat": "VAT",
        "vat_rate": "VAT {rate} % on {net}",
        "vat_rate_ae": "VAT 0 % (reverse charge) on {net}",
        "total_net": "Total net",
        "total_vat": "VAT",
        "total_gross": "Total",
        "refers_to": "Cancels {kind} {number} of {date}",
        "vat_id": "VAT id",
        "tax_number": "Tax number",
        "self_billed": "Self-billing credit note",
        "recipient_vat_id": "Recipient's VAT id",
        "supplier_vat_id": "Supplier's VAT id",
        "page": "Page {page}/{pages}",
        "reply_to": "Questions",
    },
}


_REFERS_KIND: dict[str, dict[str, str]] = {
    "de": {"invoice": "Rechnung", "credit_note": "Gutschrift"},
    "en": {"invoice": "invoice", "credit_note": "credit note"},
}


class FontMissing(RuntimeError):
    """The Unicode TrueType font needed for umlauts, ß and € is not installed."""


def _rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    if len(value) != 6:
        raise ValueError(f"colour must be #rrggbb, not {colour!r}")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _number(value: Decimal, language: str) -> str:
    """A quantity or rate without trailing zeros, decimal comma in German."""
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", ",") if language == "de" else text


# How a line's unit reads on the page (the XML carries the UN/ECE code).
_UNIT_LABELS: dict[str, dict[str, str]] = {
    "de": {"session": "Ladevorgang", "piece": "Stück"},
    "en": {"session": "session", "piece": "piece"},
}


def _unit_price(value: Decimal, currency: str, language: str) -> str:
    """Unit prices keep up to four decimals (e.g. 0.3917 €/kWh), at least two."""
    decimals = max(2, min(4, -value.normalize().as_tuple().exponent))  # type: ignore[operator]
    text = f"{value:,.{decimals}f}"
    if language == "de":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
        return f"{text} {'€' if currency == 'EUR' else currency}"
    return f"€{text}" if currency == "EUR" else f"{text} {currency}"


class _Pdf(FPDF):
    def __init__(self, document: Document) -> None:
        super().__init__(format="A4", enforce_compliance=DocumentCompliance.PDFA_3B)
        self.document = document
        self.labels = _LABELS[document.language]
        branding = document.branding
        self.primary = _rgb(branding.primary_colour) if branding else (31, 58, 95)
        self.secondary = _rgb(branding.secondary_colour) if branding else (232, 237, 243)

    def footer(self) -> None:
        issuer = self.document.issuer
        labels = self.labels
        self.set_y(-22)
        self.set_draw_color(*self.primary)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.set_font(_FAMILY, "", 7.5)
        self.set_text_color(80, 80, 80)
        parts = [issuer.name, f"{issuer.street}, {issuer.postal_code} {issuer.city}"]
        if issuer.vat_id:
            parts.append(f"{labels['vat_id']} {issuer.vat_id}")
        if issuer.tax_number:
            parts.append(f"{labels['tax_number']} {issuer.tax_number}")
        contact = self.document.reply_to or issuer.email
        if contact:
            parts.append(contact)
        self.multi_cell(0, 3.6, " · ".join(parts), align="C", new_x=XPos.LMARGIN)
        self.cell(
            0,
            3.6,
            labels["page"].format(page=self.page_no(), pages="{nb}"),
            align="C",
        )


def find_font(filename: str) -> Path:
    """The path of a DejaVu font file, or :class:`FontMissing`.

    There is deliberately no fallback to a PDF core font: core fonts are not
    embedded, which PDF/A forbids, and they lack most of Unicode, so an invoice
    would silently lose characters. A missing font is an installation error.
    """
    for directory in FONT_DIRS:
        path = directory / filename
        if path.is_file():
            return path
    searched = ", ".join(str(d) for d in FONT_DIRS)
    raise FontMissing(
        f"font {filename} not found in {searched}: install fonts-dejavu-core (the PDF "
        "needs a Unicode TrueType font for umlauts, ß and €, embedded for PDF/A)"
    )


def _load_fonts(pdf: FPDF) -> None:
    for style, filename in (("", FONT_REGULAR), ("B", FONT_BOLD)):
        pdf.add_font(_FAMILY, style, str(find_font(filename)))


def _address_lines(party: Party) -> list[str]:
    lines = [party.name, party.street, f"{party.postal_code} {party.city}"]
    if party.country.upper() != "DE":
        lines.append(party.country.upper())
    return lines


def render_visual_pdf(document: Document) -> bytes:
    """The visible PDF/A-3B document without the embedded XML."""
    doc = document
    lang = doc.language
    labels = _LABELS[lang]
    pdf = _Pdf(doc)
    _load_fonts(pdf)
    pdf.set_creation_date(datetime.combine(doc.issue_date, time(0, 0), tzinfo=UTC))
    pdf.set_lang("de-DE" if lang == "de" else "en")
    pdf.set_title(f"{title(doc)} {doc.number}")
    pdf.set_author(doc.issuer.name)
    pdf.set_subject(f"{title(doc)} {doc.number}")
    pdf.set_creator("csms billing")
    pdf.set_producer("csms billing (fpdf2)")
    pdf.set_margins(20, 15, 20)
    pdf.set_auto_page_break(True, margin=28)
    pdf.alias_nb_pages()
    pdf.add_page()
    money = lambda value: format_money(value, doc.currency, lang)  # noqa: E731

    # Header: logo right, display name left in the primary colour.
    branding = doc.branding
    if branding and branding.logo_png_base64:
        logo = io.BytesIO(base64.b64decode(branding.logo_png_base64, validate=True))
        pdf.image(logo, x=pdf.w - pdf.r_margin - 45, y=12, h=18, keep_aspect_ratio=True)
    pdf.set_font(_FAMILY, "B", 14)
    pdf.set_text_color(*pdf.primary)
    pdf.cell(120, 8, branding.display_name if branding else doc.issuer.name)
    pdf.ln(20)

    # Issuer line above the recipient's address (window envelope).
    pdf.set_font(_FAMILY, "", 7)
    pdf.set_text_color(90, 90, 90)
    issuer = doc.issuer
    pdf.cell(
        0,
        4,
        f"{issuer.name} · {issuer.street} · {issuer.postal_code} {issuer.city}",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_draw_color(*pdf.primary)
    pdf.set_font(_FAMILY, "", 10)
    pdf.set_text_color(0, 0, 0)
    address_top = pdf.get_y() + 1
    pdf.set_y(address_top)
    for line in _address_lines(doc.recipient):
        pdf.cell(90, 5, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    # Meta block on the right.
    meta = [
        (labels["number"], doc.number),
        (labels["issue_date"], format_date(doc.issue_date, lang)),
        (
            labels["period"],
            f"{format_date(doc.period_start, lang)} \u2013 {format_date(doc.period_end, lang)}",
        ),
    ]
    if doc.recipient.customer_number:
        meta.append((labels["customer_number"], doc.recipient.customer_number))
    pdf.set_y(address_top)
    for label, value in meta:
        pdf.set_x(115)
        pdf.set_font(_FAMILY, "", 9)
        pdf.cell(35, 5, label)
        pdf.set_font(_FAMILY, "B", 9)
        pdf.cell(40, 5, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(max(pdf.get_y(), address_top + 30) + 6)

    # Title.
    pdf.set_font(_FAMILY, "B", 16)
    pdf.set_text_color(*pdf.primary)
    pdf.cell(0, 9, f"{title(doc)} {doc.number}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(_FAMILY, "", 9.5)
    if doc.kind == "cancellation" and doc.refers_to_number and doc.refers_to_issue_date:
        kind = _REFERS_KIND[lang].get(doc.refers_to_kind or "invoice", "")
        pdf.set_font(_FAMILY, "B", 9.5)
        pdf.cell(
            0,
            6,
            labels["refers_to"].format(
                kind=kind,
                number=doc.refers_to_number,
                date=format_date(doc.refers_to_issue_date, lang),
            ),
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.set_font(_FAMILY, "", 9.5)
    if doc.self_billed:
        pdf.cell(0, 5, labels["self_billed"], new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    if doc.pre_text:
        pdf.multi_cell(0, 5, doc.pre_text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(3)

    # Lines.
    pdf.set_font(_FAMILY, "", 8.5)
    headings = FontFace(emphasis="BOLD", color=(255, 255, 255), fill_color=pdf.primary)
    with pdf.table(
        col_widths=(10, 66, 22, 22, 22, 12),
        text_align=("RIGHT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=headings,
        borders_layout="HORIZONTAL_LINES",
        cell_fill_color=pdf.secondary,
        cell_fill_mode="ROWS",
        line_height=4.4,
        padding=(1, 1.5),
    ) as table:
        heading = table.row()
        for text in (
            labels["pos"],
            labels["description"],
            labels["quantity"],
            labels["unit_price"],
            labels["net"],
            labels["vat"],
        ):
            heading.cell(text)
        for item in doc.lines:
            description = item.description
            details = []
            if item.session is not None:
                details.append(item.session.text())
            if item.supply_date is not None:
                details.append(format_date(item.supply_date, lang))
            if details:
                description += "\n" + "; ".join(details)
            row = table.row()
            row.cell(str(item.position))
            row.cell(description)
            row.cell(
                f"{_number(item.quantity, lang)} {_UNIT_LABELS[lang].get(item.unit, item.unit)}"
            )
            row.cell(_unit_price(item.unit_price, doc.currency, lang))
            row.cell(money(item.net_amount))
            row.cell(f"{_number(item.vat_rate, lang)} %")
    pdf.ln(3)

    # Totals: VAT per rate, then net / VAT / gross.
    def total_row(label: str, value: str, *, bold: bool = False) -> None:
        pdf.set_font(_FAMILY, "B" if bold else "", 10 if bold else 9)
        pdf.set_x(95)
        pdf.cell(55, 5.5, label, align="R")
        pdf.cell(25, 5.5, value, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    total_row(labels["total_net"], money(doc.total_net))
    for vat in doc.vat_breakdown:
        key = "vat_rate_ae" if vat.category == "AE" else "vat_rate"
        total_row(
            labels[key].format(rate=_number(vat.rate, lang), net=money(vat.net)), money(vat.vat)
        )
    pdf.set_draw_color(*pdf.primary)
    pdf.line(120, pdf.get_y() + 0.5, pdf.w - pdf.r_margin, pdf.get_y() + 0.5)
    pdf.ln(1)
    pdf.set_text_color(*pdf.primary)
    total_row(labels["total_gross"], money(doc.total_gross), bold=True)
    pdf.set_text_color(0, 0, 0)
    pdf.ln(4)

    pdf.set_font(_FAMILY, "", 9.5)
    if doc.reverse_charge:
        pdf.set_font(_FAMILY, "B", 9.5)
        pdf.multi_cell(0, 5, REVERSE_CHARGE_TEXT[lang], new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(_FAMILY, "", 9)
        supplier, customer = (
            (doc.recipient, doc.issuer) if doc.self_billed else (doc.issuer, doc.recipient)
        )
        pdf.multi_cell(
            0,
            5,
            f"{labels['supplier_vat_id']}: {supplier.vat_id or '-'} · "
            f"{labels['recipient_vat_id']}: {customer.vat_id or '-'}",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.ln(2)
        pdf.set_font(_FAMILY, "", 9.5)
    if doc.payment_terms:
        pdf.multi_cell(0, 5, doc.payment_terms, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)
    if doc.post_text:
        pdf.multi_cell(0, 5, doc.post_text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if doc.reply_to:
        pdf.ln(2)
        pdf.set_font(_FAMILY, "", 8.5)
        pdf.cell(0, 5, f"{labels['reply_to']}: {doc.reply_to}")
    return bytes(pdf.output())


def render_pdf(document: Document) -> bytes:
    """The Factur-X PDF (PDF/A-3B, EN 16931 XML embedded, XSD-checked)."""
    visual = render_visual_pdf(document)
    xml = render_cii(document)
    result: bytes = facturx.generate_from_binary(
        visual,
        xml,
        flavor="factur-x",
        level="en16931",
        check_xsd=True,
        pdf_metadata={
            "author": document.issuer.name,
            "keywords": "Factur-X, EN 16931",
            "title": f"{title(document)} {document.number}",
            "subject": f"{title(document)} {document.number}",
        },
        lang="de-DE" if document.language == "de" else "en",
    )
    return result
