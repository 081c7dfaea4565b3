"""Sorting a list page's rows by a column the user clicked.

The services hand rows out in their own order (newest first, by id); a
page whose user asks for another column sorts what it read (at most
``SORT_CAP`` rows, the cap the station list has too) and pages through
that. ``sort`` is the column's name, ``-name`` for descending, as
``Pager.sort_link`` writes it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

# Rows a page reads to sort by a column the service does not order by.
SORT_CAP = 20_000


def chosen_sort(requested: str | None, columns: Mapping[str, Any], default: str) -> str:
    """The requested sort if it names a column, else ``default``."""
    if requested and requested.removeprefix("-") in columns:
        return requested
    return default


def sorted_rows(rows: Sequence[T], sort: str, columns: Mapping[str, Callable[[T], Any]]) -> list[T]:
    """``rows`` by ``sort``'s column; rows without a value (None) last
    either way, ties in the service's order."""
    key = columns[sort.removeprefix("-")]
    descending = sort.startswith("-")
    present = [row for row in rows if key(row) is not None]
    missing = [row for row in rows if key(row) is None]
    return sorted(present, key=key, reverse=descending) + missing


def text_key(value: str | None) -> str | None:
    return None if value is None else value.casefold()
