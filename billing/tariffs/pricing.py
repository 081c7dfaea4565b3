"""Price a charging session with an OCPI 2.2.1 tariff.

Input: a ``Tariff``, the CDR's ``charging_periods`` (each lasts until the next
one starts, the last until the session ends), the session start/end and the
station's time zone. Output: a ``PricedSession`` with one ``PricedLine`` per
period and priced dimension, and the CDR totals.

The rules, as OCPI 2.2.1 (mod_tariffs, mod_cdrs) states them and TandemDrive's
reference calculator ``ocpi-tariffs`` applies them (its test cases must match):

* Which tariff: it must be valid at the session start (``start_date_time``
  inclusive, ``end_date_time`` exclusive), else ``PricingError``.
* Which element, per dimension: for every period and every dimension
  separately, the FIRST element that has a price component of that type and
  whose restrictions ALL hold (OCPI: "the first Tariff Element with a Price
  Component for that dimension ... with matching Tariff Restrictions"). So a
  period can take ENERGY from element 2 and TIME from element 0. No match: that
  dimension is free in that period.
* Restrictions are checked at the START of each period, in the station's
  local time (a period is not split at a boundary; CDR producers split
  periods where prices change):
  start_time inclusive, end_time exclusive; end_time before start_time wraps
  past midnight, and end_time 00:00 means the end of the day; start_date
  inclusive, end_date exclusive, both local dates; day_of_week is the local
  weekday; min_kwh/max_kwh compare the energy charged BEFORE the period
  (min inclusive, max exclusive); min_duration/max_duration compare the
  seconds elapsed since the first period started (min inclusive, max
  exclusive); min/max_current and min/max_power compare the period's
  MIN_/MAX_ dimension (falling back to CURRENT/POWER), min inclusive, max
  exclusive, and hold when the period reports no such value (as the reference).
* Reservation: an element with a ``reservation`` restriction prices only the
  RESERVATION_TIME dimension (with its TIME component) and its FLAT fee, and
  never charging (OCPI: it "describes reservation costs"). An expired
  reservation (``reservation_expired=True``) looks at RESERVATION_EXPIRES
  elements first. This goes to ``total_reservation_cost``. (The reference
  ignores the restriction and would charge a reservation element's FLAT fee
  on every session; OCPI is followed here.)
* FLAT: charged once per session, at the first period where a FLAT component
  applies (later FLAT components are dropped, as in the reference).
* step_size rounds up the BILLABLE total of a dimension over the whole session
  (ENERGY in Wh, TIME and PARKING_TIME in seconds) with the step of the
  component active in the last priced period of that dimension; the extra
  volume is billed in that last period at its price (OCPI's "switching to a
  different Tariff Element" example: 25 min at 1.20 + 20 min at 2.40).
  TIME and PARKING_TIME are both "time-based": only the one priced LAST in
  the session is rounded. Charging followed by priced parking therefore
  rounds parking but NOT charging time ("the charging time is not affected by
  step_size because it is followed by another time-based period", complex
  tariff example; in the reference: TIME is stepped only when no
  PARKING_TIME component was ever active). That is why, in the ``step_size``
  case, TIME (2 x 5 min) is billed exactly while 2 min of parking are billed
  as 15. Free periods (no component) are not billable: OCPI's free-of-charge
  example rounds 8 paid minutes of parking to 15, not all 20.
* VAT per component: incl_vat = excl_vat * (1 + vat/100); a component
  without ``vat`` has no VAT, incl_vat = excl_vat (not "unknown": that only
  exists for OCPI 2.1.1 tariffs in the reference).
* Precision: volumes and prices are read at 4 decimals (half-up, as the
  reference does), everything in between is exact, and every total is
  rounded once to 4 decimals half-up. Line amounts stay exact (rounding them
  first would change totals: 0.10008 + 0.20016 = 0.3002, not 0.1001 + 0.2002).
* min_price/max_price bound ``total_cost`` only (OCPI: excl_vat and incl_vat
  each on their own; a bound without incl_vat moves incl_vat by the same
  amount as excl_vat). The dimension totals stay as supplied and the
  difference is ``price_adjustment``, so an invoice can show it as a line.
  The reference calculator does not apply them at all.
* total_time is from the first period's start to the session end (including
  parking); total_energy/total_charging_time/total_parking_time sum the CDR
  volumes, priced or not; ``billed_*`` add the step-size rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from billing.money import FOUR_PLACES, ZERO, ceil_to_step, quantize4
from billing.tariffs.cdr_input import CdrDimensionType, CdrInput, ChargingPeriod
from billing.tariffs.model import (
    DayOfWeek,
    Price,
    PriceComponent,
    ReservationRestrictionType,
    Tariff,
    TariffDimensionType,
    TariffRestrictions,
)

__all__ = [
    "Cost",
    "PriceAdjustment",
    "PricedLine",
    "PricedSession",
    "PricingError",
    "SuppliedLine",
    "price_cdr",
    "price_session",
]

_HOUR = Decimal(3600)
_KWH = Decimal(1000)


class PricingError(ValueError):
    """The session cannot be priced with this tariff (not valid then, bad zone...)."""


class Cost(msgspec.Struct, frozen=True, kw_only=True):
    """An amount excluding and including VAT."""

    excl_vat: Decimal
    incl_vat: Decimal

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            excl_vat=self.excl_vat + other.excl_vat, incl_vat=self.incl_vat + other.incl_vat
        )

    def rounded(self) -> Cost:
        """Both amounts at OCPI's 4 decimals."""
        return Cost(excl_vat=quantize4(self.excl_vat), incl_vat=quantize4(self.incl_vat))


_NO_COST = Cost(excl_vat=ZERO, incl_vat=ZERO)


class PriceAdjustment(StrEnum):
    MIN_PRICE = "MIN_PRICE"
    MAX_PRICE = "MAX_PRICE"


class PricedLine(msgspec.Struct, frozen=True, kw_only=True):
    """One dimension of one charging period, priced.

    ``volume`` is what the CDR reports (kWh for ENERGY, hours for the times, 1
    for FLAT); ``billed_volume`` adds the step-size rounding (only on the last
    priced line of a dimension). ``cost`` is exact, not rounded."""

    period_index: int
    start_date_time: datetime
    end_date_time: datetime
    dimension: TariffDimensionType
    reservation: bool  # a reservation's TIME (RESERVATION_TIME) or FLAT fee
    element_index: int
    price: Decimal  # per unit, excl. VAT
    vat: Decimal | None  # percent, None = no VAT
    step_size: int
    volume: Decimal
    billed_volume: Decimal
    cost: Cost


class SuppliedLine(msgspec.Struct, frozen=True, kw_only=True):
    """What was supplied at one price, summed over the session (for invoices)."""

    dimension: TariffDimensionType
    reservation: bool
    element_index: int
    price: Decimal
    vat: Decimal | None
    volume: Decimal
    billed_volume: Decimal
    cost: Cost  # exact


class PricedSession(msgspec.Struct, frozen=True, kw_only=True):
    """A session priced with one tariff: the lines and the OCPI CDR totals.

    Totals are rounded to 4 decimals; ``total_cost`` includes reservation
    costs and ``price_adjustment`` (min_price/max_price)."""

    tariff_id: str
    currency: str
    time_zone: str
    lines: tuple[PricedLine, ...]
    total_cost: Cost
    total_energy_cost: Cost
    total_time_cost: Cost
    total_parking_cost: Cost
    total_fixed_cost: Cost
    total_reservation_cost: Cost
    price_adjustment: Cost
    adjustment_reason: PriceAdjustment | None
    total_energy: Decimal  # kWh
    total_time: Decimal  # h, whole session
    total_charging_time: Decimal  # h, sum of TIME
    total_parking_time: Decimal  # h
    total_reservation_time: Decimal  # h
    billed_energy: Decimal
    billed_charging_time: Decimal
    billed_parking_time: Decimal

    def supplied(self) -> tuple[SuppliedLine, ...]:
        """The lines summed per dimension and price component, in first-use order."""
        groups: dict[
            tuple[TariffDimensionType, bool, int, Decimal, Decimal | None], SuppliedLine
        ] = {}
        for line in self.lines:
            key = (line.dimension, line.reservation, line.element_index, line.price, line.vat)
            old = groups.get(key)
            groups[key] = SuppliedLine(
                dimension=line.dimension,
                reservation=line.reservation,
                element_index=line.element_index,
                price=line.price,
                vat=line.vat,
                volume=line.volume + (old.volume if old else ZERO),
                billed_volume=line.billed_volume + (old.billed_volume if old else ZERO),
                cost=line.cost + (old.cost if old else _NO_COST),
            )
        return tuple(groups.values())


def _zone(time_zone: str | tzinfo) -> tzinfo:
    if not isinstance(time_zone, str):
        return time_zone
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise PricingError(f"unknown time zone {time_zone!r}") from None


def _seconds(delta: timedelta) -> Decimal:
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / 1_000_000


def _in_window(now: datetime, r: TariffRestrictions) -> bool:
    clock = now.time().replace(tzinfo=None)
    start, end = r.start_time, r.end_time
    if end is not None and end.hour == 0 and end.minute == 0:
        end = None  # 00:00 as an end is the end of the day
    if start is not None and end is not None and end < start:
        return clock >= start or clock < end
    if start is not None and clock < start:
        return False
    return end is None or clock < end


def _bound(value: Decimal | None, low: Decimal | None, high: Decimal | None) -> bool:
    if value is None:
        return True
    if low is not None and value < low:
        return False
    return high is None or value < high


def _either(value: Decimal | None, fallback: Decimal | None) -> Decimal | None:
    return fallback if value is None else value


class _Condition:
    """One element's restrictions, with what checking them needs worked out
    once per tariff (most elements restrict by one or two things)."""

    __slots__ = ("clock", "dates", "electric", "restrictions")

    def __init__(self, restrictions: TariffRestrictions) -> None:
        r = self.restrictions = restrictions
        self.clock = r.start_time is not None or r.end_time is not None
        self.dates = r.start_date is not None or r.end_date is not None or bool(r.day_of_week)
        self.electric = any(
            bound is not None for bound in (r.min_current, r.max_current, r.min_power, r.max_power)
        )

    def holds(
        self,
        local: datetime,
        elapsed_seconds: Decimal,
        energy_before: Decimal,
        volumes: dict[CdrDimensionType, Decimal],
    ) -> bool:
        r = self.restrictions
        if self.clock and not _in_window(local, r):
            return False
        if self.dates:
            day = local.date()
            if r.start_date is not None and day < r.start_date:
                return False
            if r.end_date is not None and day >= r.end_date:
                return False
            if r.day_of_week and DayOfWeek.of(day) not in r.day_of_week:
                return False
        if not _bound(energy_before, r.min_kwh, r.max_kwh):
            return False
        if r.min_duration is not None and elapsed_seconds < r.min_duration:
            return False
        if r.max_duration is not None and elapsed_seconds >= r.max_duration:
            return False
        if not self.electric:
            return True
        current = volumes.get(CdrDimensionType.CURRENT)
        power = volumes.get(CdrDimensionType.POWER)
        low_current = _either(volumes.get(CdrDimensionType.MIN_CURRENT), current)
        high_current = _either(volumes.get(CdrDimensionType.MAX_CURRENT), current)
        low_power = _either(volumes.get(CdrDimensionType.MIN_POWER), power)
        high_power = _either(volumes.get(CdrDimensionType.MAX_POWER), power)
        return (
            _bound(low_current, r.min_current, None)
            and _bound(high_current, None, r.max_current)
            and _bound(low_power, r.min_power, None)
            and _bound(high_power, None, r.max_power)
        )


class _Rate:
    """A price component read at 4 decimals (price and VAT), as a line costs it."""

    __slots__ = ("component", "factor", "price")

    def __init__(self, component: PriceComponent) -> None:
        self.component = component
        self.price = quantize4(component.price)
        self.factor = None if component.vat is None else 1 + quantize4(component.vat) / 100

    def cost(self, volume: Decimal) -> Cost:
        excl = volume * self.price
        if self.factor is None:
            return Cost(excl_vat=excl, incl_vat=excl)
        return Cost(excl_vat=excl, incl_vat=excl * self.factor)


# (element index, its rate for the dimension, its condition or None)
_Candidate = tuple[int, _Rate, _Condition | None]


class _Plan:
    """A tariff prepared for pricing: per dimension and reservation kind, the
    elements that have a component for it, in element order (the first
    whose restrictions hold prices the dimension)."""

    __slots__ = ("candidates", "needs_local", "tariff")

    def __init__(self, tariff: Tariff) -> None:
        self.tariff = tariff
        self.candidates: dict[
            tuple[TariffDimensionType, ReservationRestrictionType | None],
            tuple[_Candidate, ...],
        ] = {}
        found: dict[
            tuple[TariffDimensionType, ReservationRestrictionType | None], list[_Candidate]
        ] = {}
        self.needs_local = False
        for index, element in enumerate(tariff.elements):
            restrictions = element.restrictions
            condition = None if restrictions is None else _Condition(restrictions)
            if condition is not None and (condition.clock or condition.dates):
                self.needs_local = True
            reservation = restrictions.reservation if restrictions else None
            for kind in TariffDimensionType:
                component = element.component(kind)
                if component is not None:
                    found.setdefault((kind, reservation), []).append(
                        (index, _Rate(component), condition)
                    )
        self.candidates = {key: tuple(value) for key, value in found.items()}

    def find(
        self,
        kind: TariffDimensionType,
        reservation: ReservationRestrictionType | None,
        local: datetime,
        elapsed_seconds: Decimal,
        energy_before: Decimal,
        volumes: dict[CdrDimensionType, Decimal],
    ) -> tuple[int, _Rate] | None:
        for index, rate, condition in self.candidates.get((kind, reservation), ()):
            if condition is None or condition.holds(local, elapsed_seconds, energy_before, volumes):
                return index, rate
        return None


# Tariffs are immutable: each is prepared once. The plan holds its tariff,
# so the id it is kept under cannot be reused while it is kept.
_PLANS: dict[int, _Plan] = {}
_PLANS_KEPT = 4096


def _plan(tariff: Tariff) -> _Plan:
    plan = _PLANS.get(id(tariff))
    if plan is None or plan.tariff is not tariff:
        if len(_PLANS) >= _PLANS_KEPT:
            _PLANS.clear()
        plan = _PLANS[id(tariff)] = _Plan(tariff)
    return plan


class _Line:
    __slots__ = (
        "dimension",
        "element_index",
        "end",
        "extra",
        "period_index",
        "rate",
        "reservation",
        "start",
        "volume",
    )

    def __init__(
        self,
        period_index: int,
        start: datetime,
        end: datetime,
        dimension: TariffDimensionType,
        reservation: bool,
        element_index: int,
        rate: _Rate,
        volume: Decimal,
    ) -> None:
        self.period_index = period_index
        self.start = start
        self.end = end
        self.dimension = dimension
        self.reservation = reservation
        self.element_index = element_index
        self.rate = rate
        self.volume = volume
        self.extra = ZERO

    def freeze(self) -> PricedLine:
        billed = self.volume + self.extra
        component = self.rate.component
        return PricedLine(
            period_index=self.period_index,
            start_date_time=self.start,
            end_date_time=self.end,
            dimension=self.dimension,
            reservation=self.reservation,
            element_index=self.element_index,
            price=component.price,
            vat=component.vat,
            step_size=component.step_size,
            volume=self.volume,
            billed_volume=billed,
            cost=self.rate.cost(billed),
        )


def _step(lines: list[_Line], unit: Decimal) -> Decimal:
    """Round the billable total of ``lines`` (one dimension, in period order) up
    to the step of the last one, in ``unit`` per step (Wh: 1000 per kWh,
    seconds: 3600 per hour); the extra goes to the last line. Returns it."""
    if not lines or lines[-1].rate.component.step_size <= 0:
        return ZERO
    billable = sum((line.volume for line in lines), ZERO)
    billed = ceil_to_step(billable * unit, Decimal(lines[-1].rate.component.step_size)) / unit
    extra = billed - billable
    lines[-1].extra += extra
    return extra


_CHARGING_DIMENSIONS = (
    (TariffDimensionType.ENERGY, CdrDimensionType.ENERGY),
    (TariffDimensionType.TIME, CdrDimensionType.TIME),
    (TariffDimensionType.PARKING_TIME, CdrDimensionType.PARKING_TIME),
)
_ONE = Decimal(1)
# quantize4 without its call: a CDR reads a few dozen volumes and amounts.
_quantize4 = Decimal.quantize
_FOUR_PLACES = FOUR_PLACES
_HALF_UP = ROUND_HALF_UP


def _first(
    candidates: tuple[_Candidate, ...],
    local: datetime,
    elapsed: Decimal,
    energy_before: Decimal,
    volumes: dict[CdrDimensionType, Decimal],
) -> tuple[int, _Rate] | None:
    """The first candidate whose restrictions hold: its element index and rate."""
    for index, rate, condition in candidates:
        if condition is None or condition.holds(local, elapsed, energy_before, volumes):
            return index, rate
    return None


def _reserved_find(
    plan: _Plan,
    kind: TariffDimensionType,
    reservation_kinds: tuple[ReservationRestrictionType, ...],
    local: datetime,
    elapsed: Decimal,
    energy_before: Decimal,
    volumes: dict[CdrDimensionType, Decimal],
) -> tuple[int, _Rate] | None:
    """The element that prices ``kind`` of a reservation, the kinds in order."""
    for wanted in reservation_kinds:
        hit = plan.find(kind, wanted, local, elapsed, energy_before, volumes)
        if hit is not None:
            return hit
    return None


def price_session(
    tariff: Tariff,
    periods: Sequence[ChargingPeriod],
    *,
    start: datetime,
    end: datetime,
    time_zone: str | tzinfo,
    reservation_expired: bool = False,
) -> PricedSession:
    """Price the session made of ``periods`` (in time order, the last ending at
    ``end``) with ``tariff``; restrictions read the clock in ``time_zone``."""
    zone = _zone(time_zone)
    if start.tzinfo is None or end.tzinfo is None:
        raise PricingError("session start and end must be timezone-aware")
    if not tariff.is_active_at(start):
        raise PricingError(
            f"tariff {tariff.id} is not valid at the session start {start.isoformat()}"
        )
    plan = _plan(tariff)
    origin = periods[0].start_date_time if periods else start
    reservation_kinds = (
        (ReservationRestrictionType.RESERVATION_EXPIRES, ReservationRestrictionType.RESERVATION)
        if reservation_expired
        else (ReservationRestrictionType.RESERVATION,)
    )

    lines: list[_Line] = []
    energy_before = ZERO
    flat_done = reservation_flat_done = False
    # Each charging dimension with its candidates (no reservation), looked
    # up once, and the CDR's volume of it summed over the periods as read
    # (4 decimals) in ``read`` at the same place: energy, time, parking.
    charging_dimensions = [
        (kind, cdr_kind, plan.candidates.get((kind, None), ()))
        for kind, cdr_kind in _CHARGING_DIMENSIONS
    ]
    read = [ZERO, ZERO, ZERO]
    read_reserved = ZERO
    flat_candidates = plan.candidates.get((TariffDimensionType.FLAT, None), ())
    count = len(periods)
    for index, period in enumerate(periods):
        period_start = period.start_date_time
        period_end = periods[index + 1].start_date_time if index + 1 < count else end
        volumes: dict[CdrDimensionType, Decimal] = {}
        for dimension in period.dimensions:  # the first of a type counts, as OCPI reads it
            volumes.setdefault(dimension.type, dimension.volume)
        # Restrictions are checked in the period's local time; a plan whose
        # elements read no clock or date does not need it.
        local = period_start.astimezone(zone) if plan.needs_local else period_start
        elapsed = _seconds(period_start - origin)

        reserved = volumes.get(CdrDimensionType.RESERVATION_TIME)
        if reserved is not None:
            reserved = _quantize4(reserved, _FOUR_PLACES, _HALF_UP)
            read_reserved += reserved
            hit = _reserved_find(
                plan,
                TariffDimensionType.TIME,
                reservation_kinds,
                local,
                elapsed,
                energy_before,
                volumes,
            )
            if hit is not None:
                lines.append(
                    _Line(
                        index,
                        period_start,
                        period_end,
                        TariffDimensionType.TIME,
                        True,
                        *hit,
                        reserved,
                    )
                )
            if not reservation_flat_done:
                hit = _reserved_find(
                    plan,
                    TariffDimensionType.FLAT,
                    reservation_kinds,
                    local,
                    elapsed,
                    energy_before,
                    volumes,
                )
                if hit is not None:
                    lines.append(
                        _Line(
                            index,
                            period_start,
                            period_end,
                            TariffDimensionType.FLAT,
                            True,
                            *hit,
                            _ONE,
                        )
                    )
                    reservation_flat_done = True
            charging = len(volumes) > 1
        else:
            charging = bool(volumes)
        # Only a period with more than reservation time is charging (so a
        # period of reservation alone adds nothing to the charging totals).
        if charging:
            for slot, (kind, cdr_kind, candidates) in enumerate(charging_dimensions):
                volume = volumes.get(cdr_kind)
                if volume is not None:
                    volume = _quantize4(volume, _FOUR_PLACES, _HALF_UP)
                    read[slot] += volume
                    hit = _first(candidates, local, elapsed, energy_before, volumes)
                    if hit is not None:
                        lines.append(
                            _Line(index, period_start, period_end, kind, False, *hit, volume)
                        )
            if not flat_done:
                hit = _first(flat_candidates, local, elapsed, energy_before, volumes)
                if hit is not None:
                    lines.append(
                        _Line(
                            index,
                            period_start,
                            period_end,
                            TariffDimensionType.FLAT,
                            False,
                            *hit,
                            _ONE,
                        )
                    )
                    flat_done = True
        energy_before = read[0]

    energy_lines: list[_Line] = []
    time_lines: list[_Line] = []
    parking_lines: list[_Line] = []
    reserved_time_lines: list[_Line] = []
    last_timed: TariffDimensionType | None = None
    for open_line in lines:
        kind = open_line.dimension
        if open_line.reservation:
            if kind is TariffDimensionType.TIME:
                reserved_time_lines.append(open_line)
        elif kind is TariffDimensionType.ENERGY:
            energy_lines.append(open_line)
        elif kind is TariffDimensionType.TIME:
            time_lines.append(open_line)
            last_timed = kind
        elif kind is TariffDimensionType.PARKING_TIME:
            parking_lines.append(open_line)
            last_timed = kind
    extra_energy = _step(energy_lines, _KWH)
    extra_time = extra_parking = ZERO
    if last_timed is TariffDimensionType.TIME:
        extra_time = _step(time_lines, _HOUR)
    elif last_timed is TariffDimensionType.PARKING_TIME:
        extra_parking = _step(parking_lines, _HOUR)
    _step(reserved_time_lines, _HOUR)

    priced = tuple(line.freeze() for line in lines)
    energy_cost = time_cost = parking_cost = fixed_cost = reservation_cost = _NO_COST
    for line in priced:
        kind = line.dimension
        if line.reservation:
            reservation_cost += line.cost
        elif kind is TariffDimensionType.ENERGY:
            energy_cost += line.cost
        elif kind is TariffDimensionType.TIME:
            time_cost += line.cost
        elif kind is TariffDimensionType.PARKING_TIME:
            parking_cost += line.cost
        else:
            fixed_cost += line.cost
    supplied = energy_cost + time_cost + parking_cost + fixed_cost + reservation_cost
    bounded, reason = _bounded(supplied, tariff.min_price, tariff.max_price)

    total_energy, total_charging, total_parking = read
    return PricedSession(
        tariff_id=tariff.id,
        currency=tariff.currency,
        time_zone=str(zone),
        lines=priced,
        total_cost=bounded.rounded(),
        total_energy_cost=energy_cost.rounded(),
        total_time_cost=time_cost.rounded(),
        total_parking_cost=parking_cost.rounded(),
        total_fixed_cost=fixed_cost.rounded(),
        total_reservation_cost=reservation_cost.rounded(),
        price_adjustment=Cost(
            excl_vat=bounded.excl_vat - supplied.excl_vat,
            incl_vat=bounded.incl_vat - supplied.incl_vat,
        ).rounded(),
        adjustment_reason=reason,
        total_energy=quantize4(total_energy),
        total_time=quantize4(_seconds(end - origin) / _HOUR),
        total_charging_time=quantize4(total_charging),
        total_parking_time=quantize4(total_parking),
        total_reservation_time=quantize4(read_reserved),
        billed_energy=quantize4(total_energy + extra_energy),
        billed_charging_time=quantize4(total_charging + extra_time),
        billed_parking_time=quantize4(total_parking + extra_parking),
    )


def _bounded(
    cost: Cost, min_price: Price | None, max_price: Price | None
) -> tuple[Cost, PriceAdjustment | None]:
    """``cost`` held within min_price/max_price, excl and incl VAT each on its own."""
    excl, incl = cost.excl_vat, cost.incl_vat
    reason: PriceAdjustment | None = None
    if min_price is not None:
        floor_excl = quantize4(min_price.excl_vat)
        floor_incl = (
            quantize4(min_price.incl_vat)
            if min_price.incl_vat is not None
            else incl + max(floor_excl - excl, ZERO)
        )
        if excl < floor_excl or incl < floor_incl:
            excl, incl = max(excl, floor_excl), max(incl, floor_incl)
            reason = PriceAdjustment.MIN_PRICE
    if max_price is not None:
        cap_excl = quantize4(max_price.excl_vat)
        cap_incl = (
            quantize4(max_price.incl_vat)
            if max_price.incl_vat is not None
            else incl - max(excl - cap_excl, ZERO)
        )
        if excl > cap_excl or incl > cap_incl:
            excl, incl = min(excl, cap_excl), min(incl, cap_incl)
            reason = PriceAdjustment.MAX_PRICE
    return Cost(excl_vat=excl, incl_vat=incl), reason


def price_cdr(
    tariff: Tariff,
    cdr: CdrInput,
    *,
    time_zone: str | None = None,
    reservation_expired: bool = False,
) -> PricedSession:
    """Price a parsed CDR. The time zone is the CDR location's
    (``cdr_location.time_zone``) when it has one, else ``time_zone``, else UTC.
    A CDR in another currency than the tariff's is refused."""
    if cdr.currency is not None and cdr.currency != tariff.currency:
        raise PricingError(
            f"the CDR is in {cdr.currency} but tariff {tariff.id} is in {tariff.currency}"
        )
    return price_session(
        tariff,
        cdr.charging_periods,
        start=cdr.start_date_time,
        end=cdr.end_date_time,
        time_zone=cdr.time_zone or time_zone or "UTC",
        reservation_expired=reservation_expired,
    )
