"""The codec's public value types (re-exported by the package)."""

from __future__ import annotations

import enum
from typing import NamedTuple

import msgspec

__all__ = ["Decoded", "Leniency", "PayloadViolation", "Violation"]


class Violation(enum.Enum):
    """The version-neutral kind of a payload error."""

    FORMAT = "format"  # not a JSON object, not valid JSON, a property the schema does not have
    TYPE = "type"  # a field of the wrong JSON type
    OCCURRENCE = "occurrence"  # a required field missing; too few or too many items
    PROPERTY = "property"  # length, enum, range, date-time format, multipleOf, pattern

    def error_code(self, version: str) -> str:
        """The CALLERROR code of this kind in an OCPP-J version ("1.6", "2.0.1")."""
        return _ERROR_CODES["1.6" if version.startswith("1.") else "2"][self]


_ERROR_CODES = {
    "1.6": {
        Violation.FORMAT: "FormationViolation",
        Violation.TYPE: "TypeConstraintViolation",
        Violation.OCCURRENCE: "OccurenceConstraintViolation",  # sic, as OCPP-J 1.6 spells it
        Violation.PROPERTY: "PropertyConstraintViolation",
    },
    "2": {
        Violation.FORMAT: "FormatViolation",
        Violation.TYPE: "TypeConstraintViolation",
        Violation.OCCURRENCE: "OccurrenceConstraintViolation",
        Violation.PROPERTY: "PropertyConstraintViolation",
    },
}


class PayloadViolation(Exception):
    """A payload the official schema rejects (or one this system cannot hold)."""

    def __init__(
        self, kind: Violation, description: str, details: dict[str, object] | None = None
    ) -> None:
        super().__init__(description)
        self.kind = kind
        self.description = description
        self.details: dict[str, object] = details or {}

    def __repr__(self) -> str:
        return f"PayloadViolation({self.kind.name}, {self.description!r})"


class Leniency(enum.Flag):
    """Per-station tolerance for known firmware quirks. Each flag repairs
    only a value whose JSON type is wrong in its own specific way; every
    repair is reported in ``Decoded.fixes``."""

    NONE = 0
    #: a JSON number where the schema wants a string (1.6 ``"value": 12.5``):
    #: read as its JSON text
    NUMBERS_AS_STRINGS = enum.auto()
    #: a date-time without offset (``2024-05-01T12:00:00``): read as UTC
    NAIVE_TIMESTAMPS_AS_UTC = enum.auto()
    #: an integer or number sent as a string (``"connectorId": "1"``): read as
    #: the number (strict JSON number syntax only)
    STRINGS_AS_NUMBERS = enum.auto()
    #: ``"true"`` / ``"false"`` (any case) where the schema wants a boolean
    STRINGS_AS_BOOLEANS = enum.auto()
    #: ``null`` for an optional property: read as absent
    NULLS_AS_ABSENT = enum.auto()
    #: properties the schema does not define (``additionalProperties: false``):
    #: ignored
    UNKNOWN_PROPERTIES = enum.auto()


class Decoded(NamedTuple):
    """A decoded payload and what leniency changed to accept it."""

    message: msgspec.Struct
    fixes: tuple[str, ...]
