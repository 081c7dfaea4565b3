"""Pre- and post-texts with fields, filled safely.

A template is plain text with fields written ``{{field_name}}`` (spaces inside the
braces are allowed: ``{{ customer_name }}``). A field name is only looked up as a
key in an explicit dict of strings: there is no attribute access, indexing,
filters, calls or expressions, so a template cannot run code or reach other data.
Anything between ``{{`` and ``}}`` that is not exactly a known field name is an
error, reported by :func:`validate_template` when the template is saved and
raised by :func:`fill` if it ever reaches rendering. Filled values are inserted
verbatim and never re-scanned for fields. ``{{`` without a closing ``}}`` is an
error too; single braces are ordinary text.

Available fields (:data:`FIELDS`):

=================  ==============================================================
customer_name      the recipient's name
customer_number    the recipient's customer number at the issuer
document_number    the document's number
document_title     "Rechnung", "Gutschrift", "Stornorechnung" / English titles
issue_date         the issue date, formatted for the document's language
period             the supply period, "01.11.2026 - 30.11.2026" (with an en dash)
period_start       the first day of the supply period
period_end         the last day of the supply period
total_net          the net total with currency, e.g. "1.234,56 €"
total_vat          the VAT total with currency
total_gross        the gross total with currency
currency           the currency code, e.g. "EUR"
issuer_name        the issuer's name
issuer_email       the issuer's e-mail (or reply-to address)
refers_to_number   the cancelled document's number (cancellations; else empty)
=================  ==============================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal

import msgspec

from billing.documents.model import Document

__all__ = [
    "FIELDS",
    "TemplateError",
    "document_fields",
    "fill",
    "fill_document_texts",
    "format_date",
    "format_money",
    "title",
    "validate_template",
]

FIELDS: dict[str, str] = {
    "customer_name": "the recipient's name",
    "customer_number": "the recipient's customer number at the issuer",
    "document_number": "the document's number",
    "document_title": "the document's title (Rechnung, Gutschrift, Stornorechnung …)",
    "issue_date": "the issue date",
    "period": "the supply period (start to end)",
    "period_start": "the first day of the supply period",
    "period_end": "the last day of the supply period",
    "total_net": "the net total with currency",
    "total_vat": "the VAT total with currency",
    "total_gross": "the gross total with currency",
    "currency": "the currency code",
    "issuer_name": "the issuer's name",
    "issuer_email": "the issuer's e-mail",
    "refers_to_number": "the cancelled document's number (cancellations)",
}

_TOKEN = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_NAME = re.compile(r"[a-z_]+")

_TITLES = {
    "de": {"invoice": "Rechnung", "credit_note": "Gutschrift", "cancellation": "Stornorechnung"},
    "en": {"invoice": "Invoice", "credit_note": "Credit note", "cancellation": "Cancellation"},
}


class TemplateError(ValueError):
    """A template uses an unknown or malformed field."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def validate_template(text: str, allowed: Mapping[str, str] | None = None) -> list[str]:
    """Errors of a template (empty if it is fine): unknown or malformed fields,
    unclosed ``{{``. ``allowed`` defaults to :data:`FIELDS`."""
    names = FIELDS if allowed is None else allowed
    errors: list[str] = []
    end = 0
    for match in _TOKEN.finditer(text):
        if "{{" in text[end : match.start()]:
            errors.append(f"unclosed '{{{{' before position {match.start()}")
        end = match.end()
        inner = match.group(1)
        name = inner.strip()
        if "{{" in inner:
            errors.append(f"nested '{{{{' in field at position {match.start()}")
        elif not _NAME.fullmatch(name):
            errors.append(f"invalid field {{{{{inner}}}}}: only a plain field name is allowed")
        elif name not in names:
            errors.append(f"unknown field {{{{{name}}}}}; known: {', '.join(sorted(names))}")
    if "{{" in text[end:]:
        errors.append(f"unclosed '{{{{' after position {end}")
    return errors


def fill(text: str, fields: Mapping[str, str]) -> str:
    """The template with each ``{{name}}`` replaced by ``fields[name]``.

    Raises :class:`TemplateError` if the template is invalid for these fields, and
    TypeError if a value is not a str (nothing is converted implicitly).
    """
    for key, value in fields.items():
        if not isinstance(value, str):
            raise TypeError(f"field {key!r} must be a str, not {type(value).__name__}")
    errors = validate_template(text, fields)
    if errors:
        raise TemplateError(errors)
    # One pass over the original text: values are never scanned for fields.
    return _TOKEN.sub(lambda m: fields[m.group(1).strip()], text)


def format_money(amount: Decimal, currency: str, language: str) -> str:
    """``1.234,56 €`` (de) or ``€1,234.56`` (en); other currencies by code."""
    sign = "-" if amount < 0 else ""
    text = f"{abs(amount):,.2f}"
    if language == "de":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    symbol = "€" if currency == "EUR" else currency
    if language == "de":
        return f"{sign}{text} {symbol}"
    return f"{sign}{symbol}{text}" if symbol == "€" else f"{sign}{text} {symbol}"


def format_date(value: date, language: str) -> str:
    return value.strftime("%d.%m.%Y") if language == "de" else value.isoformat()


def title(document: Document) -> str:
    """The document's title in its language."""
    return _TITLES[document.language][document.kind]


def document_fields(document: Document) -> dict[str, str]:
    """The values of :data:`FIELDS` for a document (its texts not yet filled)."""
    lang = document.language
    start = format_date(document.period_start, lang)
    end = format_date(document.period_end, lang)
    return {
        "customer_name": document.recipient.name,
        "customer_number": document.recipient.customer_number or "",
        "document_number": document.number,
        "document_title": title(document),
        "issue_date": format_date(document.issue_date, lang),
        "period": f"{start} \u2013 {end}",
        "period_start": start,
        "period_end": end,
        "total_net": format_money(document.total_net, document.currency, lang),
        "total_vat": format_money(document.total_vat, document.currency, lang),
        "total_gross": format_money(document.total_gross, document.currency, lang),
        "currency": document.currency,
        "issuer_name": document.issuer.name,
        "issuer_email": document.reply_to or document.issuer.email or "",
        "refers_to_number": document.refers_to_number or "",
    }


def fill_document_texts(document: Document, pre_template: str, post_template: str) -> Document:
    """The document with its pre- and post-texts filled from the templates (done
    once, at issue time; the stored document keeps the filled texts)."""
    fields = document_fields(document)
    return msgspec.structs.replace(
        document,
        pre_text=fill(pre_template, fields),
        post_text=fill(post_template, fields),
    )
