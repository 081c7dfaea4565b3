"""The slow path: the official schemas, for what the fast msgspec decoders
reject.

Only payloads that msgspec refuses come here. They are parsed into generic
JSON, repaired as the station's leniency allows, and judged by jsonschema on
the official schema (the validator class its ``$schema`` names, date-time
checked as jsonschema does with rfc3339-validator). A violation is reported
with the keyword that failed; a payload the official schema accepts is
brought to the shape the Structs expect (integral floats where 2.0.1 wants an
integer, say) and converted with ``msgspec.convert``.
"""

from __future__ import annotations

import importlib.resources
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import jsonschema.validators
import msgspec
from jsonschema import Draft4Validator, FormatChecker, ValidationError
from jsonschema.validators import validator_for

from csms.protocol.payloads._kinds import Leniency, Violation
from csms.protocol.payloads._types import is_multiple_of

FORMAT_CHECKER = FormatChecker(formats=("date-time",))
if "date-time" not in FORMAT_CHECKER.checkers:  # pragma: no cover - packaging error
    raise ImportError("jsonschema checks date-time only with rfc3339-validator installed")


class JsonFloat(float):
    """A JSON number written with a fraction or exponent, with its text kept
    (so an integral ``1e20`` becomes exactly ``10**20``, and a number a
    lenient station sent for a string keeps its digits)."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> JsonFloat:
        number = super().__new__(cls, text)
        number.text = text
        return number


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def json_path(parts: Iterable[str | int]) -> str:
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += f".{part}"
        else:
            out += "[" + json.dumps(part) + "]"
    return out


def short(value: object, limit: int = 40) -> str:
    """A value as it reads in JSON, cut to ``limit`` characters."""
    if isinstance(value, JsonFloat):
        text = value.text
    elif isinstance(value, Decimal):
        text = str(value)
    elif isinstance(value, str | int | float | bool) or value is None:
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = json_type(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- violations --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One violation of the official schema."""

    kind: Violation
    path: str
    keyword: str
    message: str
    extra: tuple[tuple[str, object], ...] = ()

    @property
    def description(self) -> str:
        return f"{self.path}: {self.message}"

    @property
    def details(self) -> dict[str, object]:
        return {"path": self.path, "keyword": self.keyword, **dict(self.extra)}


_KIND = {
    "additionalProperties": Violation.FORMAT,
    "type": Violation.TYPE,
    "required": Violation.OCCURRENCE,
    "minItems": Violation.OCCURRENCE,
    "maxItems": Violation.OCCURRENCE,
}  # every other keyword: PROPERTY
# Which of several errors at the same depth to report first.
_RANK = {Violation.FORMAT: 0, Violation.OCCURRENCE: 1, Violation.TYPE: 2, Violation.PROPERTY: 3}


def finding(error: ValidationError) -> Finding:
    keyword = str(error.validator)
    where = list(error.absolute_path)
    value = error.validator_value
    instance = error.instance
    if keyword == "type" and not where:
        return Finding(
            Violation.FORMAT,
            "$",
            keyword,
            f"the payload must be a JSON object, not {json_type(instance)}",
        )
    if keyword == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        unknown = sorted(key for key in instance if key not in known)
        return Finding(
            Violation.FORMAT,
            json_path([*where, unknown[0]]),
            keyword,
            "property not allowed" if len(unknown) == 1 else f"properties not allowed: {unknown}",
            (("properties", unknown),),
        )
    if keyword == "required":
        missing = [name for name in value if name not in instance]
        return Finding(
            Violation.OCCURRENCE,
            json_path([*where, missing[0]]),
            keyword,
            "required property missing",
        )
    path = json_path(where)
    kind = _KIND.get(keyword, Violation.PROPERTY)
    message = {
        "type": lambda: f"expected {_a(value)}, got {json_type(instance)}",
        "minItems": lambda: (
            f"expected at least {value} item{'s' * (value != 1)}, got {len(instance)}"
        ),
        "maxItems": lambda: f"expected at most {value} items, got {len(instance)}",
        "maxLength": lambda: f"expected at most {value} characters, got {len(instance)}",
        "minLength": lambda: f"expected at least {value} characters, got {len(instance)}",
        "enum": lambda: f"{short(instance)} is not one of the allowed values",
        "minimum": lambda: f"expected a value >= {_num(value)}, got {short(instance)}",
        "maximum": lambda: f"expected a value <= {_num(value)}, got {short(instance)}",
        "format": lambda: f"expected an RFC 3339 {value} with an offset, got {short(instance)}",
        "multipleOf": lambda: f"expected a multiple of {_num(value)}, got {short(instance)}",
        "pattern": lambda: f"expected a string matching {value!r}",
    }.get(keyword, lambda: error.message)()
    extra: tuple[tuple[str, object], ...] = ()
    if keyword == "enum" and len(value) <= 25:
        extra = (("allowed", list(value)),)
    return Finding(kind, path, keyword, message, extra)


def _a(kind: object) -> str:
    kinds = kind if isinstance(kind, list) else [kind]
    return " or ".join(("an " if str(k)[0] in "aeiou" else "a ") + str(k) for k in kinds)


def _num(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def out_of_range(path: list[str | int], value: object) -> Finding:
    return Finding(
        Violation.PROPERTY,
        json_path(path),
        "range",
        f"number {short(value)} is outside the range this system represents",
    )


# -- leniency ----------------------------------------------------------------


_NAIVE = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(?:\.\d+)?\Z", re.ASCII)
_INTEGER = re.compile(r"-?(?:0|[1-9]\d*)\Z", re.ASCII)
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?\Z", re.ASCII)


# -- one official schema -----------------------------------------------------


def _exact_multiples(cls: Any) -> Any:
    """The validator class with an exact ``multipleOf`` for Decimal numbers.

    jsonschema computes ``instance % step``, which for Decimals beyond the
    decimal context's precision (``1e300 % 0.1``) raises instead of deciding.
    """

    def multiple_of(validator: Any, step: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if not validator.is_type(instance, "number"):
            return
        value = Decimal(instance.text) if isinstance(instance, JsonFloat) else instance
        if isinstance(value, float):
            value = Decimal(repr(value))
        if not is_multiple_of(value, Decimal(str(step))):
            yield ValidationError(f"{instance!r} is not a multiple of {step}")

    return jsonschema.validators.extend(cls, {"multipleOf": multiple_of})


class OfficialSchema:
    """One official schema: its validator, and walks of an instance along it."""

    def __init__(self, schema_dir: str, file_name: str) -> None:
        resource = importlib.resources.files("ocpp").joinpath(schema_dir, file_name)
        text = resource.read_text(encoding="utf-8-sig")
        self.name = file_name
        # As the ocpp library does for these schemas: numbers as Decimal, so
        # multipleOf is decided on the decimal value, not on a float.
        self.decimal = '"multipleOf"' in text
        self.parse_float: Callable[[str], Any] = Decimal if self.decimal else JsonFloat
        self.schema: dict[str, Any] = json.loads(text, parse_float=self.parse_float)
        cls = validator_for(self.schema, default=Draft4Validator)
        cls.check_schema(self.schema)
        if self.decimal:
            cls = _exact_multiples(cls)
        self.validator = cls(self.schema, format_checker=FORMAT_CHECKER)
        self._generic = msgspec.json.Decoder(float_hook=self.parse_float)

    def load(self, payload: bytes | str) -> Any:
        """Generic JSON as ``json.loads`` reads it (last of duplicate keys,
        exact big integers), but with msgspec's strict JSON syntax and UTF-8.
        Raises msgspec.DecodeError."""
        return self._generic.decode(payload)

    def findings(self, instance: Any) -> list[Finding]:
        """The violations, the one to report first."""
        ranked: list[tuple[int, int, int, Finding]] = []
        for error in self.validator.iter_errors(instance):
            found = finding(error)
            ranked.append((len(error.absolute_path), _RANK[found.kind], len(ranked), found))
        return [found for *_, found in sorted(ranked, key=lambda item: item[:3])]

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            ref = node["$ref"]
            node = self.schema["definitions"][ref.removeprefix("#/definitions/")]
        return node

    # repairs ---------------------------------------------------------------

    def repair(self, instance: Any, quirks: Leniency, fixes: list[str]) -> Any:
        return self._repair(instance, self.schema, [], quirks, fixes)

    def _repair(
        self, value: Any, node: dict[str, Any], path: list[str | int], q: Leniency, fixes: list[str]
    ) -> Any:
        node = self.resolve(node)
        kind = node.get("type")
        if kind == "object" and isinstance(value, dict):
            properties = node.get("properties", {})
            required = node.get("required", ())
            closed = node.get("additionalProperties", True) is False
            out = {}
            for key, item in value.items():
                if key in properties:
                    if item is None and Leniency.NULLS_AS_ABSENT in q and key not in required:
                        fixes.append(f"{json_path([*path, key])}: null read as absent")
                        continue
                    out[key] = self._repair(item, properties[key], [*path, key], q, fixes)
                elif closed and Leniency.UNKNOWN_PROPERTIES in q:
                    fixes.append(f"{json_path([*path, key])}: unknown property ignored")
                else:
                    out[key] = item
            return out
        if kind == "array" and isinstance(value, list):
            items = node.get("items", {})
            return [self._repair(item, items, [*path, i], q, fixes) for i, item in enumerate(value)]
        where = json_path(path)
        if kind == "string":
            if (
                Leniency.NUMBERS_AS_STRINGS in q
                and isinstance(value, int | float | Decimal)
                and not isinstance(value, bool)
            ):
                text = value.text if isinstance(value, JsonFloat) else str(value)
                fixes.append(f"{where}: number {text} read as string")
                return text
            if (
                Leniency.NAIVE_TIMESTAMPS_AS_UTC in q
                and node.get("format") == "date-time"
                and isinstance(value, str)
                and _NAIVE.match(value)
            ):
                fixes.append(f"{where}: date-time {value} without offset read as UTC")
                return value + "Z"
        elif kind in ("integer", "number") and isinstance(value, str):
            if Leniency.STRINGS_AS_NUMBERS in q:
                if _INTEGER.match(value):
                    fixes.append(f"{where}: string {json.dumps(value)} read as {kind}")
                    return int(value)
                if kind == "number" and _NUMBER.match(value):
                    fixes.append(f"{where}: string {json.dumps(value)} read as number")
                    return self.parse_float(value)
        elif (
            kind == "boolean"
            and isinstance(value, str)
            and Leniency.STRINGS_AS_BOOLEANS in q
            and value.lower() in ("true", "false")
        ):
            fixes.append(f"{where}: string {json.dumps(value)} read as boolean")
            return value.lower() == "true"
        return value

    # normalizing what the schema accepted ------------------------------------

    def normalize(self, instance: Any) -> Any:
        """Brings a valid instance to the shape msgspec.convert expects.
        Raises ValueError carrying a Finding for numbers no float can hold."""
        return self._normalize(instance, self.schema, [])

    def _normalize(self, value: Any, node: dict[str, Any], path: list[str | int]) -> Any:
        node = self.resolve(node)
        kind = node.get("type")
        if kind == "object" and isinstance(value, dict):
            properties = node.get("properties", {})
            return {
                # other keys only where the object is open; msgspec drops them
                key: self._normalize(item, properties[key], [*path, key])
                if key in properties
                else item
                for key, item in value.items()
            }
        if kind == "array" and isinstance(value, list):
            items = node.get("items", {})
            return [self._normalize(item, items, [*path, i]) for i, item in enumerate(value)]
        if kind == "integer" and isinstance(value, JsonFloat):
            # valid, so draft-06 and integral: the exact integer it writes
            return int(Decimal(value.text))
        if kind == "number" and not isinstance(value, bool):
            if isinstance(value, Decimal) and "multipleOf" in node:
                return value  # the Tenths hook wants the decimal
            if isinstance(value, int | float | Decimal):
                try:
                    number = float(value)
                except OverflowError:
                    number = math.inf
                if math.isinf(number) or math.isnan(number):
                    raise OutOfRange(out_of_range(path, value))
                return value if type(value) is int else number
        if kind is None:
            return plain(value, path)
        return value


class OutOfRange(ValueError):
    """A valid number no float can hold."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.description)
        self.finding = finding


def plain(value: Any, path: list[str | int]) -> Any:
    """Free-form JSON (2.0.1 ``DataTransfer.data``) with JsonFloat and Decimal
    turned into float. Raises OutOfRange for numbers no float can hold."""
    if isinstance(value, dict):
        return {key: plain(item, [*path, key]) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item, [*path, i]) for i, item in enumerate(value)]
    if isinstance(value, JsonFloat | Decimal):
        number = float(value)
        if math.isinf(number) or math.isnan(number):
            raise OutOfRange(out_of_range(path, value))
        return number
    return value


__all__ = ["FORMAT_CHECKER", "Finding", "JsonFloat", "OfficialSchema", "OutOfRange"]
