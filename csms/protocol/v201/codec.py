"""The 2.0.1 payload codec, with meter readings kept as the exact JSON text.

2.0.1 sends a sampled value as a JSON number, which the generated Structs
decode as ``float`` (``12.50`` would become ``12.5``, a 19-digit register
would be rounded). The meter value table keeps readings exactly as sent, so
the two calls that carry meter values are decoded into subclasses of their
generated Structs whose ``SampledValueType.value`` is the raw JSON text
(every other field and constraint is the generated one), and each value is
then that text as a ``str``. A payload those refuse (or a value that is not
a number) takes the generic path, which names the violation or repairs what
the station's leniency allows; there the payload is read a second time for
just the numbers. :func:`value_text` reads either form.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from csms.protocol.payloads import Decoded, Leniency, PayloadCodec, struct_decoder

_NUMBER_STARTS = b"-0123456789"


@functools.cache
def _exact_decoders() -> dict[str, Any]:
    """Decoders of the exact subclasses of the calls whose payload holds
    meterValue[].sampledValue[].value, made with the first codec (the
    generated module is imported when a codec is made)."""
    from csms.protocol.payloads import v201

    # defstruct, not class statements: the annotations must be objects here,
    # not the strings this module's ``annotations`` import makes of them.
    def exact(base: type[msgspec.Struct], field: str, kind: Any, default: Any = ...) -> Any:
        spec = (field, kind) if default is ... else (field, kind, default)
        return msgspec.defstruct(
            "Exact" + base.__name__, [spec], bases=(base,), kw_only=True, module=__name__
        )

    non_empty: Any = v201.NonEmptyList  # subscripted with types made at run time

    def non_empty_list(item: Any) -> Any:
        return non_empty[item]

    sampled_value = exact(v201.SampledValueType, "value", msgspec.Raw)
    meter_value = exact(v201.MeterValueType, "sampled_value", non_empty_list(sampled_value))
    values = non_empty_list(meter_value)
    transaction_event = exact(
        v201.TransactionEventRequest, "meter_value", values | UnsetType, UNSET
    )
    meter_values = exact(v201.MeterValuesRequest, "meter_value", values)
    return {
        "TransactionEvent": struct_decoder(transaction_event),
        "MeterValues": struct_decoder(meter_values),
    }


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
        self._exact = _exact_decoders()

    def decode_request(
        self, action: str, payload: bytes, leniency: Leniency = Leniency.NONE
    ) -> Decoded:
        exact = self._exact.get(action)
        if exact is not None:
            try:
                message = exact(payload)
            except (
                msgspec.DecodeError,
                msgspec.ValidationError,
                UnicodeDecodeError,
                RecursionError,
            ):
                pass  # the generic path below names the fault or repairs it
            else:
                if _values_as_text(message):
                    return Decoded(message, ())
        decoded = super().decode_request(action, payload, leniency)
        if exact is not None:  # a call with meter values
            _keep_value_text(decoded.message, payload)
        return decoded


def _values_as_text(message: Any) -> bool:
    """Each raw sampled value of ``message`` replaced by its text; False (and
    the message not to be used) if one is not a JSON number."""
    meter_values = message.meter_value
    if meter_values is UNSET:
        return True
    for meter_value in meter_values:
        for sampled in meter_value.sampled_value:
            text = _number_text(sampled.value)
            if text is None:
                return False
            sampled.value = text
    return True


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
        for sampled, exact_value in zip(decoded.sampled_value, exact.sampled_value, strict=True):
            text = _number_text(exact_value.value)
            if text is not None:
                sampled.value = text


def _number_text(raw: msgspec.Raw) -> str | None:
    """A raw JSON value's text if it is a number, else None."""
    literal = bytes(raw)
    return literal.decode() if literal[:1] in _NUMBER_STARTS and literal else None


def value_text(value: float | str) -> str:
    """A sampled value as text: the exact JSON text when the codec kept it,
    else the shortest text of the float (an integral one without ``.0``)."""
    if isinstance(value, str):
        return value
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)
