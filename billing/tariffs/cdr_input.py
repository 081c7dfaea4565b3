"""The parts of an OCPI 2.2.1 CDR that pricing reads: the session's start and
end, its ``charging_periods`` (start + dimensions), its currency and the
location's time zone and country.

``parse_cdr_input`` raises ``CdrError`` naming every bad field with its JSON
path, like ``parse_tariff``. Fields pricing does not need are not checked
(a CDR's expected totals, ids, tokens...).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from billing.tariffs._checks import Checker, format_errors, load_json

__all__ = [
    "CdrDimension",
    "CdrDimensionType",
    "CdrError",
    "CdrInput",
    "ChargingPeriod",
    "parse_cdr_input",
]


class CdrDimensionType(StrEnum):
    CURRENT = "CURRENT"
    ENERGY = "ENERGY"  # kWh
    ENERGY_EXPORT = "ENERGY_EXPORT"
    ENERGY_IMPORT = "ENERGY_IMPORT"
    MAX_CURRENT = "MAX_CURRENT"  # A
    MIN_CURRENT = "MIN_CURRENT"  # A
    MAX_POWER = "MAX_POWER"  # kW
    MIN_POWER = "MIN_POWER"  # kW
    PARKING_TIME = "PARKING_TIME"  # h
    POWER = "POWER"  # kW
    RESERVATION_TIME = "RESERVATION_TIME"  # h
    STATE_OF_CHARGE = "STATE_OF_CHARGE"
    TIME = "TIME"  # h charging


class CdrDimension(msgspec.Struct, frozen=True, kw_only=True):
    type: CdrDimensionType
    volume: Decimal


class ChargingPeriod(msgspec.Struct, frozen=True, kw_only=True):
    """One OCPI ``ChargingPeriod``: it lasts until the next one starts (the last
    one until the session ends)."""

    start_date_time: datetime
    dimensions: tuple[CdrDimension, ...]

    def volume(self, kind: CdrDimensionType) -> Decimal | None:
        return next((d.volume for d in self.dimensions if d.type is kind), None)


class CdrInput(msgspec.Struct, frozen=True, kw_only=True):
    start_date_time: datetime
    end_date_time: datetime
    charging_periods: tuple[ChargingPeriod, ...]
    currency: str | None = None
    time_zone: str | None = None  # cdr_location.time_zone, an IANA name
    country: str | None = None  # cdr_location.country, ISO 3166 alpha-3


class CdrError(ValueError):
    """A CDR pricing cannot read; ``errors`` holds (path, message) for each bad field."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__(format_errors(self.errors))


# Dimensions that are amounts of something (never negative).
_NON_NEGATIVE = {
    CdrDimensionType.ENERGY,
    CdrDimensionType.ENERGY_EXPORT,
    CdrDimensionType.ENERGY_IMPORT,
    CdrDimensionType.PARKING_TIME,
    CdrDimensionType.RESERVATION_TIME,
    CdrDimensionType.TIME,
    CdrDimensionType.STATE_OF_CHARGE,
}


def parse_cdr_input(data: bytes | str | dict[str, Any]) -> CdrInput:
    """The pricing input in the OCPI CDR ``data``; ``CdrError`` lists every bad field."""
    if isinstance(data, bytes | str):
        try:
            data = load_json(data)
        except (ValueError, UnicodeDecodeError) as error:
            raise CdrError([("(document)", f"not valid JSON: {error}")]) from None
    check = Checker()
    result = _read_cdr(check, data)
    if check.errors or result is None:
        raise CdrError(check.errors or [("(document)", "not a CDR")])
    return result


def _read_cdr(check: Checker, data: Any) -> CdrInput | None:
    obj = check.obj(data, "")
    if obj is None:
        return None
    start = check.field(obj, "start_date_time", "", check.datetime, required=True)
    end = check.field(obj, "end_date_time", "", check.datetime, required=True)
    currency = check.field(obj, "currency", "", lambda v, p: check.string(v, p, pattern="[A-Z]{3}"))
    time_zone = country = None
    location = check.field(obj, "cdr_location", "", check.obj)
    if location is not None:
        time_zone = check.field(location, "time_zone", "cdr_location", _time_zone(check))
        country = check.field(
            location, "country", "cdr_location", lambda v, p: check.string(v, p, max_length=3)
        )
    periods = check.field(
        obj, "charging_periods", "", lambda v, p: _read_periods(check, v, p), required=True
    )
    if start is not None and end is not None and end < start:
        check.bad("end_date_time", "must not be before start_date_time")
    if periods and start is not None and periods[0].start_date_time < start:
        check.bad("charging_periods[0].start_date_time", "must not be before start_date_time")
    if periods and end is not None and periods[-1].start_date_time > end:
        check.bad(
            f"charging_periods[{len(periods) - 1}].start_date_time",
            "must not be after end_date_time",
        )
    if check.errors:
        return None
    assert start is not None and end is not None and periods is not None
    return CdrInput(
        start_date_time=start,
        end_date_time=end,
        charging_periods=periods,
        currency=currency,
        time_zone=time_zone,
        country=country,
    )


def _time_zone(check: Checker) -> Any:
    def read(value: Any, path: str) -> str | None:
        name = check.string(value, path)
        if name is None:
            return None
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            check.bad(path, f"unknown time zone {name!r} (an IANA name like Europe/Berlin)")
            return None
        return name

    return read


def _read_periods(check: Checker, value: Any, path: str) -> tuple[ChargingPeriod, ...]:
    periods: list[ChargingPeriod] = []
    ok = True
    for _, item, where in check.items(value, path, non_empty=True):
        obj = check.obj(item, where)
        if obj is None:
            ok = False
            continue
        start = check.field(obj, "start_date_time", where, check.datetime, required=True)
        dimensions = check.field(
            obj, "dimensions", where, lambda v, p: _read_dimensions(check, v, p), required=True
        )
        if start is None or dimensions is None:
            ok = False
            continue
        if periods and ok and start < periods[-1].start_date_time:
            check.bad(
                check.join(where, "start_date_time"),
                "must not be before the previous period's start",
            )
        periods.append(ChargingPeriod(start_date_time=start, dimensions=dimensions))
    return tuple(periods)


def _read_dimensions(check: Checker, value: Any, path: str) -> tuple[CdrDimension, ...] | None:
    dimensions: list[CdrDimension] = []
    seen: set[CdrDimensionType] = set()
    ok = True
    for _, item, where in check.items(value, path, non_empty=True):
        obj = check.obj(item, where)
        if obj is None:
            ok = False
            continue
        kind = check.field(
            obj, "type", where, lambda v, p: check.enum(v, p, CdrDimensionType), required=True
        )
        non_negative = kind is None or kind in _NON_NEGATIVE
        raw = obj.get("volume")
        where_volume = check.join(where, "volume")
        volume = (
            check.number(raw, where_volume, non_negative=non_negative) if raw is not None else None
        )
        if raw is None:
            check.bad(where_volume, "is required")
        if kind is not None and kind in seen:
            check.bad(check.join(where, "type"), f"{kind.value} appears twice in this period")
            ok = False
        elif kind is not None:
            seen.add(kind)
        if kind is not None and volume is not None and ok:
            dimensions.append(CdrDimension(type=kind, volume=volume))
        else:
            ok = False
    return tuple(dimensions) if ok and isinstance(value, list) and value else None
