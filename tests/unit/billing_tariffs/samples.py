"""OCPI tariffs for the tariff tests."""

from __future__ import annotations

import copy
from typing import Any

TARIFF: dict[str, Any] = {
    "country_code": "DE",
    "party_id": "ABC",
    "id": "AC-STANDARD",
    "currency": "EUR",
    "tariff_alt_text": [{"language": "en", "text": "AC standard"}],
    "elements": [
        {
            "price_components": [
                {"type": "ENERGY", "price": 0.3912, "vat": 19.0, "step_size": 1},
                {"type": "FLAT", "price": 0.50, "step_size": 1},
            ]
        }
    ],
    "last_updated": "2026-01-01T00:00:00Z",
}

TARIFF_TEXT = """{
  "id": "AC-STANDARD", "currency": "EUR", "country_code": "DE", "party_id": "ABC",
  "elements": [{"price_components": [
    {"type": "ENERGY", "price": 0.391234567890123456789, "vat": 19.0, "step_size": 1}
  ]}],
  "last_updated": "2026-01-01T00:00:00Z"
}"""


def tariff(**changes: Any) -> dict[str, Any]:
    """The sample tariff with some top-level fields changed (None removes one)."""
    data = copy.deepcopy(TARIFF)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def priced(energy: str) -> dict[str, Any]:
    """The sample tariff with another energy price (JSON number text)."""
    from decimal import Decimal

    data = tariff()
    data["elements"][0]["price_components"][0]["price"] = Decimal(energy)
    return data
