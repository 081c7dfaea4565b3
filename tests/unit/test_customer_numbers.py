"""Customer-number formats: exactly one integer directive, rendered as is."""

from __future__ import annotations

import pytest

from crm.customer_numbers import (
    MAX_NUMBER_LENGTH,
    CustomerNumberFormatError,
    check_format,
    check_number,
    render,
)
from crm.errors import InvalidInput

pytestmark = pytest.mark.backend_independent


@pytest.mark.parametrize(
    ("text", "number", "expected"),
    [
        ("AA0-%d", 1, "AA0-1"),
        ("K-%05d", 42, "K-00042"),
        ("K-%05d", 1234567, "K-1234567"),
        ("%d", 0, "0"),
        ("%d-X", 17, "17-X"),
        ("100%%-%d", 3, "100%-3"),
        ("%3d", 5, "  5"),
    ],
)
def test_a_format_renders_the_number_where_its_directive_is(
    text: str, number: int, expected: str
) -> None:
    """The number replaces the one directive; padding and %% work as in printf."""
    assert check_format(text) == text
    assert render(text, number) == expected


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("K-", "has 0"),
        ("%d-%d", "has 2"),
        ("%%d", "has 0"),
        ("%s", "not '%d'"),
        ("%x", "not '%d'"),
        ("%5.2f", "not '%d'"),
        ("%(n)d", "not '%d'"),
        ("K-%", "not '%d'"),
        ("%-5d", "not '%d'"),
        (" K-%d", "spaces"),
        ("K\n%d", "printable"),
        ("%070d", "longer than"),
        ("X" * 65 + "%d", "at most"),
    ],
)
def test_a_bad_format_is_refused_with_what_is_wrong(text: str, complaint: str) -> None:
    """Every format without exactly one integer directive, or with any other
    conversion, is refused before it is stored, with a message saying why."""
    with pytest.raises(CustomerNumberFormatError) as error:
        check_format(text)
    assert complaint in str(error.value)


def test_a_format_error_is_invalid_input() -> None:
    """The API answers a bad format with 400 like any other bad input."""
    assert issubclass(CustomerNumberFormatError, InvalidInput)


def test_render_refuses_a_negative_number() -> None:
    """Counters start at 0 and only grow; a negative number is a bug upstream."""
    with pytest.raises(InvalidInput):
        render("%d", -1)


def test_a_rendered_number_longer_than_the_column_is_refused() -> None:
    """A number that would not fit the column is refused, not truncated."""
    text = "X" * 50 + "%d"
    assert render(text, 10**9) == "X" * 50 + "1000000000"
    with pytest.raises(InvalidInput, match="longer than"):
        render(text, 10**14)


def test_a_number_given_by_hand_is_stripped_and_checked() -> None:
    """Spaces around a hand-given number go; empty, overlong and control
    characters are refused."""
    assert check_number("  K-7 ") == "K-7"
    for bad in ("", "   ", "K" * (MAX_NUMBER_LENGTH + 1), "K-\x007"):
        with pytest.raises(InvalidInput):
            check_number(bad)
