"""Issued billing documents as immutable values.

A :class:`Document` is exactly what gets stored (as JSON, see :func:`to_json` /
:func:`from_json`) and rendered (:mod:`billing.documents.pdf`,
:mod:`billing.documents.einvoice`): every text, amount and the branding are part
of the value, so rendering the stored value again gives the same content.

Money is :class:`decimal.Decimal` throughout (msgspec stores it as a string, so
nothing passes through a float). Amounts are in the document's currency and
rounded to cents (``ROUND_HALF_UP``, which is symmetric around zero, so a
cancellation's totals are exactly the negated totals of the original).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

import msgspec

__all__ = [
    "EU_COUNTRIES",
    "REVERSE_CHARGE_TEXT",
    "UNIT_CODES",
    "Branding",
    "Document",
    "DocumentKind",
    "DocumentLine",
    "Party",
    "SessionReference",
    "VatBreakdown",
    "VatCategory",
    "build_totals",
    "cancellation_of",
    "check_totals",
    "from_json",
    "is_reverse_charge",
    "make_line",
    "money",
    "negated_line",
    "supplier_and_customer",
    "to_json",
    "unit_code",
    "vat_treatment",
]

DocumentKind = Literal["invoice", "credit_note", "cancellation"]
# UNCL5305 subset used here: S standard rate, Z zero rated, E exempt,
# AE reverse charge (VAT reverse charge), K intra-community supply of goods,
# G export outside the EU, O outside the scope of VAT.
VatCategory = Literal["S", "Z", "E", "AE", "K", "G", "O"]

CENT = Decimal("0.01")

#: EU member states (ISO 3166-1 alpha-2; Greece is "GR" here, VAT ids use "EL").
EU_COUNTRIES: frozenset[str] = frozenset(
    {
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR",
        "HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI",
        "SK",
    }
)  # fmt: skip

#: Our unit names → UN/ECE Recommendation 20 codes used in the e-invoice.
UNIT_CODES: dict[str, str] = {
    "kWh": "KWH",
    "Wh": "WHR",
    "h": "HUR",
    "min": "MIN",
    "s": "SEC",
    "session": "C62",
    "piece": "C62",
    "day": "DAY",
    "month": "MON",
}

#: The wording a reverse-charge document must carry (§ 14a (5) UStG, Art. 226 (11a)
#: VAT Directive), by document language.
REVERSE_CHARGE_TEXT: dict[str, str] = {
    "de": "Steuerschuldnerschaft des Leistungsempfängers",
    "en": "Reverse charge",
}


def money(value: Decimal) -> Decimal:
    """Round to cents, half away from zero; never "-0.00"."""
    rounded = value.quantize(CENT, rounding=ROUND_HALF_UP)
    return rounded.copy_abs() if rounded == 0 else rounded


def unit_code(unit: str) -> str:
    """The UN/ECE rec 20 code of one of our unit names (ValueError if unknown)."""
    try:
        return UNIT_CODES[unit]
    except KeyError:
        raise ValueError(f"unknown unit {unit!r}; known: {sorted(UNIT_CODES)}") from None


class Party(msgspec.Struct, frozen=True, kw_only=True):
    """Issuer or recipient of a document, as it was when the document was issued."""

    name: str
    street: str
    postal_code: str
    city: str
    country: str  # ISO 3166-1 alpha-2
    vat_id: str | None = None
    tax_number: str | None = None  # national tax number (Steuernummer), BT-32
    email: str | None = None
    customer_number: str | None = None  # the recipient's number at the issuer
    contact_id: int | None = None
    entity_id: int | None = None


class SessionReference(msgspec.Struct, frozen=True, kw_only=True):
    """Which charging session a line bills (texts in the issuer's local time)."""

    station: str
    start_local: str  # e.g. "2026-11-03 18:04"
    end_local: str
    medium_uid: str | None = None

    def text(self) -> str:
        parts = [self.station, f"{self.start_local} \u2013 {self.end_local}"]
        if self.medium_uid:
            parts.append(self.medium_uid)
        return ", ".join(parts)


class DocumentLine(msgspec.Struct, frozen=True, kw_only=True):
    """One priced position; ``net_amount`` is rounded to cents."""

    position: int
    description: str
    quantity: Decimal
    unit: str  # a key of UNIT_CODES
    unit_price: Decimal  # net, may have more than two decimals
    net_amount: Decimal
    vat_rate: Decimal  # percent, e.g. Decimal("19")
    vat_category: VatCategory = "S"
    session: SessionReference | None = None
    supply_date: date | None = None


class VatBreakdown(msgspec.Struct, frozen=True, kw_only=True):
    """VAT of one (category, rate): ``vat = money(net * rate / 100)``."""

    rate: Decimal
    category: VatCategory
    net: Decimal
    vat: Decimal


class Branding(msgspec.Struct, frozen=True, kw_only=True):
    """The issuer's layout."""

    display_name: str
    primary_colour: str = "#1f3a5f"  # "#rrggbb"
    secondary_colour: str = "#e8edf3"
    logo_png_base64: str | None = None


class Document(msgspec.Struct, frozen=True, kw_only=True):
    """One issued document: exactly what is stored and rendered.

    ``kind``:
      * ``invoice``: the issuer sells to the recipient.
      * ``credit_note``: a German "Gutschrift" in the sense of § 14 (2) UStG,
        i.e. self-billing: the issuer (a parent entity) bills itself on behalf of
        the recipient (a sub-CPO) for sessions at the recipient's stations. The
        recipient is the one supplying the service.
      * ``cancellation``: a Storno of an earlier document (``refers_to_*``),
        with that document's lines and amounts negated and the same roles.
    """

    kind: DocumentKind
    number: str
    issue_date: date
    period_start: date
    period_end: date
    currency: str
    issuer: Party
    recipient: Party
    lines: tuple[DocumentLine, ...]
    vat_breakdown: tuple[VatBreakdown, ...]
    total_net: Decimal
    total_vat: Decimal
    total_gross: Decimal
    reverse_charge: bool = False
    pre_text: str = ""
    post_text: str = ""
    refers_to_number: str | None = None
    refers_to_issue_date: date | None = None
    refers_to_kind: DocumentKind | None = None  # kind of the cancelled document
    reply_to: str | None = None
    payment_terms: str = ""
    branding: Branding | None = None
    language: Literal["de", "en"] = "de"

    def __post_init__(self) -> None:
        if self.kind == "cancellation" and (
            self.refers_to_number is None or self.refers_to_issue_date is None
        ):
            raise ValueError("a cancellation must refer to the cancelled document")
        if self.period_end < self.period_start:
            raise ValueError("supply period ends before it starts")

    @property
    def self_billed(self) -> bool:
        """True if the recipient is the supplier (a credit note or its cancellation)."""
        return self.kind == "credit_note" or (
            self.kind == "cancellation" and self.refers_to_kind == "credit_note"
        )


# --- JSON storage ---------------------------------------------------------------

_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder(Document)


def to_json(document: Document) -> bytes:
    """The stored form (Decimals as strings, dates ISO)."""
    return _encoder.encode(document)


def from_json(data: bytes | str) -> Document:
    return _decoder.decode(data)


# --- VAT ------------------------------------------------------------------------


def is_reverse_charge(supplier: Party, customer: Party) -> bool:
    """Whether the customer owes the VAT (B2B service across EU borders).

    True exactly when both parties are in the EU, in different countries, and the
    customer has a VAT id (it is then a taxable person; § 13b UStG / Art. 196
    VAT Directive). On an invoice the supplier is the issuer; on a self-billed
    credit note it is the recipient (see :func:`supplier_and_customer`).
    """
    supplier_country = supplier.country.upper()
    customer_country = customer.country.upper()
    return (
        supplier_country in EU_COUNTRIES
        and customer_country in EU_COUNTRIES
        and supplier_country != customer_country
        and bool(customer.vat_id and customer.vat_id.strip())
    )


def supplier_and_customer(
    kind: DocumentKind, issuer: Party, recipient: Party
) -> tuple[Party, Party]:
    """Who supplies and who receives the service: the issuer supplies, except on a
    credit note (self-billing), where the recipient does."""
    if kind == "credit_note":
        return recipient, issuer
    return issuer, recipient


def vat_treatment(
    supplier: Party, customer: Party, domestic_rate: Decimal
) -> tuple[VatCategory, Decimal]:
    """(category, rate) for a line: AE 0 % under reverse charge, else S or Z."""
    if is_reverse_charge(supplier, customer):
        return "AE", Decimal("0")
    if domestic_rate == 0:
        return "Z", Decimal("0")
    return "S", domestic_rate


def make_line(
    *,
    position: int,
    description: str,
    quantity: Decimal,
    unit: str,
    unit_price: Decimal,
    vat_rate: Decimal,
    vat_category: VatCategory = "S",
    session: SessionReference | None = None,
    supply_date: date | None = None,
) -> DocumentLine:
    """A line whose net amount is ``money(quantity * unit_price)``."""
    unit_code(unit)  # reject unknown units early
    return DocumentLine(
        position=position,
        description=description,
        quantity=quantity,
        unit=unit,
        unit_price=unit_price,
        net_amount=money(quantity * unit_price),
        vat_rate=vat_rate,
        vat_category=vat_category,
        session=session,
        supply_date=supply_date,
    )


def build_totals(
    lines: Iterable[DocumentLine], *, reverse_charge: bool
) -> tuple[tuple[VatBreakdown, ...], Decimal, Decimal, Decimal]:
    """VAT breakdown and totals: ``(vat_breakdown, total_net, total_vat, total_gross)``.

    VAT is computed per (category, rate) on the SUM of the line net amounts
    (EN 16931 BR-CO-17, German practice), not per line: per-line rounding can
    differ by cents. Line net amounts must already be in cents.

    Under reverse charge every line must be category AE at 0 %; otherwise no line
    may be AE (a mixed document is a modelling error, not a VAT case).
    """
    groups: dict[tuple[str, Decimal], Decimal] = {}
    categories: dict[tuple[str, Decimal], VatCategory] = {}
    for line in lines:
        if line.net_amount != money(line.net_amount):
            raise ValueError(f"line {line.position}: net amount not in cents")
        if reverse_charge and (line.vat_category != "AE" or line.vat_rate != 0):
            raise ValueError(f"line {line.position}: reverse charge needs category AE at 0 %")
        if not reverse_charge and line.vat_category == "AE":
            raise ValueError(f"line {line.position}: category AE without reverse charge")
        if line.vat_category != "S" and line.vat_rate != 0:
            raise ValueError(f"line {line.position}: category {line.vat_category} needs 0 %")
        key = (line.vat_category, line.vat_rate)  # Decimal: 19 == 19.00, same hash
        groups[key] = groups.get(key, Decimal("0")) + line.net_amount
        categories[key] = line.vat_category
    breakdown = tuple(
        VatBreakdown(
            rate=rate,
            category=categories[(category, rate)],
            net=money(net),
            vat=money(net * rate / 100),
        )
        for (category, rate), net in sorted(groups.items(), key=lambda kv: (-kv[0][1], kv[0][0]))
    )
    total_net = money(sum((b.net for b in breakdown), Decimal("0")))
    total_vat = money(sum((b.vat for b in breakdown), Decimal("0")))
    return breakdown, total_net, total_vat, total_net + total_vat


def negated_line(line: DocumentLine) -> DocumentLine:
    """The line with quantity and net amount negated; the unit price stays
    positive (EN 16931 BR-27: an item price is never negative)."""
    return msgspec.structs.replace(line, quantity=-line.quantity, net_amount=-line.net_amount)


def cancellation_of(
    original: Document,
    number: str,
    issue_date: date,
    *,
    pre_text: str = "",
    post_text: str = "",
    payment_terms: str = "",
) -> Document:
    """The Storno document of ``original``: same parties, period, branding and
    roles, lines with negated amounts, totals recomputed (= the original's
    negated), referring to the original's number and issue date.

    The original's texts and payment terms speak about the original (its number,
    "please pay …"), so they are not copied: pass the cancellation's own (already
    filled, e.g. with :func:`billing.documents.texts.fill_document_texts`)."""
    if original.kind == "cancellation":
        raise ValueError("a cancellation cannot be cancelled; issue a new document")
    lines = tuple(negated_line(line) for line in original.lines)
    breakdown, net, vat, gross = build_totals(lines, reverse_charge=original.reverse_charge)
    return msgspec.structs.replace(
        original,
        kind="cancellation",
        number=number,
        issue_date=issue_date,
        lines=lines,
        vat_breakdown=breakdown,
        total_net=net,
        total_vat=vat,
        total_gross=gross,
        refers_to_number=original.number,
        refers_to_issue_date=original.issue_date,
        refers_to_kind=original.kind,
        pre_text=pre_text,
        post_text=post_text,
        payment_terms=payment_terms,
    )


def check_totals(document: Document) -> None:
    """Raise ValueError if the stored breakdown/totals differ from the lines."""
    expected = build_totals(document.lines, reverse_charge=document.reverse_charge)
    actual = (document.vat_breakdown, document.total_net, document.total_vat, document.total_gross)
    if expected != actual:
        raise ValueError(f"document {document.number}: totals do not match its lines")
