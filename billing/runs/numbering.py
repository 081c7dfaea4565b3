"""Document numbers from an entity's number-range format.

A format is text with fields in braces: ``{seq}`` (the sequence number, with
an optional zero-padded width as ``{seq:06d}``), ``{yyyy}``, ``{yy}`` and
``{mm}`` (of the issue date). ``RE-{yyyy}-{seq:06d}`` gives ``RE-2026-000042``.
Nothing else is evaluated: a field is looked up in this fixed table, so a
format can never run code or read data. The sequence never restarts (a
number range is gapless over its whole life, whatever the year shows).
"""

from __future__ import annotations

import re
from datetime import date

DEFAULT_FORMATS = {
    "invoice": "RE-{yyyy}-{seq:06d}",
    "credit_note": "GS-{yyyy}-{seq:06d}",
    "cancellation": "ST-{yyyy}-{seq:06d}",
}
DOCUMENT_KINDS = tuple(DEFAULT_FORMATS)

_FIELD = re.compile(r"\{([^{}]*)\}")
_SEQ = re.compile(r"seq(?::0(\d{1,2})d)?")
_DATE_FIELDS = ("yyyy", "yy", "mm")
MAX_FORMAT_LENGTH = 64


class NumberFormatError(ValueError):
    """A number-range format that cannot be used."""


def check_format(text: str) -> None:
    """Raises NumberFormatError naming what is wrong with ``text``."""
    if not text or len(text) > MAX_FORMAT_LENGTH:
        raise NumberFormatError(f"a number format has 1 to {MAX_FORMAT_LENGTH} characters")
    fields = _FIELD.findall(text)
    if _FIELD.sub("", text).count("{") or _FIELD.sub("", text).count("}"):
        raise NumberFormatError(f"unbalanced braces in number format {text!r}")
    sequences = [f for f in fields if _SEQ.fullmatch(f)]
    unknown = [f for f in fields if not _SEQ.fullmatch(f) and f not in _DATE_FIELDS]
    if unknown:
        raise NumberFormatError(
            f"unknown field(s) {', '.join('{' + f + '}' for f in unknown)} in number format"
            f" {text!r}; known: {{seq}}, {{seq:06d}}, {{yyyy}}, {{yy}}, {{mm}}"
        )
    if len(sequences) != 1:
        raise NumberFormatError(f"number format {text!r} needs exactly one {{seq}} field")


def render_number(text: str, sequence: int, issued_on: date) -> str:
    """The number ``sequence`` of the range with format ``text``."""
    check_format(text)

    def field(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "yyyy":
            return f"{issued_on.year:04d}"
        if name == "yy":
            return f"{issued_on.year % 100:02d}"
        if name == "mm":
            return f"{issued_on.month:02d}"
        width = _SEQ.fullmatch(name)
        assert width is not None
        return str(sequence).zfill(int(width.group(1) or 0))

    return _FIELD.sub(field, text)
