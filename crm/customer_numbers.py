"""Customer numbers: an entity's format and the numbers rendered from it.

A format is text with exactly one integer directive where the running
number goes: ``%d``, or with a zero-padded or plain width such as ``%05d``
or ``%6d`` (``AA0-%d``, ``K-%05d``, ``%d``). ``%%`` stands for a literal
percent sign. Anything else after a ``%`` is refused, so a format never
raises at render time and never swallows the number.

Free of I/O: drawing the next number (the entity's counter, uniqueness in
the instance) is the contacts storage's job.
"""

from __future__ import annotations

import re

from crm.errors import InvalidInput

# The column widths of entity.customer_number_format and contact.customer_number.
MAX_FORMAT_LENGTH = 64
MAX_NUMBER_LENGTH = 64
# A format must leave room for numbers up to this many digits.
ROOM_FOR_DIGITS = 10

# One directive: %% (a literal %), or %d with an optional 0 flag and width.
_DIRECTIVE = re.compile(r"%(?:(?P<percent>%)|(?P<zero>0)?(?P<width>[1-9][0-9]*)?d)")


class CustomerNumberFormatError(InvalidInput):
    """A format that is not text with exactly one integer directive."""


def check_format(text: str) -> str:
    """``text`` when it is a usable format; CustomerNumberFormatError says
    what is wrong otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise CustomerNumberFormatError("a customer-number format cannot be empty; e.g. 'K-%05d'")
    if text != text.strip():
        raise CustomerNumberFormatError(
            f"a customer-number format has no leading or trailing spaces: {text!r}"
        )
    if len(text) > MAX_FORMAT_LENGTH:
        raise CustomerNumberFormatError(
            f"a customer-number format has at most {MAX_FORMAT_LENGTH} characters"
        )
    if any(not c.isprintable() for c in text):
        raise CustomerNumberFormatError(
            f"a customer-number format has printable characters only: {text!r}"
        )
    directives = 0
    position = 0
    while True:
        at = text.find("%", position)
        if at < 0:
            break
        match = _DIRECTIVE.match(text, at)
        if match is None:
            raise CustomerNumberFormatError(
                f"{text!r} has a '%' at position {at} that is not '%d', '%05d' "
                "(zero-padded width) or '%%' (a literal '%')"
            )
        if match.group("percent") is None:
            directives += 1
        position = match.end()
    if directives != 1:
        raise CustomerNumberFormatError(
            f"a customer-number format has exactly one '%d' (or e.g. '%05d') "
            f"where the number goes; {text!r} has {directives}"
        )
    if len(text % (10**ROOM_FOR_DIGITS - 1)) > MAX_NUMBER_LENGTH:
        raise CustomerNumberFormatError(
            f"{text!r} makes customer numbers longer than {MAX_NUMBER_LENGTH} characters"
        )
    return text


def render(text: str, number: int) -> str:
    """The customer number ``number`` in format ``text`` (checked first)."""
    if number < 0:
        raise InvalidInput(f"customer numbers count from 0, not {number}")
    rendered = check_format(text) % number
    if len(rendered) > MAX_NUMBER_LENGTH:
        raise InvalidInput(
            f"customer number {rendered[:20]}... is longer than {MAX_NUMBER_LENGTH} characters"
        )
    return rendered


def check_number(text: str) -> str:
    """A customer number given by hand: stripped, not empty, fits the column."""
    number = text.strip()
    if not number:
        raise InvalidInput("a customer number cannot be empty (leave it out to draw one)")
    if len(number) > MAX_NUMBER_LENGTH:
        raise InvalidInput(f"a customer number has at most {MAX_NUMBER_LENGTH} characters")
    if any(not c.isprintable() for c in number):
        raise InvalidInput(f"a customer number has printable characters only: {number!r}")
    return number
