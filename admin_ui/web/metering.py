"""A session's meter values as the chart's series: energy (kWh, the
register) and power (kW) over time, totals only (no phases)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from csms.domain.views import MeterValueView

# A session's meter values by its id (the composition root's query).
MeterReader = Callable[[int], Awaitable[list[MeterValueView]]]
# A station's latest OCPP messages by charge point id, up to ``limit``
# (oldest first): objects with logged_at, direction, action, payload...
MessageReader = Callable[..., Awaitable[list[Any]]]

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
# Points drawn at most (a long session is thinned evenly).
MAX_POINTS = 600
_TO_KILO = {"Wh": Decimal("0.001"), "kWh": Decimal(1), "W": Decimal("0.001"), "kW": Decimal(1)}


def _kilo(value: MeterValueView) -> float | None:
    factor = _TO_KILO.get(value.unit or ("Wh" if value.measurand == ENERGY else "W"))
    if factor is None or value.format == "SignedData":
        return None
    try:
        number = Decimal(value.value) * factor * (Decimal(10) ** value.multiplier)
    except (InvalidOperation, ValueError):
        return None
    return float(number)


def series(values: Sequence[MeterValueView], measurand: str) -> list[tuple[datetime, float]]:
    """The measurand's total (no phase) over time, in kWh or kW."""
    points = [
        (v.sampled_at, number)
        for v in values
        if v.measurand == measurand and not v.phase and (number := _kilo(v)) is not None
    ]
    if len(points) > MAX_POINTS:
        step = len(points) / MAX_POINTS
        points = [points[int(i * step)] for i in range(MAX_POINTS)] + [points[-1]]
    return points


def energy_since_start(points: list[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    """The register less its first reading: energy charged so far."""
    if not points:
        return []
    first = points[0][1]
    return [(at, value - first) for at, value in points]
