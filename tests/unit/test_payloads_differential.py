"""Differential test: the payload codec accepts exactly what the official
OCPP JSON schemas accept.

For each schema, hypothesis builds valid payloads straight from the schema
and then breaks them in every way a charger could (missing and extra
properties, wrong JSON types, over-long strings, bad enum values, bad and
borderline date-times, integral floats, booleans for integers, huge
integers, decimal multiples, repeated keys, nested anywhere). The verdict of
``PayloadCodec`` is compared with jsonschema on the official schema, done
the way the ``ocpp`` library does it (``json.loads``, ``Decimal`` for the
schemas with ``multipleOf``), but with the validator class the schema's
``$schema`` names and with date-time checked. Documented deliberate
differences (docs/payload-validation.md) are not generated here; they are
pinned in test_payloads_classification.py.
"""

from __future__ import annotations

import calendar
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import FormatChecker
from jsonschema.validators import validator_for

from csms.protocol.payloads import PayloadCodec, PayloadViolation

pytestmark = pytest.mark.backend_independent

# -- which payloads -----------------------------------------------------------

CHARGER_CALLS_16 = [
    "Authorize",
    "BootNotification",
    "DataTransfer",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StartTransaction",
    "StatusNotification",
    "StopTransaction",
    # security extension
    "SecurityEventNotification",
    "SignCertificate",
    "LogStatusNotification",
    "SignedFirmwareStatusNotification",
]
CHARGER_CALLS_201 = [
    "Authorize",
    "BootNotification",
    "ClearedChargingLimit",
    "DataTransfer",
    "FirmwareStatusNotification",
    "Get15118EVCertificate",
    "GetCertificateStatus",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "NotifyChargingLimit",
    "NotifyCustomerInformation",
    "NotifyDisplayMessages",
    "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule",
    "NotifyEvent",
    "NotifyMonitoringReport",
    "NotifyReport",
    "PublishFirmwareStatusNotification",
    "ReportChargingProfiles",
    "ReservationStatusUpdate",
    "SecurityEventNotification",
    "SignCertificate",
    "StatusNotification",
    "TransactionEvent",
]
CODECS = {"1.6": PayloadCodec("1.6"), "2.0.1": PayloadCodec("2.0.1")}
CHARGER_CALLS = {"1.6": CHARGER_CALLS_16, "2.0.1": CHARGER_CALLS_201}


def _cases() -> list[Any]:
    """What the system decodes (charger calls, answers to its own calls) with
    many examples; what it only encodes with fewer."""
    cases = []
    for version, codec in CODECS.items():
        calls = CHARGER_CALLS[version]
        for action in sorted(codec.actions):
            server_call = action not in calls or action == "DataTransfer"
            for request in (True, False):
                decoded_here = (not request and server_call) or (request and action in calls)
                examples = 60 if decoded_here else 15
                name = f"{version}-{action}{'Request' if request else 'Response'}"
                cases.append(pytest.param(version, action, request, examples, id=name))
    return cases


# PAYLOAD_DIFFERENTIAL_FULL=1: ten times the examples, freshly random each run
FULL = bool(os.environ.get("PAYLOAD_DIFFERENTIAL_FULL"))
SCALE = 10 if FULL else 1

# -- the reference: jsonschema on the official schema ----------------------

FORMATS = FormatChecker(formats=("date-time",))


@dataclass(frozen=True)
class Official:
    schema: dict[str, Any]
    decimal: bool
    draft6: bool
    validator: Any

    def accepts(self, payload: bytes) -> bool | None:
        """The official verdict; None where jsonschema itself fails (Decimal
        ``multipleOf`` of a number too big for the decimal context: a
        documented deliberate difference)."""
        try:
            instance = json.loads(payload, parse_float=Decimal if self.decimal else float)
        except ValueError:
            return False
        try:
            return bool(self.validator.is_valid(instance))
        except ArithmeticError:
            return None


@cache
def official(version: str, action: str, request: bool) -> Official:
    folder = "v16" if version == "1.6" else "v201"
    if request:
        name = f"{action}.json" if version == "1.6" else f"{action}Request.json"
    else:
        name = f"{action}Response.json"
    text = resources.files("ocpp").joinpath(folder, "schemas", name).read_text("utf-8-sig")
    decimal = '"multipleOf"' in text
    schema = json.loads(text, parse_float=Decimal if decimal else float)
    cls = validator_for(schema)
    return Official(
        schema, decimal, cls.__name__ != "Draft4Validator", cls(schema, format_checker=FORMATS)
    )


# -- JSON text with the corners json.dumps cannot write -----------------------


@dataclass(frozen=True)
class Raw:
    """A JSON number written exactly so (``1.0``, ``1e2``, ``16.10``)."""

    text: str


@dataclass(frozen=True)
class Repeated:
    """An object written with a repeated key (json.loads keeps the last)."""

    pairs: tuple[tuple[str, Any], ...]


def dump(value: Any, ascii_only: bool = False) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Repeated):
        items = value.pairs
        return (
            "{" + ",".join(f"{dump(k, ascii_only)}:{dump(v, ascii_only)}" for k, v in items) + "}"
        )
    if isinstance(value, dict):
        items = tuple(value.items())
        return (
            "{" + ",".join(f"{dump(k, ascii_only)}:{dump(v, ascii_only)}" for k, v in items) + "}"
        )
    if isinstance(value, list):
        return "[" + ",".join(dump(v, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only, allow_nan=False)


# -- valid instances ----------------------------------------------------------


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = root["definitions"][node["$ref"].removeprefix("#/definitions/")]
    return node


@st.composite
def good_date_times(draw: st.DrawFn) -> str:
    year = draw(st.integers(1, 9999) | st.sampled_from([1970, 2000, 2024, 9999, 1]))
    month = draw(st.integers(1, 12))
    day = draw(st.integers(1, calendar.monthrange(year, month)[1]))
    hour, minute, second = (
        draw(st.integers(0, 23)),
        draw(st.integers(0, 59)),
        draw(st.integers(0, 59)),
    )
    text = f"{year:04d}-{month:02d}-{day:02d}{draw(st.sampled_from('TTTt'))}"
    text += f"{hour:02d}:{minute:02d}:{second:02d}"
    if draw(st.booleans()):
        text += "." + draw(st.text("0123456789", min_size=1, max_size=14))
    tz = draw(
        st.sampled_from(["Z", "Z", "z", "+00:00", "-00:00"])
        | st.builds(
            "{}{:02d}:{:02d}".format,
            st.sampled_from("+-"),
            st.integers(0, 23),
            st.integers(0, 59),
        )
    )
    text += tz
    if draw(st.integers(0, 30)) == 0:
        text += "\n"  # rfc3339-validator anchors with $: one newline passes
    return text


CHARS = st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from(
    ["\U0001f600", "é", "\x00", '"', "\\", "\n"]
)
TEXT = st.text(CHARS)


@st.composite
def scrambled_date_times(draw: st.DrawFn) -> str:
    return _scramble(draw, draw(good_date_times()))


def date_times() -> st.SearchStrategy[str]:
    """Mostly valid date-times, often borderline ones, now and then broken."""
    return st.one_of(
        good_date_times(),
        good_date_times(),
        st.sampled_from(BAD_DATE_TIMES),
        scrambled_date_times(),
    )


def json_values() -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | TEXT
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
        max_leaves=6,
    )


class Builder:
    """Strategies for valid instances of one schema."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def later(self, node: dict[str, Any]) -> st.SearchStrategy[Any]:
        return st.deferred(lambda: self.valid(node))

    def valid(self, node: dict[str, Any]) -> st.SearchStrategy[Any]:
        node = _resolve(node, self.root)
        kind = node.get("type")
        if kind is None:
            return json_values()
        if kind == "object":
            properties = node.get("properties", {})
            required = set(node.get("required", ()))
            return st.fixed_dictionaries(
                {k: self.later(v) for k, v in properties.items() if k in required},
                optional={k: self.later(v) for k, v in properties.items() if k not in required},
            )
        if kind == "array":
            low = node.get("minItems", 0)
            high = min(node.get("maxItems", low + 3), low + 3)
            return st.lists(self.valid(node["items"]), min_size=low, max_size=high)
        if kind == "string":
            if "enum" in node:
                return st.sampled_from(node["enum"])
            if node.get("format") == "date-time":
                return date_times()
            high = node.get("maxLength")
            text = TEXT if high is None else st.text(CHARS, max_size=high)
            if high is not None:
                text = text | st.sampled_from(
                    ["x" * high, "\U0001f600" * high, "x" * (high + 1), "\U0001f600" * (high + 1)]
                )
            return text
        if kind == "boolean":
            return st.booleans()
        low, high = node.get("minimum"), node.get("maximum")
        ints = st.integers(None if low is None else int(low), None if high is None else int(high))
        if kind == "integer":
            if low is None and high is None:
                ints = ints | st.sampled_from([2**31, -(2**31), 2**63, 2**64, 10**30, -(10**30)])
            return st.one_of(ints, ints, ints, st.sampled_from(ODD_INTEGERS))
        if "multipleOf" in node:
            step = Decimal(str(node["multipleOf"]))
            return st.one_of(
                st.integers(-(10**7), 10**7).map(lambda n: Decimal(n) * step),
                st.integers(-(10**5), 10**5).map(lambda n: Decimal(n) / 100),
                st.sampled_from(TENTHS),
            )
        floats = st.floats(
            min_value=low, max_value=high, allow_nan=False, allow_infinity=False
        ).filter(lambda x: abs(x) < 1e300)
        return (
            floats
            | ints
            | st.sampled_from([Raw(t) for t in ("1e2", "1.5E-3", "-0.0", "0.1")]).filter(
                lambda r: (
                    (low is None or float(r.text) >= low)
                    and (high is None or float(r.text) <= high)
                )
            )
        )


# -- breaking them ------------------------------------------------------------

BAD_DATE_TIMES = [
    "2024-05-01T12:00:00",  # naive
    "2024-05-01T12:00:00.123",
    "2024-05-01 12:00:00Z",  # space separator
    "2024-05-01T12:00:00+0530",  # offset without colon
    "2024-05-01T12:00:00+05",
    "2024-05-01T12:00:00+24:00",
    "2024-05-01T12:00:00+05:60",
    "2016-12-31T23:59:60Z",  # leap second
    "2024-05-01T24:00:00Z",
    "2024-05-01T12:60:00Z",
    "2023-02-29T00:00:00Z",
    "2024-04-31T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "2024-13-01T00:00:00Z",
    "2024-00-01T00:00:00Z",
    "2024-05-00T00:00:00Z",
    "2024-05-01",
    "12:00:00Z",
    "",
    "T",
    "2024-05-01T12:00:00Z\n\n",
    "\n2024-05-01T12:00:00Z",
    " 2024-05-01T12:00:00Z",
    "2024-05-01T12:00:00Z ",
    "2024-05-01T12:00:00.Z",
    "2024-05-01T12:00:00,5Z",
    "2024-5-1T12:00:00Z",
    "+2024-05-01T12:00:00Z",
    "20240501T120000Z",
    "2024-05-01T12:00Z",
    "\uff12\uff10\uff12\uff14-05-01T12:00:00Z",  # full-width digits
    "2024-05-01T12:00:00Z\u1e97",
    "2024-05-01\u1e9712:00:00Z",
    "2024-05-01T12:00:00UTC",
    "2024-05-01T12:00:00+05:30:00",
    "2024-05-01T12:00:00-23:59",  # valid
    "2024-05-01t12:00:00z",  # valid
    "2024-05-01T12:00:00.123456789012345Z",  # valid
    "9999-12-31T23:59:59.9999999Z",  # valid
    "2024-02-29T00:00:00Z",  # valid
    "2024-05-01T12:00:00Z\n",  # valid
]


def _sites(
    value: Any, node: dict[str, Any], root: dict[str, Any], path: tuple[Any, ...]
) -> list[Any]:
    node = _resolve(node, root)
    out = [(path, node)]
    kind = node.get("type")
    if kind == "object" and isinstance(value, dict):
        for key, item in value.items():
            if key in node.get("properties", {}):
                out += _sites(item, node["properties"][key], root, (*path, key))
    elif kind == "array" and isinstance(value, list):
        for i, item in enumerate(value):
            out += _sites(item, node["items"], root, (*path, i))
    return out


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy = list(value) if isinstance(value, list) else dict(value)
    copy[head] = _set(value[head], rest, new)
    return copy


ODD_INTEGERS = [
    Raw("1.0"),
    Raw("1e2"),
    Raw("-0.0"),
    Raw("1E0"),
    Raw("2.5"),
    Raw("1e-2"),
    Raw("1.0e20"),
    Raw("12345678901234567890.0"),
    Raw("-0"),
    True,
    False,
    "1",
    2**64,
    10**30,
    -(2**63) - 1,
    -1,
]
TENTHS = [
    Raw("16.10"),
    Raw("1.0e1"),
    Raw("0.30000000000000000000"),
    Raw("-0.0"),
    Raw("32"),
    Raw("16.15"),
    Raw("0.05"),
    Raw("1.11"),
    Raw("0.1e-1"),
    Raw("0.3"),
    Raw("2.675"),
    Raw("16.1000000000000000001"),
    Raw("0.30000000000000004"),
    Raw("1e-400"),
    Raw("1E2"),
    Raw("123456789012345.6"),
    Raw("1234567890123456.7"),
]
WRONG_TYPES = st.sampled_from(
    [None, True, False, 0, 1, -1, 1.5, Raw("1.0"), "", "1", "true", [], {}, ["x"], {"a": 1}]
)


@st.composite
def mutation(draw: st.DrawFn, value: Any, node: dict[str, Any], root: dict[str, Any]) -> Any:
    """One way of breaking (or, now and then, not breaking) the value."""
    node = _resolve(node, root)
    kind = node.get("type")
    choices: list[Callable[[], Any]] = [lambda: draw(WRONG_TYPES)]
    if kind == "object" and isinstance(value, dict):
        properties = node.get("properties", {})
        required = [k for k in node.get("required", ()) if k in value]
        if required:
            gone = draw(st.sampled_from(required))
            choices.append(lambda: {k: v for k, v in value.items() if k != gone})
        choices.append(
            lambda: {
                **value,
                draw(st.sampled_from(["x", "vendorExtra", "IdTag", "customdata", ""]) | TEXT): draw(
                    WRONG_TYPES
                ),
            }
        )
        present = [k for k in value if k in properties]
        if present:
            key = draw(st.sampled_from(present))
            choices.append(lambda: {**value, key: None})
            # a repeated key: one copy valid, one broken, in either order
            other = draw(WRONG_TYPES)
            choices.append(lambda: Repeated(((key, other), *value.items())))
            choices.append(lambda: Repeated((*value.items(), (key, other))))
    elif kind == "array" and isinstance(value, list):
        choices.append(lambda: [])
        if value:
            choices.append(lambda: value * (node.get("maxItems", 3) + 1))
    elif kind == "string":
        high = node.get("maxLength")
        if high is not None:
            choices.append(lambda: "a" * (high + draw(st.integers(1, 3))))
            choices.append(lambda: "\U0001f600" * (high + 1))
            choices.append(lambda: "\U0001f600" * high)
        if "enum" in node:
            good = draw(st.sampled_from(node["enum"]))
            choices.append(
                lambda: draw(
                    st.sampled_from(
                        [
                            good.lower(),
                            good.upper(),
                            good + " ",
                            " " + good,
                            good[:-1],
                            "Unknown",
                            "",
                        ]
                    )
                )
            )
        if node.get("format") == "date-time":
            choices.append(lambda: draw(st.sampled_from(BAD_DATE_TIMES)))
            choices.append(lambda: _scramble(draw, str(value)))
            choices.append(lambda: draw(st.integers(0, 2**31)))
        choices.append(
            lambda: draw(st.integers() | st.floats(allow_nan=False, allow_infinity=False))
        )
    elif kind == "integer":
        choices.append(lambda: draw(st.sampled_from(ODD_INTEGERS)))
        if "minimum" in node:
            choices.append(lambda: int(node["minimum"]) - draw(st.integers(1, 2**40)))
        if "maximum" in node:
            choices.append(lambda: int(node["maximum"]) + draw(st.integers(1, 5)))
    elif kind == "number":
        choices.append(
            lambda: draw(st.sampled_from([True, "1.5", Raw("1e300"), Raw("-1e300"), 2**64]))
        )
        if "multipleOf" in node:
            choices.append(lambda: draw(st.sampled_from(TENTHS)))
            choices.append(lambda: Decimal(draw(st.integers(-(10**6), 10**6))) / 100)
        if "minimum" in node:
            choices.append(lambda: node["minimum"] - draw(st.sampled_from([1, 0.5, 1e-9])))
        if "maximum" in node:
            choices.append(lambda: node["maximum"] + draw(st.sampled_from([1, 0.5, 1e-9])))
    elif kind == "boolean":
        choices.append(lambda: draw(st.sampled_from([0, 1, "true", "false", "True", None])))
    return draw(st.sampled_from(choices))()


def _scramble(draw: st.DrawFn, text: str) -> str:
    chars = list(text)
    at = draw(st.integers(0, len(chars)))
    op = draw(st.sampled_from(["insert", "delete", "replace"]))
    char = draw(st.sampled_from(list("0123456789-:+.TtZz \n,W")))
    if op == "insert":
        chars.insert(at, char)
    elif chars:
        at = min(at, len(chars) - 1)
        if op == "delete":
            del chars[at]
        else:
            chars[at] = char
    return "".join(chars)


@st.composite
def payloads(draw: st.DrawFn, version: str, action: str, request: bool) -> bytes:
    ref = official(version, action, request)
    builder = _builder(version, action, request)
    value = draw(builder.valid(ref.schema))
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        if isinstance(value, Repeated):
            break
        sites = _sites(value, ref.schema, ref.schema, ())
        path, node = draw(st.sampled_from(sites))
        value = _set(value, path, draw(mutation(_get(value, path), node, ref.schema)))
    return dump(value, ascii_only=draw(st.booleans())).encode()


@cache
def _builder(version: str, action: str, request: bool) -> Builder:
    return Builder(official(version, action, request).schema)


# -- the test -----------------------------------------------------------------


def verdict(version: str, action: str, request: bool, payload: bytes) -> Any:
    codec = CODECS[version]
    decode = codec.decode_request if request else codec.decode_response
    try:
        return decode(action, payload).message
    except PayloadViolation:
        return None


@pytest.mark.parametrize(("version", "action", "request_", "examples"), _cases())
def test_codec_accepts_exactly_what_the_official_schema_accepts(
    version: str, action: str, request_: bool, examples: int
) -> None:
    ref = official(version, action, request_)

    @settings(
        max_examples=examples * SCALE,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
        derandomize=not FULL,  # the same examples on every CI run; FULL explores
    )
    @given(payloads(version, action, request_))
    def check(payload: bytes) -> None:
        expected = ref.accepts(payload)
        if expected is None:
            return
        message = verdict(version, action, request_, payload)
        assert (message is not None) == expected, (
            f"official schema {'accepts' if expected else 'rejects'} {payload!r}, codec disagrees"
        )
        if message is not None:
            # what was decoded encodes to a payload the official schema accepts
            encoded = CODECS[version].encode(message)
            assert ref.accepts(encoded) is not False, f"{payload!r} re-encoded as {encoded!r}"

    check()


def test_every_action_is_covered() -> None:
    for version, codec in CODECS.items():
        assert set(CHARGER_CALLS[version]) <= codec.actions
    assert len(_cases()) == 2 * (len(CODECS["1.6"].actions) + len(CODECS["2.0.1"].actions))


def test_reference_is_the_right_validator() -> None:
    assert official("1.6", "MeterValues", True).validator.__class__.__name__ == "Draft4Validator"
    assert official("1.6", "SignCertificate", True).draft6
    assert official("2.0.1", "MeterValues", True).draft6
    assert official("1.6", "GetCompositeSchedule", False).decimal
    assert not official("1.6", "MeterValues", True).decimal


# -- the borderline values, each one checked (not left to chance) -------------

FIELDS = [
    # (version, action, request, a valid payload with a "{}" where the value goes)
    (
        "1.6",
        "StartTransaction",
        True,
        '{"connectorId":1,"idTag":"a","meterStart":0,"timestamp":{}}',
    ),
    (
        "1.6",
        "MeterValues",
        True,
        '{"connectorId":1,"meterValue":[{"timestamp":{},"sampledValue":[{"value":"1"}]}]}',
    ),
    ("2.0.1", "Heartbeat", False, '{"currentTime":{}}'),
    (
        "2.0.1",
        "StatusNotification",
        True,
        '{"timestamp":{},"connectorStatus":"Available","evseId":1,"connectorId":1}',
    ),
]


@pytest.mark.parametrize("value", BAD_DATE_TIMES)
@pytest.mark.parametrize(("version", "action", "request_", "template"), FIELDS)
def test_borderline_date_times(
    version: str, action: str, request_: bool, template: str, value: str
) -> None:
    for text in (value, value.lower(), value.upper()):
        payload = template.replace("{}", json.dumps(text)).encode()
        expected = official(version, action, request_).accepts(payload)
        assert (verdict(version, action, request_, payload) is not None) == expected, payload


@pytest.mark.parametrize("value", ODD_INTEGERS, ids=repr)
@pytest.mark.parametrize(
    ("version", "action", "template"),
    [
        (
            "1.6",
            "StartTransaction",
            '{"connectorId":{},"idTag":"a","meterStart":0,"timestamp":"2024-01-01T00:00:00Z"}',
        ),
        ("1.6", "SignedFirmwareStatusNotification", '{"status":"Idle","requestId":{}}'),
        (
            "2.0.1",
            "StatusNotification",
            '{"timestamp":"2024-01-01T00:00:00Z",'
            '"connectorStatus":"Available","evseId":{},"connectorId":1}',
        ),
    ],
)
def test_odd_integers(version: str, action: str, template: str, value: Any) -> None:
    payload = template.replace("{}", dump(value)).encode()
    expected = official(version, action, True).accepts(payload)
    assert (verdict(version, action, True, payload) is not None) == expected, payload


@pytest.mark.parametrize("value", TENTHS, ids=repr)
def test_decimal_multiples(value: Raw) -> None:
    payload = (
        '{"status":"Accepted","chargingSchedule":{"chargingRateUnit":"A",'
        '"chargingSchedulePeriod":[{"startPeriod":0,"limit":' + value.text + "}]}}"
    ).encode()
    expected = official("1.6", "GetCompositeSchedule", False).accepts(payload)
    assert (verdict("1.6", "GetCompositeSchedule", False, payload) is not None) == expected
