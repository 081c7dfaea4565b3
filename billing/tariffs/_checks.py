"""Field checks that collect every problem with its JSON path instead of
stopping at the first; shared by the tariff and the CDR parsers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, TypeVar

E = TypeVar("E", bound=Enum)
T = TypeVar("T")

_MISSING = object()
_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_DATE = re.compile(r"^[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")


def _refuse_constant(name: str) -> Decimal:
    raise ValueError(f"{name} is not a JSON number")


def load_json(data: bytes | str) -> Any:
    """JSON text with every number as an exact Decimal (NaN/Infinity refused)."""
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    return json.loads(data, parse_float=Decimal, parse_int=Decimal, parse_constant=_refuse_constant)


class Checker:
    """Reads fields out of parsed JSON, noting every bad one under its path."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def bad(self, path: str, message: str) -> None:
        self.errors.append((path, message))

    @staticmethod
    def join(path: str, key: str | int) -> str:
        if isinstance(key, int):
            return f"{path}[{key}]"
        return f"{path}.{key}" if path else key

    def obj(self, value: Any, path: str) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.bad(path or "(document)", "must be an object")
        return None

    def field(
        self,
        obj: dict[str, Any],
        key: str,
        path: str,
        read: Callable[[Any, str], T | None],
        *,
        required: bool = False,
    ) -> T | None:
        """``obj[key]`` read with ``read``; missing (or null) is an error only
        when ``required``."""
        where = self.join(path, key)
        value = obj.get(key, _MISSING)
        if value is _MISSING or value is None:
            if required:
                self.bad(where, "is required")
            return None
        return read(value, where)

    def items(
        self, value: Any, path: str, *, non_empty: bool = False
    ) -> Iterator[tuple[int, Any, str]]:
        if not isinstance(value, list):
            self.bad(path, "must be a list")
            return
        if non_empty and not value:
            self.bad(path, "must not be empty")
        for index, item in enumerate(value):
            yield index, item, self.join(path, index)

    # Scalars -----------------------------------------------------------------

    def number(self, value: Any, path: str, *, non_negative: bool = True) -> Decimal | None:
        if isinstance(value, bool) or not isinstance(value, Decimal | int | float):
            self.bad(path, "must be a non-negative number" if non_negative else "must be a number")
            return None
        try:
            # A float only arrives from a caller's own dict; its shortest repr is
            # the number it was written as.
            number = value if isinstance(value, Decimal) else Decimal(str(value))
        except InvalidOperation:  # pragma: no cover - str(float) always parses
            self.bad(path, "must be a number")
            return None
        if not number.is_finite() or (non_negative and number < 0):
            self.bad(path, "must be a non-negative number" if non_negative else "must be a number")
            return None
        return number

    def non_negative_int(self, value: Any, path: str) -> int | None:
        number = self.number(value, path)
        if number is None:
            return None
        if number != number.to_integral_value():
            self.bad(path, "must be a non-negative integer")
            return None
        return int(number)

    def string(
        self, value: Any, path: str, *, max_length: int | None = None, pattern: str | None = None
    ) -> str | None:
        if not isinstance(value, str):
            self.bad(path, "must be a string")
            return None
        if max_length is not None and len(value) > max_length:
            self.bad(path, f"must be at most {max_length} characters")
            return None
        if pattern is not None and not re.fullmatch(pattern, value):
            self.bad(path, f"must match {pattern}")
            return None
        return value

    def boolean(self, value: Any, path: str) -> bool | None:
        if not isinstance(value, bool):
            self.bad(path, "must be true or false")
            return None
        return value

    def enum(self, value: Any, path: str, kind: type[E]) -> E | None:
        try:
            return kind(value)
        except (ValueError, TypeError):
            names = ", ".join(str(member.value) for member in kind)
            self.bad(path, f"must be one of {names}")
            return None

    def datetime(self, value: Any, path: str) -> datetime | None:
        """An RFC 3339 timestamp; OCPI says one without a zone is UTC."""
        if not isinstance(value, str):
            self.bad(path, "must be an RFC 3339 date-time string")
            return None
        try:
            parsed = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            self.bad(path, "must be an RFC 3339 date-time, e.g. 2022-01-13T14:30:00Z")
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed

    def time_of_day(self, value: Any, path: str) -> time | None:
        if not isinstance(value, str) or not _TIME.match(value):
            self.bad(path, "must be a time of day HH:MM (00:00 to 23:59)")
            return None
        return time(int(value[:2]), int(value[3:]))

    def date(self, value: Any, path: str) -> date | None:
        if not isinstance(value, str) or not _DATE.match(value):
            self.bad(path, "must be a date YYYY-MM-DD")
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.bad(path, "must be a real calendar date")
            return None


def format_errors(errors: list[tuple[str, str]]) -> str:
    return "; ".join(f"{path}: {message}" for path, message in errors)
