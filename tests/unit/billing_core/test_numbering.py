"""Document numbers from number-range formats (billing.runs.numbering)."""

from __future__ import annotations

from datetime import date

import pytest

from billing.runs.numbering import (
    DEFAULT_FORMATS,
    MAX_FORMAT_LENGTH,
    NumberFormatError,
    check_format,
    render_number,
)

pytestmark = pytest.mark.backend_independent

ISSUED = date(2026, 3, 9)


@pytest.mark.parametrize(
    ("text", "sequence", "expected"),
    [
        ("{seq}", 42, "42"),
        ("RE-{seq:06d}", 42, "RE-000042"),
        ("RE-{yyyy}-{seq:06d}", 42, "RE-2026-000042"),
        ("{yy}{mm}/{seq:03d}", 7, "2603/007"),
        ("A-{seq:02d}", 1234, "A-1234"),
    ],
)
def test_known_fields_are_rendered(text: str, sequence: int, expected: str) -> None:
    """{seq} (optionally zero-padded), {yyyy}, {yy} and {mm} of the issue date
    render as documented; a number wider than its padding is not cut."""
    assert render_number(text, sequence, ISSUED) == expected


def test_default_formats_render_with_year_and_six_digits() -> None:
    """The default formats give RE-/GS-/ST-<year>-<six digits>."""
    assert render_number(DEFAULT_FORMATS["invoice"], 1, ISSUED) == "RE-2026-000001"
    assert render_number(DEFAULT_FORMATS["credit_note"], 2, ISSUED) == "GS-2026-000002"
    assert render_number(DEFAULT_FORMATS["cancellation"], 3, ISSUED) == "ST-2026-000003"


def test_text_outside_fields_is_kept_verbatim() -> None:
    """Characters that mean something to other formatters (%, $, !) are
    plain text: nothing but the fixed fields is substituted."""
    assert render_number("%d$x!r-{seq}", 5, ISSUED) == "%d$x!r-5"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("RE-{year}-{seq}", "unknown field(s) {year}"),
        ("RE-{seq:6d}", "unknown field(s) {seq:6d}"),
        ("RE-{seq.__class__}", "unknown field(s) {seq.__class__}"),
        ("{seq!r}", "unknown field(s) {seq!r}"),
        ("{seq[0]}", "unknown field(s) {seq[0]}"),
        ("{0}-{seq}", "unknown field(s) {0}"),
        ("RE-{}-{seq}", "unknown field(s) {}"),
        ("RE-{yyyy}", "needs exactly one {seq} field"),
        ("RE-{seq}-{seq:04d}", "needs exactly one {seq} field"),
        ("RE-{seq", "unbalanced braces"),
        ("RE-seq}", "unbalanced braces"),
        ("{{seq}}", "unbalanced braces"),
        ("", "1 to 64 characters"),
        ("X" * MAX_FORMAT_LENGTH + "{seq}", "1 to 64 characters"),
    ],
)
def test_bad_formats_are_refused_with_a_message(text: str, message: str) -> None:
    """A format with an unknown field, without or with two {seq}, with stray
    braces, empty or too long is refused, saying what is wrong."""
    with pytest.raises(NumberFormatError) as error:
        check_format(text)
    assert message in str(error.value)


def test_rendering_checks_the_format_first() -> None:
    """render_number refuses a bad format instead of rendering part of it."""
    with pytest.raises(NumberFormatError, match="unknown field"):
        render_number("{seq.__init__.__globals__}", 1, ISSUED)


def test_attribute_access_is_never_evaluated() -> None:
    """A format that would read attributes under str.format is refused before
    anything is looked up: the error names the field, not an attribute value."""
    with pytest.raises(NumberFormatError) as error:
        render_number("{seq.__class__.__name__}", 1, ISSUED)
    assert "int" not in str(error.value)
    assert "{seq.__class__.__name__}" in str(error.value)


def test_the_longest_allowed_format_is_accepted() -> None:
    """A format of exactly the maximum length is fine."""
    text = "{seq}" + "X" * (MAX_FORMAT_LENGTH - 5)
    check_format(text)
    assert render_number(text, 9, ISSUED).startswith("9X")
