"""Money as ``decimal.Decimal``, never float.

Two roundings exist and they are different things:

* ``quantize4``: OCPI's own precision. OCPI numbers carry at most 4 decimals;
  the reference calculator rounds its inputs and its totals to 4 decimals,
  half away from zero (``ROUND_HALF_UP`` for Decimal). Pricing works at full
  Decimal precision in between and rounds once, at the end.
* ``round_currency``: what a document (invoice, credit note) shows, in the
  currency's ISO 4217 minor unit (2 for EUR, 0 for JPY, 3 for KWD). OCPI stays
  out of this on purpose (law and contracts decide); the default here is
  half-up, which is what EU invoicing practice expects.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

__all__ = [
    "FOUR_PLACES",
    "ZERO",
    "CurrencyError",
    "ceil_to_step",
    "decimal_text",
    "minor_units",
    "quantize4",
    "round_currency",
    "to_decimal",
]

ZERO = Decimal(0)
FOUR_PLACES = Decimal("0.0001")

# ISO 4217 minor units for the currencies a European CSMS meets, and a few
# more. A currency not listed is refused rather than guessed.
_MINOR_UNITS: dict[str, int] = {
    # two decimals
    "EUR": 2,
    "CHF": 2,
    "GBP": 2,
    "USD": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "CZK": 2,
    "HUF": 2,
    "RON": 2,
    "BGN": 2,
    "HRK": 2,
    "RSD": 2,
    "TRY": 2,
    "UAH": 2,
    "MKD": 2,
    "BAM": 2,
    "ALL": 2,
    "MDL": 2,
    "GEL": 2,
    "AUD": 2,
    "CAD": 2,
    "NZD": 2,
    "CNY": 2,
    "HKD": 2,
    "SGD": 2,
    "INR": 2,
    "ZAR": 2,
    "MXN": 2,
    "BRL": 2,
    "AED": 2,
    "SAR": 2,
    "ILS": 2,
    # no decimals
    "JPY": 0,
    "KRW": 0,
    "ISK": 0,
    "CLP": 0,
    "VND": 0,
    "XAF": 0,
    "XOF": 0,
    # three decimals
    "KWD": 3,
    "BHD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
}


class CurrencyError(ValueError):
    """A currency code this module does not know the minor unit of."""


def to_decimal(value: Decimal | int | str) -> Decimal:
    """``value`` as a Decimal; floats are refused (they are never exact money)."""
    if isinstance(value, bool | float):
        raise TypeError("money must not be a float or bool")
    return value if isinstance(value, Decimal) else Decimal(value)


def quantize4(value: Decimal) -> Decimal:
    """``value`` at OCPI's 4 decimals, half away from zero."""
    return value.quantize(FOUR_PLACES, ROUND_HALF_UP)  # positional: rating calls it a lot


def minor_units(currency: str) -> int:
    """The ISO 4217 number of decimals of ``currency`` (case-insensitive)."""
    try:
        return _MINOR_UNITS[currency.upper()]
    except KeyError:
        raise CurrencyError(f"unknown currency {currency!r}") from None


def round_currency(amount: Decimal, currency: str, rounding: str = ROUND_HALF_UP) -> Decimal:
    """``amount`` rounded to the minor unit of ``currency`` (EUR 2, JPY 0, KWD 3)."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=rounding)


def ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    """The smallest multiple of ``step`` (> 0) that is >= ``value``."""
    if step <= 0:
        raise ValueError("step must be positive")
    blocks = (value / step).to_integral_value(rounding=ROUND_CEILING)
    return blocks * step


def decimal_text(value: Decimal, places: int = 4) -> str:
    """``value`` rounded half-up to ``places`` decimals, without trailing zeros
    and never in exponent notation: ``5.5``, ``0.5502``, ``100``, ``0``."""
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = format(rounded, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text
