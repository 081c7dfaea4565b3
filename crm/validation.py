"""Checks of values that several kinds of record share: a country, a time
zone, an e-mail address, a point in time. Each returns the value as stored or raises
InvalidInput naming the field."""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from crm.errors import InvalidInput


def check_text(
    field: str, value: str, limit: int, *, required: bool = False, one_line: bool = False
) -> str:
    """Text trimmed, at most ``limit`` characters (the column's size, so the
    database never refuses it); ``one_line``: no line breaks, tabs or NULs."""
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{field} must not be empty")
    if len(value) > limit:
        raise InvalidInput(f"{field} has at most {limit} characters, got {len(value)}")
    if one_line and any(c in value for c in "\r\n\t\x00"):
        raise InvalidInput(f"{field} is one line of text")
    return value


def check_country(code: str, field: str = "country") -> str:
    """An ISO 3166-1 alpha-2 code, upper-cased; empty stays empty."""
    code = code.strip().upper()
    if code and not (len(code) == 2 and code.isascii() and code.isalpha()):
        raise InvalidInput(f"{field} is an ISO 3166-1 alpha-2 code like DE, not {code!r}")
    return code


def check_time_zone(name: str, field: str = "time_zone") -> str:
    """An IANA time zone name (tariffs and billing work in it)."""
    name = name.strip()
    if not name:
        raise InvalidInput(f"{field} must not be empty (UTC if in doubt)")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone {name!r}; give an IANA name like Europe/Berlin"
        ) from None
    return name


def check_email(value: str, field: str = "email") -> str:
    """An address like name@example.com (one @, a dotted domain, no
    spaces); empty stays empty."""
    value = value.strip()
    if not value:
        return value
    local, at, domain = value.rpartition("@")
    if (
        not at
        or not local
        or "@" in local
        or "." not in domain
        or domain.startswith(".")
        or domain.endswith(".")
        or any(c.isspace() for c in value)
        or len(value) > 254
    ):
        raise InvalidInput(f"{field} is an address like name@example.com, not {value!r}")
    return value


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with its zone (``Z`` or an offset); a time without
    one would be read in whatever zone a machine happens to be in."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        raise InvalidInput(
            f"give a time zone with the time {text!r}, e.g. 2030-01-01T00:00:00Z or +01:00"
        )
    return value
