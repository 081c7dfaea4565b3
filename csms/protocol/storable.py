"""Values a payload may carry by its schema but storage cannot hold.

The official schemas say "integer", "string" and "date-time" without the
limits of the columns those values end up in, so a payload can be valid and
still be refused by the database (and then answered InternalError, which a
charger retries forever). This module is the protocol layer's second check,
after the schema: a decoded message passes only if every value in it can be
stored, and otherwise the charger gets a PropertyConstraintViolation naming
the value.

- integers: 32 bits (OCPP 2.0.1 part 2 defines ``integer`` as a 32-bit
  signed value; the columns of ids, connectors, EVSEs, seqNos and request
  ids are 32-bit); the energy registers of 1.6 (``meterStart``,
  ``meterStop``) are 64-bit columns and take 64 bits. Integers inside
  free-form values (2.0.1 ``anyType``, ``customData``) are kept as JSON text
  and are only limited to 64 bits.
- strings: no NUL (U+0000), which PostgreSQL text cannot hold, and no lone
  surrogate, which cannot be encoded as UTF-8.
- date-times: within the years 1 to 9999 once converted to UTC (a
  ``timestamptz`` column and Python's datetime hold nothing else).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from csms.protocol.payloads import PayloadViolation, Violation

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)

# Fields (wire names) whose integers go into 64-bit columns.
_WIDE_FIELDS = frozenset({"meterStart", "meterStop"})
_MAX_DEPTH = 64

# Per Struct type: its fields as (attribute, wire name).
_fields: dict[type, tuple[tuple[str, str], ...]] = {}
_encode = msgspec.json.Encoder().encode
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")


def check_storable(message: msgspec.Struct) -> None:
    """Raises PayloadViolation (PROPERTY) for the first value in ``message``
    that storage cannot hold."""
    if _plainly_fine(message):
        return
    # Walk the message, naming the value (slower; most calls never get here).
    _struct(message, "$", 0)


def _plainly_fine(message: msgspec.Struct) -> bool:
    """A quick screen on the message's JSON (a few microseconds where the
    walk takes tens): True only if nothing in it can be unstorable. No
    ``\\u0000`` (NUL), no run of 10 digits (every integer beyond 32 bits has
    one), no date-time in the years 1 or 9999 (the only ones an offset can
    push out of range), no more than _MAX_DEPTH brackets (so no deeper
    nesting), and it encodes (a lone surrogate does not). False sends the
    message to the exact walk, which may still accept it."""
    try:
        data = _encode(message)
    except (UnicodeEncodeError, ValueError, TypeError):
        return False
    return not (
        b"\\u0000" in data
        or b"0000000000" in data.translate(_DIGITS_AS_ZERO)
        or b'"0001-' in data
        or b'"9999-' in data
        or data.count(b"{") + data.count(b"[") > _MAX_DEPTH
    )


def _struct(value: msgspec.Struct, path: str, depth: int) -> None:
    plan = _fields.get(type(value))
    if plan is None:
        plan = _fields[type(value)] = _plan(type(value))
    for name, wire in plan:
        field = getattr(value, name)
        if field is msgspec.UNSET or field is None:
            continue
        _value(field, f"{path}.{wire}", wire in _WIDE_FIELDS, False, depth + 1)


def _plan(cls: type) -> tuple[tuple[str, str], ...]:
    encode_fields = getattr(cls, "__struct_encode_fields__", None) or cls.__struct_fields__  # type: ignore[attr-defined]
    return tuple(zip(cls.__struct_fields__, encode_fields, strict=True))  # type: ignore[attr-defined]


def _value(value: Any, path: str, wide: bool, free: bool, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise _refuse(path, "nested too deeply to store", "depth")
    cls = value.__class__
    if cls is str:
        _text(value, path)
    elif cls is bool or cls is float:
        return
    elif cls is int:
        low, high = INT64 if wide or free else INT32
        if not low <= value <= high:
            bits = 64 if wide or free else 32
            raise _refuse(path, f"{value} does not fit in a signed {bits}-bit integer", "range")
    elif cls is datetime:
        _moment(value, path)
    elif isinstance(value, msgspec.Struct):
        _struct(value, path, depth)
    elif cls is list or cls is tuple:
        for index, item in enumerate(value):
            _value(item, f"{path}[{index}]", wide, free, depth + 1)
    elif cls is dict:
        for key, item in value.items():
            if isinstance(key, str):
                _text(key, f"{path}.{key!r}")
            _value(item, f"{path}.{key}", wide, True, depth + 1)
    elif isinstance(value, int):  # an enum member or int subclass
        _value(int(value), path, wide, free, depth)
    elif isinstance(value, str):
        _text(str(value), path)


def _text(value: str, path: str) -> None:
    if "\x00" in value:
        raise _refuse(path, "a string with NUL (U+0000) cannot be stored", "nul")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise _refuse(path, "a string with a lone surrogate cannot be stored", "utf-8") from None


def _moment(value: datetime, path: str) -> None:
    if value.utcoffset() is None:
        return
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise _refuse(
            path, "the date-time is outside the years 1 to 9999 in UTC", "datetime-range"
        ) from None


def _refuse(path: str, message: str, cause: str) -> PayloadViolation:
    return PayloadViolation(
        Violation.PROPERTY,
        f"{path}: {message}",
        {"path": path, "keyword": "storable", "cause": cause},
    )
