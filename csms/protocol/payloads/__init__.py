"""The OCPP payload codec: fast, and exact to the official JSON schemas.

The payload of a CALL (request) or CALLRESULT (response) is decoded straight
from its JSON bytes by one precompiled ``msgspec.json.Decoder`` per action
and direction, into the generated Structs of :mod:`.v16` and :mod:`.v201`.
Those types check everything the official schemas check, so a payload that
decodes is valid, with no jsonschema and no thread pool on that path.

Only a payload msgspec rejects takes the slow path (``_official.py``): it is
repaired as the station's :class:`Leniency` allows, then judged by jsonschema
on the official schema to name the violated keyword (:class:`Violation`).
The rare payload the official schema accepts although msgspec did not (1.0
for an integer in a draft-06 schema, a repeated key) is converted from
generic JSON there. ``docs/payload-validation.md`` has the mapping of
keywords to CALLERROR codes and the few deliberate differences.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from types import ModuleType
from typing import TYPE_CHECKING, Any

import msgspec
import msgspec.inspect as mi

from csms.protocol.payloads._kinds import Decoded, Leniency, PayloadViolation, Violation
from csms.protocol.payloads._official import Finding, OfficialSchema, OutOfRange
from csms.protocol.payloads._types import DateTime, dec_hook, uses_decimal_numbers

if TYPE_CHECKING:  # at run time imported on first use (see _MODULES)
    from csms.protocol.payloads import v16, v201

__all__ = [
    "Decoded",
    "Leniency",
    "PayloadCodec",
    "PayloadViolation",
    "UnknownAction",
    "Violation",
    "struct_decoder",
    "v16",
    "v201",
]

log = logging.getLogger(__name__)

# The generated modules, imported when a codec is made (so that the generator
# runs even while they are stale or missing).
_MODULES = {"1.6": "csms.protocol.payloads.v16", "2.0.1": "csms.protocol.payloads.v201"}
_NO_FIXES: tuple[str, ...] = ()
_new_tuple = tuple.__new__  # Decoded(...) without NamedTuple's Python-level __new__


class UnknownAction(LookupError):
    """The OCPP version has no such action (in that direction)."""


def struct_decoder(kind: type[msgspec.Struct]) -> Callable[[bytes], Any]:
    """The fast decoder of a generated Struct (or a subclass of one): the
    hook for the custom types, and numbers read as ``Decimal`` where the
    Struct takes them untyped."""
    float_hook = Decimal if uses_decimal_numbers(kind) else None
    return msgspec.json.Decoder(kind, dec_hook=dec_hook, float_hook=float_hook).decode


class _Payload:
    """One action in one direction: its Struct, decoder and official schema."""

    __slots__ = ("_official", "decode", "file_name", "module", "type")

    def __init__(self, module: ModuleType, kind: type[msgspec.Struct], file_name: str) -> None:
        self.module = module
        self.type = kind
        self.file_name = file_name
        self.decode = struct_decoder(kind)
        self._official: OfficialSchema | None = None

    @property
    def official(self) -> OfficialSchema:
        if self._official is None:
            self._official = OfficialSchema(self.module.SCHEMA_DIR, self.file_name)
        return self._official


class PayloadCodec:
    """Decodes and encodes the payloads of one OCPP version ("1.6", "2.0.1")."""

    def __init__(self, version: str) -> None:
        if version not in _MODULES:
            raise ValueError(f"unsupported OCPP version {version!r}; known: {sorted(_MODULES)}")
        self.version = version
        self._module = module = importlib.import_module(_MODULES[version])
        self._request_types: dict[str, type[msgspec.Struct]] = module.REQUESTS
        self._response_types: dict[str, type[msgspec.Struct]] = module.RESPONSES
        self._requests: dict[str, _Payload] = {}
        self._responses: dict[str, _Payload] = {}
        self._encode = msgspec.json.Encoder().encode
        self._datetime_fields: dict[type, tuple[tuple[str, str, Any], ...]] = {}

    def __repr__(self) -> str:
        return f"PayloadCodec({self.version!r})"

    # -- what there is -------------------------------------------------------

    def knows(self, action: str) -> bool:
        """Whether the action exists in this version (in either direction)."""
        return action in self._request_types or action in self._response_types

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(self._request_types) | frozenset(self._response_types)

    def request_type(self, action: str) -> type[msgspec.Struct] | None:
        return self._request_types.get(action)

    def response_type(self, action: str) -> type[msgspec.Struct] | None:
        return self._response_types.get(action)

    # -- decoding ------------------------------------------------------------

    def decode_request(
        self, action: str, payload: bytes, leniency: Leniency = Leniency.NONE
    ) -> Decoded:
        """The payload of a CALL with this action. Raises PayloadViolation,
        or UnknownAction for an action this version does not have."""
        entry = self._requests.get(action) or self._entry(action, request=True)
        try:
            return _new_tuple(Decoded, (entry.decode(payload), _NO_FIXES))  # type: ignore[no-any-return]
        except msgspec.ValidationError:
            return self._slow(entry, payload, leniency)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as error:
            raise _not_json(error) from None

    def decode_response(
        self, action: str, payload: bytes, leniency: Leniency = Leniency.NONE
    ) -> Decoded:
        """The payload of a CALLRESULT answering a CALL with this action."""
        entry = self._responses.get(action) or self._entry(action, request=False)
        try:
            return _new_tuple(Decoded, (entry.decode(payload), _NO_FIXES))  # type: ignore[no-any-return]
        except msgspec.ValidationError:
            return self._slow(entry, payload, leniency)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as error:
            raise _not_json(error) from None

    def _entry(self, action: str, *, request: bool) -> _Payload:
        table = self._request_types if request else self._response_types
        kind = table.get(action)
        if kind is None:
            direction = "request" if request else "response"
            raise UnknownAction(f"OCPP {self.version} has no {direction} {action!r}")
        template = self._module.REQUEST_SCHEMA if request else self._module.RESPONSE_SCHEMA
        entry = _Payload(self._module, kind, template.format(action=action))
        (self._requests if request else self._responses)[action] = entry
        return entry

    def _slow(self, entry: _Payload, payload: bytes, leniency: Leniency) -> Decoded:
        try:
            return self._judge(entry, payload, leniency)
        except RecursionError as error:
            raise _not_json(error) from None

    def _judge(self, entry: _Payload, payload: bytes, leniency: Leniency) -> Decoded:
        official = entry.official
        try:
            instance = official.load(payload)
        except (msgspec.DecodeError, UnicodeDecodeError) as error:
            # msgspec stops at the first invalid value; the JSON after it may
            # be broken too, which is the more basic fault.
            raise _not_json(error) from None
        fixes: list[str] = []
        if leniency:
            instance = official.repair(instance, leniency, fixes)
        findings = official.findings(instance)
        if findings:
            raise _violation(findings[0])
        try:
            instance = official.normalize(instance)
        except OutOfRange as error:
            raise _violation(error.finding) from None
        try:
            message = msgspec.convert(instance, entry.type, dec_hook=dec_hook)
        except msgspec.ValidationError as error:
            # The official schema accepts it but the Structs do not: a gap
            # in the generated types. Refuse it (nothing could hold it).
            log.warning(
                "%s: the official schema accepts a payload msgspec rejects: %s",
                entry.file_name,
                error,
            )
            raise PayloadViolation(
                Violation.PROPERTY,
                f"$: {error}",
                {"path": "$", "keyword": "msgspec", "cause": str(error)},
            ) from None
        return Decoded(message, tuple(fixes))

    # -- encoding ------------------------------------------------------------

    def encode(self, message: msgspec.Struct) -> bytes:
        """JSON bytes with the schema's property names. Datetimes must be
        aware (UTC is written with ``Z``); a naive one raises ValueError."""
        self._check_datetimes(message, "$")
        return self._encode(message)

    def _check_datetimes(self, value: Any, path: str) -> None:
        plan = self._datetime_fields.get(type(value))
        if plan is None:
            plan = self._datetime_fields[type(value)] = _datetime_plan(type(value))
        for name, encode_name, kind in plan:
            field = getattr(value, name)
            if field is msgspec.UNSET:
                continue
            where = f"{path}.{encode_name}"
            _check_value(self, field, kind, where)


def _check_value(codec: PayloadCodec, value: Any, kind: Any, where: str) -> None:
    if kind == "datetime":
        if isinstance(value, datetime) and value.utcoffset() is None:
            raise ValueError(f"{where}: naive datetime {value.isoformat()}; give it a timezone")
    elif kind == "struct":
        codec._check_datetimes(value, where)
    elif isinstance(kind, tuple):  # ("list", item kind)
        for i, item in enumerate(value):
            _check_value(codec, item, kind[1], f"{where}[{i}]")


def _datetime_plan(cls: type) -> tuple[tuple[str, str, Any], ...]:
    """The fields of a Struct that are or hold datetimes (directly, in
    nested Structs or in lists)."""
    info = mi.type_info(cls)
    if not isinstance(info, mi.StructType):
        return ()
    plan = []
    for f in info.fields:
        kind = _holds_datetime(f.type)
        if kind is not None:
            plan.append((f.name, f.encode_name, kind))
    return tuple(plan)


def _holds_datetime(info: mi.Type, depth: int = 0) -> Any:
    if depth > 32:  # no OCPP type nests this deep; a recursive one would
        return None
    if isinstance(info, mi.UnionType):
        kinds = [k for t in info.types if (k := _holds_datetime(t, depth + 1)) is not None]
        return kinds[0] if kinds else None
    if isinstance(info, mi.CustomType):
        return "datetime" if info.cls is DateTime else None
    if isinstance(info, mi.DateTimeType):
        return "datetime"
    if isinstance(info, mi.StructType):
        holds = any(_holds_datetime(f.type, depth + 1) is not None for f in info.fields)
        return "struct" if holds else None
    if isinstance(info, mi.ListType):
        item = _holds_datetime(info.item_type, depth + 1)
        return None if item is None else ("list", item)
    return None


def _violation(found: Finding) -> PayloadViolation:
    return PayloadViolation(found.kind, found.description, found.details)


def _not_json(error: Exception) -> PayloadViolation:
    if isinstance(error, RecursionError):
        cause = "nested too deeply"
    elif isinstance(error, UnicodeDecodeError):
        cause = "not UTF-8"
    else:
        cause = str(error)
    return PayloadViolation(
        Violation.FORMAT,
        f"$: the payload is not valid JSON ({cause})",
        {"path": "$", "keyword": "json", "cause": cause},
    )
