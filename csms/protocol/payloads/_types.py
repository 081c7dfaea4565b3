"""The two value types msgspec cannot check exactly on its own.

The generated payload modules use them as field types:

``DateTime``
    a JSON string with ``format: date-time``. msgspec's own datetime parser
    is both stricter (it rejects ``...Z\\n``, which the official check
    accepts) and laxer (it accepts a space for ``T`` and offsets without a
    colon) than the check the schemas are validated with (jsonschema's
    ``date-time`` format: ``rfc3339_validator.validate_rfc3339(s.upper())``).
    So the string is matched against that very grammar here, then parsed to
    an aware :class:`datetime.datetime`.

``Tenths``
    a JSON number with ``multipleOf: 0.1`` (OCPP 1.6 charging limits). The
    check is made on the number's decimal text, as the ``ocpp`` library does
    by parsing these schemas with ``parse_float=Decimal``: ``21.4`` passes,
    ``4.11`` fails, and no float rounding decides. Decoded as ``float``.

To static type checkers both are plain aliases (``datetime`` and ``float``).
At run time they are marker classes that msgspec treats as custom types: it
hands the raw JSON value to :func:`dec_hook`, which validates and converts
it. Their ``isinstance`` check admits only what the hook returns, so
``msgspec.convert`` on generic JSON always goes through the hook.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import msgspec.inspect as mi

__all__ = [
    "DateTime",
    "Tenths",
    "dec_hook",
    "is_multiple_of",
    "parse_date_time",
    "uses_decimal_numbers",
]

# jsonschema's ``date-time`` check is ``validate_rfc3339(instance.upper())``.
# Its regex is ASCII, anchored with ``^`` and ``$`` (so one trailing newline
# passes), upper-cases the instance first (so ``t`` and ``z`` pass), and the
# function then rejects year 0 and days past the end of the month. No other
# character upper-cases into one that the grammar accepts (checked over all
# of Unicode), so ``[Tt]`` and ``[Zz]`` are the exact equivalent.
_RFC3339 = re.compile(
    r"(\d{4})-(0[1-9]|1[0-2])-(\d{2})[Tt]([01]\d|2[0-3]):([0-5]\d):([0-5]\d)(?:\.(\d+))?"
    r"(?:[Zz]|([+-])([01]\d|2[0-3]):([0-5]\d))\n?\Z",
    re.ASCII,
)
# the same without groups, which matches faster
_match_rfc3339 = re.compile(re.sub(r"\((?!\?)", "(?:", _RFC3339.pattern), re.ASCII).match
_fromisoformat = datetime.fromisoformat


def parse_date_time(value: str) -> datetime:
    """An RFC 3339 date-time, accepted exactly as the official schema check
    accepts it, as an aware datetime (fractions beyond microseconds are cut).

    Raises ValueError for anything else."""
    if _match_rfc3339(value) is None:
        raise ValueError("expected an RFC 3339 date-time with an offset")
    try:
        return _fromisoformat(value)
    except ValueError:
        pass
    # Forms fromisoformat does not read (lower-case t/z, a trailing newline)
    # and invalid dates (which fail here too): build it from the parts.
    found = _RFC3339.match(value)
    assert found is not None
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = found.groups()
    if sign is None:
        tz = UTC
    else:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        tz = timezone(-offset if sign == "-" else offset)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz
        )
    except ValueError:
        raise ValueError("expected an RFC 3339 date-time with an offset") from None


def is_multiple_of(value: int | Decimal, step: Decimal) -> bool:
    """Exact ``multipleOf`` on a JSON number's decimal value."""
    _, digits, exponent = Decimal(value).as_tuple()
    if not isinstance(exponent, int):
        return False  # NaN, Infinity
    _, step_digits, step_exponent = step.as_tuple()
    if step_digits == (1,) and isinstance(step_exponent, int):
        # step is a power of ten: no non-zero digit may lie below it. Exact,
        # and cheap for any exponent (no big integers are built).
        below = step_exponent - exponent
        return below <= 0 or not any(digits[-below:])
    return (Fraction(value) / Fraction(step)).denominator == 1


_TENTH = Decimal("0.1")


if TYPE_CHECKING:
    DateTime = datetime
    Tenths = float
else:

    class _Marker(type):
        """``isinstance`` admits only the hook's own results, so msgspec
        never lets a raw JSON value through unchecked."""

        def __instancecheck__(cls, instance: object) -> bool:
            return instance.__class__ is cls.__result__

    class DateTime(metaclass=_Marker):
        """format: date-time (see the module docstring); a datetime at run time."""

        __result__ = datetime

    class Tenths(metaclass=_Marker):
        """number with multipleOf 0.1 (see the module docstring); a float at run time."""

        __result__ = float


def dec_hook(kind: type, value: Any) -> Any:
    """msgspec's hook for the custom types above."""
    if kind is DateTime:
        if value.__class__ is not str:
            raise TypeError("expected a date-time string")
        return parse_date_time(value)
    if kind is Tenths:
        cls = value.__class__
        if cls is Decimal or cls is int:
            try:
                number = float(value)
            except OverflowError:  # a huge int (msgspec passes only ValueError on)
                number = float("inf")
            if number in (float("inf"), float("-inf")):
                raise ValueError("number out of range")
            if not is_multiple_of(value, _TENTH):
                raise ValueError("expected a multiple of 0.1")
            return number
        if cls is float:
            # Only without ``float_hook=Decimal``: judge the shortest decimal
            # text that reads back as this float.
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError("number out of range")
            if not is_multiple_of(Decimal(repr(value)), _TENTH):
                raise ValueError("expected a multiple of 0.1")
            return value
        raise TypeError("expected a number")
    raise NotImplementedError(f"no decoding for {kind!r}")


def uses_decimal_numbers(kind: Any) -> bool:
    """Whether decoding ``kind`` needs JSON floats as Decimal (it has Tenths)."""
    seen: set[Any] = set()

    def visit(info: mi.Type) -> bool:
        if isinstance(info, mi.CustomType):
            return info.cls is Tenths
        if isinstance(info, mi.StructType):
            if info.cls in seen:
                return False
            seen.add(info.cls)
            return any(visit(f.type) for f in info.fields)
        if isinstance(info, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
            return visit(info.item_type)
        if isinstance(info, mi.UnionType):
            return any(visit(t) for t in info.types)
        if isinstance(info, mi.DictType):
            return visit(info.value_type)
        return False

    return visit(mi.type_info(kind))
