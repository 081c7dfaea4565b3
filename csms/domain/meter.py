"""Reading meter samples: energy registers in watt-hours, exactly."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from csms.domain.model import Sample

ENERGY_REGISTER = "Energy.Active.Import.Register"
_WH_PER_UNIT = {"": Decimal(1), "Wh": Decimal(1), "kWh": Decimal(1000)}


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
        value = value.scaleb(sample.multiplier)
    return int(value.to_integral_value())
