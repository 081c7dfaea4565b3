"""Exported CSV cells cannot run as spreadsheet formulas, and imports undo
the guard."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm.csv_cells import cell, uncell

pytestmark = pytest.mark.backend_independent


@pytest.mark.parametrize("text", ['=HYPERLINK("x")', "+1+1", "-2+3", "@SUM(A1)", "\tx"])
def test_formula_cells_get_an_apostrophe_and_imports_drop_it(text: str) -> None:
    """A cell a spreadsheet would evaluate is written quoted and read back as it was."""
    written = cell(text)
    assert written == "'" + text
    assert uncell(written) == text


@pytest.mark.parametrize("value", ["-12.5", "04AABBCC", "Müller", "", "'plain"])
def test_other_cells_are_left_alone(value: str) -> None:
    """Numbers (negative ones too) and ordinary text are written as they are."""
    assert cell(value) == value
    assert uncell(value) == value


def test_values_of_other_types() -> None:
    """None is empty, booleans true/false, times ISO 8601."""
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert [cell(None), cell(True), cell(False), cell(moment)] == [
        "",
        "true",
        "false",
        "2026-01-02T03:04:05+00:00",
    ]
