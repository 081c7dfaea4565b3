"""An entity's document layout: what its invoices, credit notes and
cancellations say around the lines and how their header looks (no I/O).

A layout holds a pre- and a post-text per document kind, templates with
``{{field}}``s filled safely when a document is issued
(:mod:`billing.documents.texts`; an unknown field or bad syntax is refused
here, when the layout is saved, naming the text and the problem), payment
terms (plain text: no fields), a PNG logo, the name shown in the header and
the documents' language (``de``, ``en``, or empty: by the entity's country).
Colours are not part of it: they are the CRM branding's.

:func:`branding_keys` turns a stored layout into the keys billing's drafting
reads from ``EntityInfo.branding``, so documents carry it without drafting
knowing where it comes from.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import struct
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from billing.documents.texts import validate_template

__all__ = [
    "DISPLAY_NAME_MAX",
    "LANGUAGES",
    "LOGO_MAX_BYTES",
    "LOGO_MAX_SIDE",
    "PAYMENT_TERMS_MAX",
    "TEXT_FIELDS",
    "TEXT_MAX",
    "DocumentLayout",
    "DocumentLayoutUpdate",
    "LayoutError",
    "branding_keys",
    "checked_changes",
    "checked_logo",
]

#: The templates of a layout (document kind + ``_pre_text`` / ``_post_text``).
TEXT_FIELDS = (
    "invoice_pre_text",
    "invoice_post_text",
    "credit_note_pre_text",
    "credit_note_post_text",
    "cancellation_pre_text",
    "cancellation_post_text",
)
TEXT_MAX = 2_000
PAYMENT_TERMS_MAX = 1_000
DISPLAY_NAME_MAX = 200
LANGUAGES = ("de", "en")
#: A logo is a PNG of at most 256 KiB (decoded) and 4096 pixels a side.
LOGO_MAX_BYTES = 256 * 1024
LOGO_MAX_SIDE = 4096
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Control characters other than line feed and tab (a carriage return is
# folded into the line feed first).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SPACE = re.compile(r"\s+")


class DocumentLayout(msgspec.Struct, frozen=True, kw_only=True):
    """An entity's document layout; ``updated_at`` None: never saved (the
    defaults: no texts, the standard payment terms, no logo, the entity's
    name, the language by its country)."""

    entity_id: int
    invoice_pre_text: str = ""
    invoice_post_text: str = ""
    credit_note_pre_text: str = ""
    credit_note_post_text: str = ""
    cancellation_pre_text: str = ""
    cancellation_post_text: str = ""
    payment_terms: str = ""
    # The PNG as base64 text.
    logo_png_base64: str | None = None
    display_name: str = ""
    # de, en, or "" (by the entity's country).
    language: str = ""
    updated_at: datetime | None = None


class DocumentLayoutUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The fields to change; left out: kept. An empty text clears it; a
    ``logo_png_base64`` of null or "" removes the logo."""

    invoice_pre_text: str | UnsetType = UNSET
    invoice_post_text: str | UnsetType = UNSET
    credit_note_pre_text: str | UnsetType = UNSET
    credit_note_post_text: str | UnsetType = UNSET
    cancellation_pre_text: str | UnsetType = UNSET
    cancellation_post_text: str | UnsetType = UNSET
    payment_terms: str | UnsetType = UNSET
    logo_png_base64: str | UnsetType | None = UNSET
    display_name: str | UnsetType = UNSET
    language: str | UnsetType = UNSET


class LayoutError(ValueError):
    """Layout fields that cannot be saved: ``errors`` holds (field, problem)
    for each; the message names them all."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{field}: {problem}" for field, problem in self.errors))


def _text(value: str) -> str:
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def _control_problem(value: str) -> str | None:
    found = _CONTROL.search(value)
    if found is None:
        return None
    return f"control character U+{ord(found.group()):04X} at position {found.start()}"


def _check_template(value: str) -> tuple[str, list[str]]:
    text = _text(value)
    if len(text) > TEXT_MAX:
        return text, [f"at most {TEXT_MAX} characters, got {len(text)}"]
    problem = _control_problem(text)
    if problem:
        return text, [problem]
    return text, validate_template(text)


def _check_payment_terms(value: str) -> tuple[str, list[str]]:
    text = _text(value)
    if len(text) > PAYMENT_TERMS_MAX:
        return text, [f"at most {PAYMENT_TERMS_MAX} characters, got {len(text)}"]
    problem = _control_problem(text)
    if problem:
        return text, [problem]
    if "{{" in text or "}}" in text:
        return text, ["plain text: fields ({{...}}) are not filled in payment terms"]
    return text, []


def _check_display_name(value: str) -> tuple[str, list[str]]:
    text = value.strip()
    if len(text) > DISPLAY_NAME_MAX:
        return text, [f"at most {DISPLAY_NAME_MAX} characters, got {len(text)}"]
    if any(c in text for c in "\r\n\t") or _control_problem(text):
        return text, ["one line of text without control characters"]
    return text, []


def _check_language(value: str) -> tuple[str, list[str]]:
    text = value.strip().lower()
    if text and text not in LANGUAGES:
        return text, [f"de, en or empty (by the entity's country), not {value!r}"]
    return text, []


def checked_logo(value: str) -> bytes:
    """The PNG a base64 logo decodes to; ValueError saying what is wrong:
    not base64, too large, not a PNG (by its signature and header), too
    many pixels, or an image the PDF renderer cannot read."""
    text = _SPACE.sub("", value)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64 text") from None
    if len(data) > LOGO_MAX_BYTES:
        raise ValueError(
            f"at most {LOGO_MAX_BYTES // 1024} KiB ({LOGO_MAX_BYTES} bytes) decoded,"
            f" got {len(data)} bytes"
        )
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG image (no PNG signature); give the logo as PNG")
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise ValueError("not a valid PNG image (no IHDR header)")
    width, height = struct.unpack(">II", data[16:24])
    if not (0 < width <= LOGO_MAX_SIDE and 0 < height <= LOGO_MAX_SIDE):
        raise ValueError(
            f"at most {LOGO_MAX_SIDE} x {LOGO_MAX_SIDE} pixels, got {width} x {height}"
        )
    _render_check(data)
    return data


def _render_check(data: bytes) -> None:
    """Places the image on a throwaway page the way the document renderer
    does, so a PNG it cannot read is refused now, not at every download."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    try:
        pdf.image(io.BytesIO(data), x=10, y=10, h=18, keep_aspect_ratio=True)
        pdf.output()
    except Exception as error:  # PIL and fpdf raise many kinds for bad images
        raise ValueError(f"not a PNG image the PDF can show ({type(error).__name__})") from None


def checked_changes(data: DocumentLayoutUpdate) -> dict[str, str]:
    """The fields ``data`` sets, validated and normalised to what is stored
    (texts trimmed with ``\\n`` line breaks, the logo as canonical base64, ""
    for no logo); :class:`LayoutError` names every bad field."""
    changes: dict[str, str] = {}
    errors: list[tuple[str, str]] = []
    for name in DocumentLayoutUpdate.__struct_fields__:
        value = getattr(data, name)
        if value is UNSET:
            continue
        if name == "logo_png_base64":
            if value is None or not value.strip():
                changes[name] = ""
                continue
            try:
                changes[name] = base64.b64encode(checked_logo(value)).decode("ascii")
            except ValueError as error:
                errors.append((name, str(error)))
            continue
        if name in TEXT_FIELDS:
            text, problems = _check_template(value)
        elif name == "payment_terms":
            text, problems = _check_payment_terms(value)
        elif name == "display_name":
            text, problems = _check_display_name(value)
        else:
            text, problems = _check_language(value)
        errors += [(name, problem) for problem in problems]
        changes[name] = text
    if errors:
        raise LayoutError(errors)
    return changes


def branding_keys(layout: Mapping[str, Any]) -> dict[str, str]:
    """The keys billing's drafting reads from ``EntityInfo.branding`` for a
    stored layout (a row or a :class:`DocumentLayout` as builtins): only the
    ones it sets, so an empty one leaves drafting's default."""
    keys = (*TEXT_FIELDS, "payment_terms", "logo_png_base64", "display_name", "language")
    return {key: str(layout[key]) for key in keys if layout.get(key)}
