"""Cells of the CSV files the product writes and reads.

A cell that begins with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage
return) is a formula to a spreadsheet program: an exported note such as
``=HYPERLINK(...)`` would run when an operator opens the file. Exports write
such cells with a leading apostrophe (the OWASP advice); imports drop it
again, so an export can be imported unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """A value as an exported cell; a field hidden on its row (UNSET) is blank."""
    if value is None or value is msgspec.UNSET:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if text.startswith(_FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def uncell(text: str) -> str:
    """An imported cell as the value an export wrote it from."""
    if len(text) > 1 and text[0] == "'" and text[1:].startswith(_FORMULA_STARTS):
        return text[1:]
    return text


def _is_number(text: str) -> bool:
    # Negative numbers (coordinates, amounts) stay numbers.
    try:
        float(text)
    except ValueError:
        return False
    return True
