"""Bulk imports from rows of a table (a CSV file an operator or a fleet
tool wrote): every line checked before anything is written, and every
problem reported with its line, so a file of thousands of rows either goes
in whole or names every line to fix. Stations, id tags and later media and
contacts are imported this way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from crm.csv_cells import uncell

T = TypeVar("T")

# Problems listed in one message: enough to fix a file in one go, not a
# wall of text when a file is wrong throughout.
MAX_REPORTED_PROBLEMS = 20


class ImportRejected(ValueError):
    """The rows cannot be imported; ``problems`` names each line to fix."""

    def __init__(self, problems: list[str]) -> None:
        shown = problems[:MAX_REPORTED_PROBLEMS]
        more = len(problems) - len(shown)
        super().__init__("; ".join(shown) + (f"; and {more} more" if more else ""))
        self.problems = problems


def check_columns(columns: Iterable[str] | None, known: frozenset[str], required: str) -> None:
    """Refuses a header that lacks ``required`` or names unknown columns (a
    typo would otherwise silently drop a column's values)."""
    names = [c.strip() for c in columns or ()]
    problems = []
    if required not in names:
        problems.append(f"line 1: the header needs a {required!r} column")
    unknown = sorted(set(names) - known)
    if unknown:
        problems.append(
            f"line 1: unknown column(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    if problems:
        raise ImportRejected(problems)


def row_values(row: Mapping[str, str | None]) -> dict[str, str]:
    """One CSV row's cells by column, trimmed, as the export wrote them."""
    return {name.strip(): uncell((value or "").strip()) for name, value in row.items() if name}


def records_from_rows(
    rows: Iterable[Mapping[str, str | None]],
    parse: Callable[[Mapping[str, str]], T],
    key: Callable[[T], str],
) -> list[T]:
    """The records the rows describe (line 1 is the header), each parsed by
    ``parse`` (which raises ValueError for a bad row), or ImportRejected
    naming every bad line and every repeated key."""
    records: list[T] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        values = row_values(row)
        try:
            record = parse(values)
        except ValueError as error:
            problems.append(f"line {line}: {error}")
            continue
        seen = first_line.setdefault(key(record), line)
        if seen != line:
            problems.append(f"line {line}: {key(record)!r} repeats line {seen}")
            continue
        records.append(record)
    if problems:
        raise ImportRejected(problems)
    return records
