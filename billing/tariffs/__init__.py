"""OCPI 2.2.1 tariffs: the model (``model``), the CDR input pricing reads
(``cdr_input``) and the pricing engine (``pricing``). Pure domain code: no
database, no I/O frameworks."""

from billing.tariffs.cdr_input import (
    CdrDimension,
    CdrDimensionType,
    CdrError,
    CdrInput,
    ChargingPeriod,
    parse_cdr_input,
)
from billing.tariffs.model import (
    Price,
    PriceComponent,
    Tariff,
    TariffDimensionType,
    TariffElement,
    TariffError,
    TariffRestrictions,
    parse_tariff,
    tariff_to_json,
    tariff_to_ocpi,
)
from billing.tariffs.pricing import (
    Cost,
    PriceAdjustment,
    PricedLine,
    PricedSession,
    PricingError,
    SuppliedLine,
    price_cdr,
    price_session,
)

__all__ = [
    "CdrDimension",
    "CdrDimensionType",
    "CdrError",
    "CdrInput",
    "ChargingPeriod",
    "Cost",
    "Price",
    "PriceAdjustment",
    "PriceComponent",
    "PricedLine",
    "PricedSession",
    "PricingError",
    "SuppliedLine",
    "Tariff",
    "TariffDimensionType",
    "TariffElement",
    "TariffError",
    "TariffRestrictions",
    "parse_cdr_input",
    "parse_tariff",
    "price_cdr",
    "price_session",
    "tariff_to_json",
    "tariff_to_ocpi",
]
