"""Reading meter samples: energy registers in watt-hours, exactly."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from csms.domain.model import Sample

ENERGY_REGISTER = "Energy.Active.Import.Register"
_WH_PER_UNIT = {"": Decimal(1), "Wh": Decimal(1), "kWh": Decimal(1000)}
# Registers with more digits than this are answered as this many Wh (2**100),
# which no storage column holds either.
_BEYOND_ANY_COLUMN_DIGITS = 30
_BEYOND_ANY_COLUMN = 1 << 100


def register_wh(sample: Sample) -> int | None:
    """The active import energy register of a sample in Wh, or None if the
    sample is not a readable register value (another measurand, signed data,
    a unit that is not energy, text that is not a number). A 2.0.1
    multiplier counts: value x 10^multiplier."""
    if sample.measurand not in ("", ENERGY_REGISTER) or sample.format == "SignedData":
        return None
    factor = _WH_PER_UNIT.get(sample.unit)
    if factor is None:
        return None
    try:
        value = Decimal(sample.value) * factor
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if sample.multiplier:
        try:
            value = value.scaleb(sample.multiplier)
        except ArithmeticError:  # an exponent no Decimal holds: no meter shows that
            return None
    if value.adjusted() > _BEYOND_ANY_COLUMN_DIGITS:
        # Far beyond a 64-bit Wh column: said so without building an integer
        # of up to a million digits from a charger's multiplier.
        return _BEYOND_ANY_COLUMN if value > 0 else -_BEYOND_ANY_COLUMN
    return int(value.to_integral_value())


# Separates the fields of a sample's identity (no charger sends it in a field).
_SEP = "\x1f"


def sample_key(connector_id: int, sample: Sample, time_text: str | None = None) -> str:
    """What makes a sample the same sample: its connector (2.0.1 EVSE), time
    (UTC), measurand, phase, location, context, format, unit, multiplier,
    value and signed data, as a 128-bit digest (32 hex digits). Unique with
    the station in ``meter_value``, so a retransmitted MeterValues (a charger
    that lost our answer sends the same message again) is stored once.

    The value is part of it: a charger whose clock is not set sends many
    different readings under one timestamp, and those must all be kept. The
    format too: Eichrecht meters send a Raw and a SignedData sample of the
    same register at the same time. The session is not: a sample is what the
    meter measured, whichever transaction the message named.

    Stored keys depend on this text: changing it makes samples stored before
    and after the change look different (the migration that keyed old rows
    keeps its own copy)."""
    if time_text is None:
        time_text = utc_text(sample.sampled_at)
    text = _SEP.join(
        (
            str(connector_id),
            time_text,
            sample.measurand,
            sample.phase,
            sample.location,
            sample.context,
            sample.format,
            sample.unit,
            str(sample.multiplier),
            sample.value,
            sample.signed_data,
        )
    )
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def utc_text(moment: datetime) -> str:
    """A time in UTC, ISO 8601 (a time without zone counts as UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC).isoformat()
    return moment.astimezone(UTC).isoformat()


def sample_keys() -> Callable[[int, Sample], str]:
    """``sample_key`` for one batch: the samples of one meter value share
    their time, so each distinct time is formatted once."""
    texts: dict[datetime, str] = {}

    def key(connector_id: int, sample: Sample) -> str:
        moment = sample.sampled_at
        text = texts.get(moment)
        if text is None:
            text = texts[moment] = utc_text(moment)
        return sample_key(connector_id, sample, text)

    return key
