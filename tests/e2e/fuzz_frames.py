"""Hypothesis strategies for OCPP-J frames of every shape (issue 14's fuzz
test, tests/e2e/test_ocpp_fuzz.py).

A frame is a :class:`Frame`: the websocket message (text or binary), what
kind of frame it is, and what answer it is owed:

- ``"id"``: one answer with the frame's message id (a CALL whose id can be
  read; the id is the placeholder :data:`ID_SLOT`, replaced by a fresh id
  when the frame is sent),
- ``"-1"``: one answer with the id "-1" (a CALL whose id cannot be read),
- ``"any"``: one answer, with "-1" or an id that appears in the frame
  (garbage whose start may show an id),
- ``"none"``: no answer (a well-formed CALLRESULT or CALLERROR, which the
  server matches to its own calls and otherwise ignores).

Payloads come from the official JSON schemas of the version (the ones the
gateway validates against, shipped in the ``ocpp`` package), through a small
schema-to-strategy translation: the schemas use only type, properties,
required, additionalProperties, enum, items, minItems, maxItems, maxLength,
minimum, maximum, multipleOf, format (date-time, uri) and ``$ref`` to
definitions. (hypothesis-jsonschema 0.23 does not run on this Hypothesis.)
Mutations then break one value of a valid payload: a wrong type, a missing
required field, an extra field, huge numbers, NUL and control characters,
lone surrogates, over-long strings, deep nesting, dates at and beyond the
limits.
"""

from __future__ import annotations

import functools
import importlib
import importlib.resources
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal

from hypothesis import strategies as st

ID_SLOT = "@ID@"
_DEEP_SLOT = "@DEEP@"
_MODULES = {"1.6": "csms.protocol.payloads.v16", "2.0.1": "csms.protocol.payloads.v201"}

Expect = Literal["id", "-1", "any", "none"]


@dataclass(frozen=True)
class Frame:
    kind: str
    data: str | bytes
    expect: Expect

    def render(self, unique_id: str) -> str | bytes:
        """The message to send, with ``unique_id`` in the id slot."""
        if isinstance(self.data, bytes):
            return self.data
        return self.data.replace(json.dumps(ID_SLOT), json.dumps(unique_id))


# -- payloads from the official schemas --------------------------------------


@functools.cache
def _schema(version: str, action: str) -> dict[str, Any]:
    module = importlib.import_module(_MODULES[version])
    name = module.REQUEST_SCHEMA.format(action=action)
    text = (
        importlib.resources.files("ocpp")
        .joinpath(module.SCHEMA_DIR, name)
        .read_text(encoding="utf-8-sig")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def actions(version: str) -> tuple[str, ...]:
    """Every action of the version (both directions' requests)."""
    module = importlib.import_module(_MODULES[version])
    return tuple(sorted(module.REQUESTS))


_OFFSETS = [
    UTC,
    timezone(timedelta(hours=14)),
    timezone(timedelta(hours=-14)),
    timezone(timedelta(hours=5, minutes=30)),
    timezone(timedelta(hours=-3)),
]
_RECENT = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31))
_ANY_YEAR = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))


def _format_datetime(value: datetime) -> str:
    text = value.isoformat()
    return text.replace("+00:00", "Z") if text.endswith("+00:00") else text


DATE_TIMES = st.builds(
    lambda naive, offset: _format_datetime(naive.replace(tzinfo=offset)),
    st.one_of(_RECENT, _RECENT, _RECENT, _ANY_YEAR),
    st.sampled_from(_OFFSETS),
)

_CLEAN_TEXT = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
# No surrogates (a text frame is UTF-8); NUL and control characters included.
_ANY_TEXT = st.characters(codec="utf-8")

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_CLEAN_TEXT, max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def _from_schema(schema: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _from_schema(root["definitions"][name], root)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        # customData (2.0.1's vendor extension, optional on every object) is
        # left to the "extra" mutation: generating it everywhere halves the
        # frames per second.
        properties = {k: v for k, v in schema.get("properties", {}).items() if k != "customData"}
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: _from_schema(v, root) for k, v in properties.items() if k in required},
            optional={k: _from_schema(v, root) for k, v in properties.items() if k not in required},
        )
    if kind == "array":
        low = schema.get("minItems", 0)
        high = min(schema.get("maxItems", 3), max(low, 3))
        return st.lists(_from_schema(schema["items"], root), min_size=low, max_size=high)
    if kind == "string":
        if schema.get("format") == "date-time":
            return DATE_TIMES
        if schema.get("format") == "uri":
            return st.sampled_from(["https://example.com/fw.bin", "ftp://h/x", "wss://a/b"])
        size = min(schema.get("maxLength", 40), 40)
        return st.text(_CLEAN_TEXT, max_size=size) | st.text(_ANY_TEXT, max_size=size)
    if kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is None and high is None:
            return st.integers(-5, 1000) | st.integers(-5, 1000) | st.integers()
        return st.integers(min_value=low, max_value=high)
    if kind == "number":
        if "multipleOf" in schema:
            step = Decimal(str(schema["multipleOf"]))
            return st.integers(0, 10**6).map(lambda n: float(n * step))
        low = schema.get("minimum")
        return st.integers(-5, 10**5) | st.floats(
            min_value=low, allow_nan=False, allow_infinity=False
        )
    if kind == "boolean":
        return st.booleans()
    return JSON_VALUES  # anyType (2.0.1 DataTransfer data)


@functools.cache
def payloads(version: str, action: str) -> st.SearchStrategy[dict[str, Any]]:
    """Payloads of ``action``'s CALL that its official schema accepts."""
    schema = _schema(version, action)
    return _from_schema(schema, schema)


def _dump(value: Any) -> str:
    """JSON text a websocket text frame can carry (lone surrogates escaped)."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode()
    except UnicodeEncodeError:
        text = json.dumps(value)
    return text


def _call(action: Any, payload: Any) -> str:
    return _dump([2, ID_SLOT, action, payload])


@st.composite
def valid_calls(draw: st.DrawFn, version: str) -> Frame:
    action = draw(st.sampled_from(actions(version)))
    return Frame(f"valid:{action}", _call(action, draw(payloads(version, action))), "id")


# -- mutations of a valid payload --------------------------------------------

WRONG_TYPES = [None, True, False, 0, -1, 1.5, "", "x", [], {}, [1], {"a": 1}, "1", "true"]
HUGE_NUMBERS = [
    2**31 - 1,
    2**31,
    -(2**31) - 1,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    2**64,
    10**30,
    -(10**30),
    1e308,
    -1e308,
    5e-324,
    1.5e300,
]
EDGE_DATES = [
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "10000-01-01T00:00:00Z",
    "2026-02-30T10:00:00Z",
    "2026-11-22T25:00:00Z",
    "2026-11-22T10:00:00",
    "2026-11-22",
    "2026-11-22T10:00:00+24:00",
    "2026-11-22T10:00:00.1234567890123Z",
    "",
    "now",
]
SURROGATES = ["\ud800", "a\udfffb", "\udc00\ud800", "x\ud83d"]
_MUTATIONS = ["type", "drop", "extra", "huge", "control", "surrogate", "long", "deep", "date"]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


def _drop(value: Any, path: tuple[Any, ...]) -> Any:
    parent = path[:-1]
    container = value
    for step in parent:
        container = container[step]
    if isinstance(container, dict):
        smaller = {k: v for k, v in container.items() if k != path[-1]}
    else:
        smaller = [v for i, v in enumerate(container) if i != path[-1]]
    return _replace(value, parent, smaller)


@st.composite
def mutated_calls(draw: st.DrawFn, version: str) -> Frame:
    action = draw(st.sampled_from(actions(version)))
    payload: Any = draw(payloads(version, action))
    mutation = draw(st.sampled_from(_MUTATIONS))
    path = draw(st.sampled_from(_paths(payload)))
    target = payload
    for step in path:
        target = target[step]
    deep = ""
    if mutation == "type":
        payload = _replace(payload, path, draw(st.sampled_from(WRONG_TYPES)))
    elif mutation == "drop" and path:
        payload = _drop(payload, path)
    elif mutation == "extra" or (mutation == "drop" and not path):
        holder = path if isinstance(target, dict) else ()
        key = draw(st.text(max_size=12) | st.sampled_from(["customData", "extra", "id", ""]))
        container = payload
        for step in holder:
            container = container[step]
        payload = _replace(payload, holder, {**container, key: draw(JSON_VALUES)})
    elif mutation == "huge":
        payload = _replace(payload, path, draw(st.sampled_from(HUGE_NUMBERS)))
    elif mutation == "control":
        noise = st.text(st.characters(max_codepoint=0x1F) | st.just("\x7f"), min_size=1)
        payload = _replace(payload, path, draw(st.text(_CLEAN_TEXT, max_size=5)) + draw(noise))
    elif mutation == "surrogate":
        payload = _replace(payload, path, draw(st.sampled_from(SURROGATES)))
    elif mutation == "long":
        size = draw(st.sampled_from([21, 26, 37, 51, 256, 501, 1001, 2501, 5001, 40_000]))
        payload = _replace(payload, path, draw(st.sampled_from("xé€\U0001f50c")) * size)
    elif mutation == "deep":
        depth = draw(st.integers(2, 3000))
        shape = draw(st.sampled_from(["[]", "{}"]))
        deep = "[" * depth + "]" * depth if shape == "[]" else '{"a":' * depth + "1" + "}" * depth
        payload = _replace(payload, path, _DEEP_SLOT)
    else:
        payload = _replace(payload, path, draw(st.sampled_from(EDGE_DATES)))
    text = _call(action, payload)
    if deep:
        text = text.replace(json.dumps(_DEEP_SLOT), deep)
    return Frame(f"mutated:{mutation}", text, "id")


# -- frames that break the RPC framing ---------------------------------------


@st.composite
def broken_calls(draw: st.DrawFn, version: str) -> Frame:
    """CALLs whose id, action or arity is wrong, or whose payload is not an
    object; and ids at the limits."""
    action = draw(st.sampled_from(actions(version)) | st.text(max_size=80))
    case = draw(
        st.sampled_from(
            ["id-type", "id-empty", "id-long", "id-odd", "action", "payload", "short", "long"]
        )
    )
    if case == "id-type":
        bad_id = draw(st.sampled_from([None, 1, 2.5, True, [], {}, ["x"]]))
        return Frame("broken:id-type", _dump([2, bad_id, action, {}]), "-1")
    if case == "id-empty":
        return Frame("broken:id-empty", _dump([2, "", action, {}]), "-1")
    if case == "id-long":
        long_id = "i" * draw(st.integers(37, 200))
        return Frame("broken:id-long", _dump([2, long_id, action, {}]), "any")
    if case == "id-odd":
        # Any string of 1..36 characters is an id and is echoed.
        odd = draw(st.text(_ANY_TEXT, min_size=1, max_size=36))
        return Frame("broken:id-odd", _dump([2, odd, "Heartbeat", {}]), "any")
    if case == "action":
        bad_action = draw(st.sampled_from([None, 1, [], {}, True]) | st.text(max_size=200))
        return Frame("broken:action", _dump([2, ID_SLOT, bad_action, {}]), "id")
    if case == "payload":
        bad_payload = draw(st.sampled_from([None, 1, "x", [], [{}], True, 1.5]))
        return Frame("broken:payload", _dump([2, ID_SLOT, action, bad_payload]), "id")
    if case == "short":
        return Frame("broken:short", _dump([2, ID_SLOT, action]), "id")
    return Frame("broken:long", _dump([2, ID_SLOT, action, {}, {}]), "id")


@st.composite
def answers_to_nothing(draw: st.DrawFn) -> Frame:
    """CALLRESULTs and CALLERRORs for ids the server never used (ignored),
    and malformed ones (answered)."""
    unknown = draw(st.text(_CLEAN_TEXT, min_size=1, max_size=36))
    case = draw(st.sampled_from(["result", "error", "result-bad", "error-bad"]))
    if case == "result":
        return Frame("answer:result", _dump([3, unknown, draw(JSON_VALUES)]), "none")
    if case == "error":
        code = draw(st.sampled_from(["GenericError", "InternalError", "x", ""]))
        return Frame("answer:error", _dump([4, unknown, code, "d", {}]), "none")
    if case == "result-bad":
        frame = draw(st.sampled_from([[3, unknown], [3, unknown, {}, {}], [3, 5, {}]]))
        return Frame("answer:result-bad", _dump(frame), "any")
    frame = draw(
        st.sampled_from(
            [
                [4, unknown, "GenericError", "d"],
                [4, unknown, 1, "d", {}],
                [4, unknown, "c", "d", []],
                [4, unknown, "c", None, {}],
            ]
        )
    )
    return Frame("answer:error-bad", _dump(frame), "any")


def _no_answer_shape(data: str | bytes) -> bool:
    """True unless ``data`` reads as an array starting with 3 or 4 (which
    may be a well-formed CALLRESULT/CALLERROR and go unanswered)."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return True
    return not (isinstance(value, list) and value and value[0] in (3, 4))


NON_ARRAYS = st.sampled_from(["{}", '"x"', "1", "null", "true", '{"2": "a"}', "[]", "[2]"]) | (
    JSON_VALUES.filter(lambda v: not isinstance(v, list)).map(_dump)
)
MESSAGE_TYPES = st.sampled_from([0, 1, 5, -2, 2.5, "2", None, [], {}, 2**70])


@st.composite
def garbage(draw: st.DrawFn) -> Frame:
    """Non-arrays, arrays of the wrong message type, random text, random
    bytes (as a binary frame) and JSON with trailing junk."""
    case = draw(st.sampled_from(["non-array", "type", "text", "binary", "trailing", "bom"]))
    if case == "non-array":
        return Frame("garbage:non-array", draw(NON_ARRAYS), "-1")
    if case == "type":
        frame = _dump([draw(MESSAGE_TYPES), ID_SLOT, "Heartbeat", {}])
        return Frame("garbage:type", frame, "any")
    if case == "text":
        text = draw(st.text(_ANY_TEXT, max_size=200).filter(_no_answer_shape))
        return Frame("garbage:text", text, "any")
    if case == "binary":
        data = draw(st.binary(max_size=200).filter(_no_answer_shape))
        return Frame("garbage:binary", data, "any")
    if case == "trailing":
        junk = draw(st.sampled_from(["]", "x", ",", "{}", "\x00", " [", "\ufeff"]))
        return Frame("garbage:trailing", _call("Heartbeat", {}) + junk, "any")
    return Frame("garbage:bom", "\ufeff" + _call("Heartbeat", {}), "any")


def frames(version: str) -> st.SearchStrategy[Frame]:
    """Frames of every shape, valid and mutated CALLs most often."""
    return st.one_of(
        valid_calls(version),
        valid_calls(version),
        valid_calls(version),
        mutated_calls(version),
        mutated_calls(version),
        mutated_calls(version),
        broken_calls(version),
        answers_to_nothing(),
        garbage(),
    )


def batches(version: str, low: int = 50, high: int = 200) -> st.SearchStrategy[list[Frame]]:
    return st.lists(frames(version), min_size=low, max_size=high)
