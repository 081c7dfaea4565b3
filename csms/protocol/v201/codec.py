"""The 2.0.1 payload codec, with meter readings kept as the exact JSON text.

2.0.1 sends a sampled value as a JSON number, which the generated Structs
decode as ``float`` (``12.50`` would become ``12.5``, a 19-digit register
would be rounded). The meter value table keeps readings exactly as sent, so
for the two calls that carry meter values the payload, once the official
check has passed, is read a second time for just those numbers, as raw JSON
text, and each ``SampledValueType.value`` is replaced by that text (a
``str``). :func:`value_text` reads either form.
"""

from __future__ import annotations

from typing import Any

import msgspec

from csms.protocol.payloads import Decoded, Leniency, PayloadCodec

# The calls whose payload holds meterValue[].sampledValue[].value.
_METER_ACTIONS = frozenset({"TransactionEvent", "MeterValues"})


class _Value(msgspec.Struct):
    value: msgspec.Raw = msgspec.Raw(b"")


class _MeterValue(msgspec.Struct, rename="camel"):
    sampled_value: list[_Value] = []


class _MeterValues(msgspec.Struct, rename="camel"):
    meter_value: list[_MeterValue] = []


_read_values = msgspec.json.Decoder(_MeterValues).decode


class PayloadCodec201(PayloadCodec):
    """``PayloadCodec("2.0.1")`` that keeps sampled values as exact text."""

    def __init__(self) -> None:
        super().__init__("2.0.1")

    def decode_request(
        self, action: str, payload: bytes, leniency: Leniency = Leniency.NONE
    ) -> Decoded:
        decoded = super().decode_request(action, payload, leniency)
        if action in _METER_ACTIONS:
            _keep_value_text(decoded.message, payload)
        return decoded


def _keep_value_text(message: Any, payload: bytes) -> None:
    meter_values = getattr(message, "meter_value", None)
    if not isinstance(meter_values, list):
        return
    try:
        raw = _read_values(payload)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return  # a repaired payload (leniency): the floats stay
    if len(raw.meter_value) != len(meter_values):
        return
    for decoded, exact in zip(meter_values, raw.meter_value, strict=True):
        if len(decoded.sampled_value) != len(exact.sampled_value):
            continue
        for sampled, text in zip(decoded.sampled_value, exact.sampled_value, strict=True):
            literal = bytes(text.value)
            if literal[:1] in b"-0123456789" and literal:
                sampled.value = literal.decode()


def value_text(value: float | str) -> str:
    """A sampled value as text: the exact JSON text when the codec kept it,
    else the shortest text of the float (an integral one without ``.0``)."""
    if isinstance(value, str):
        return value
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)
