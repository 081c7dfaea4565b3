"""What a charger reported, as OCPI 2.2.1 charging periods.

Input: a session's start and stop (with the meter registers the charger sent
with StartTransaction/StopTransaction or the 2.0.1 Started/Ended events), its
raw sampled values and its connector states. Output: consecutive periods, each
with ENERGY (kWh), TIME (h, charging) or PARKING_TIME (h, plugged in, not
charging) and, where samples give them, MAX_POWER/MIN_POWER (kW) and
MAX_CURRENT/MIN_CURRENT (A), plus the totals. Pure: no I/O.

Rules, and why
==============

Charging or parking
    Only ``Charging`` counts as charging. Every other known state (1.6:
    Available, Preparing, SuspendedEV, SuspendedEVSE, Finishing, Reserved,
    Unavailable, Faulted; 2.0.1: EVConnected, SuspendedEV, SuspendedEVSE, Idle)
    is parking: OCPI has no third kind of session time, and the session (not
    the connector) decides when billing ends. A state string we do not know
    changes nothing (the previous state holds). Several states at one instant:
    the last one given wins. Before the first state we know of (no state at or
    before the start), and in a session with no states at all, the session is
    charging: a session is a charge unless something says otherwise.

Power as a second signal
    Chargers report states late (Charging after the current already flows) or
    stay in a suspended state while the EV draws power. Inside a parking state,
    each Power.Active.Import reading (or, at instants without one,
    Current.Import reading) holds from its time until the next such reading or
    the end of that state; a reading above the threshold makes that stretch
    charging. Thresholds: more than ``POWER_THRESHOLD_W`` = 100 W, or more than
    ``CURRENT_THRESHOLD_A`` = 1 A summed over the phases. An EV whose charging
    is suspended still draws its on-board electronics' standby (tens of watts,
    a few hundred mA): below these values it is not charging; real charging is
    at least 6 A per phase (IEC 61851), far above them. Readings taken before a
    parking state began never reach into it (a stale 11 kW reading does not
    override a SuspendedEV that followed it). The signal only turns parking
    into charging, never the other way: a Charging EV at 0 W is still charging
    time under OCPI (TIME is the time the EV is charging, as the charger says).

Where periods start
    At the session start, at every switch between charging and parking, and at
    every ``split_points`` instant inside the session. Time-of-day and weekday
    restrictions are checked per period by the tariff engine, so a period must
    never straddle a local time at which the price may change: the caller
    passes the tariff's boundaries (``tariff_boundaries`` computes them,
    DST-correct). A split point that cuts nothing new is harmless: both halves
    carry the same kind of time.

Energy
    The registers are authoritative. With both ``meter_start_wh`` and
    ``meter_stop_wh`` (and stop >= start) the session's energy is exactly
    stop - start; otherwise the energy the register samples show, else 0.
    Its distribution over the periods follows the Energy.Active.Import.Register
    curve: the points (start, meter_start), every register sample inside the
    session, (stop, meter_stop), linear between neighbouring points and flat
    outside them. The per-period shares are then scaled to the total and
    allocated in units of 0.1 Wh (OCPI's 0.0001 kWh) by largest remainder, so
    the ENERGY volumes sum exactly to the register difference. Without any
    shape (no energy in the curve) the total is spread by charging time.
    Energy during a parking period stays in that period as ENERGY (OCPI allows
    ENERGY in any period): moving it would misstate when it flowed and so its
    time-of-day price, and a tariff that does not want to price it can restrict
    its energy component.

Units
    Sampled values are ``value * 10**multiplier`` in their unit; kWh and kW are
    converted to Wh and W (unit names compared case-insensitively; no unit
    means Wh, W or A by measurand). A sample of a known measurand in a unit we
    cannot convert (varh, VA, ...) is ignored. Per-phase values (L1, L2, L3,
    also written L1-N ...) are summed when no phase-less total was given at
    that instant (OCPI: MAX_CURRENT is the sum over the phases); N is ignored.

Imperfect data (never an exception)
    Samples are sorted by time (stable). Duplicates (same instant, measurand
    and phase) keep the last one given: a retransmission is the same value and
    a correction comes later. Samples outside [start, stop] are ignored: they
    belong to another session or to a skewed clock, and the meter values
    anchor the ends. A register that goes backwards (meter replaced or reset)
    adds nothing for that step and the lower reading is the new baseline. A
    drop the register recovers from (meter_stop at or above every earlier
    reading) was a glitch: the register difference stays authoritative and
    the curve only shapes. A drop that lasts to the stop (meter_stop below
    meter_start or below an earlier sample) was a reset: the register
    difference mixes two meters and is not energy, so the curve's total is
    used instead. A stop before the start is
    treated as a zero-length session. Every such repair is named in ``notes``.

Precision
    Seconds and Wh are exact internally (integer microseconds since the start;
    readings as integers over a common denominator per measurand, so the
    interpolation and the largest-remainder allocation are integer
    arithmetic), and divided once at the end. Volumes carry 4 decimals (OCPI
    prices at 4), allocated by largest remainder per kind: the TIME volumes
    sum to the session's charging hours rounded half-up to 4 decimals
    (likewise PARKING_TIME), each within 0.0001 h (0.36 s) of its exact value.
    A period also carries its exact ``seconds`` and ``energy_wh`` for a pricer
    that applies step sizes in seconds (0.0167 h is 60.12 s, not 60 s).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction
from itertools import pairwise
from math import gcd, lcm
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

__all__ = [
    "CURRENT_THRESHOLD_A",
    "POWER_THRESHOLD_W",
    "ChargingPeriod",
    "Dimension",
    "DimensionType",
    "Sample",
    "SessionPeriods",
    "SessionReadings",
    "StateChange",
    "charging_periods",
    "tariff_boundaries",
]

ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER_IMPORT = "Power.Active.Import"
CURRENT_IMPORT = "Current.Import"

POWER_THRESHOLD_W = Decimal(100)
CURRENT_THRESHOLD_A = Decimal(1)

_FOUR = Decimal("0.0001")
_UNITS_PER_WH = 10  # energy is allocated in 0.1 Wh = 0.0001 kWh
_UNITS_PER_HOUR = 10_000  # time is allocated in 0.0001 h

# Factor to Wh, W or A, by measurand and lower-cased unit ("" = the default).
_UNIT_FACTORS: dict[str, dict[str, int]] = {
    ENERGY_REGISTER: {"": 1, "wh": 1, "kwh": 1000},
    POWER_IMPORT: {"": 1, "w": 1, "kw": 1000},
    CURRENT_IMPORT: {"": 1, "a": 1},
}

_CHARGING = "charging"
_PARKING = "parking"
_STATE_KINDS: dict[str, str] = {
    "charging": _CHARGING,
    # 1.6 StatusNotification
    "available": _PARKING,
    "preparing": _PARKING,
    "suspendedev": _PARKING,
    "suspendedevse": _PARKING,
    "finishing": _PARKING,
    "reserved": _PARKING,
    "unavailable": _PARKING,
    "faulted": _PARKING,
    # 2.0.1 chargingState (Charging, SuspendedEV, SuspendedEVSE above)
    "evconnected": _PARKING,
    "idle": _PARKING,
}


class Sample(msgspec.Struct, frozen=True):
    """One raw OCPP sampled value: ``value * 10**multiplier`` in ``unit``."""

    at: datetime
    measurand: str
    value: Decimal
    unit: str
    phase: str = ""
    multiplier: int = 0
    context: str = ""


class StateChange(msgspec.Struct, frozen=True):
    """A connector state (1.6 StatusNotification) or 2.0.1 chargingState."""

    at: datetime
    state: str


class SessionReadings(msgspec.Struct, frozen=True):
    """Everything the charger reported about one session."""

    started_at: datetime
    stopped_at: datetime
    meter_start_wh: int | None
    meter_stop_wh: int | None
    samples: list[Sample] = msgspec.field(default_factory=list)
    states: list[StateChange] = msgspec.field(default_factory=list)


class DimensionType(StrEnum):
    """OCPI 2.2.1 CdrDimensionType values this module produces."""

    ENERGY = "ENERGY"  # kWh
    TIME = "TIME"  # hours charging
    PARKING_TIME = "PARKING_TIME"  # hours plugged in, not charging
    MAX_POWER = "MAX_POWER"  # kW
    MIN_POWER = "MIN_POWER"  # kW
    MAX_CURRENT = "MAX_CURRENT"  # A, summed over the phases
    MIN_CURRENT = "MIN_CURRENT"  # A, summed over the phases


class Dimension(msgspec.Struct, frozen=True):
    type: DimensionType
    volume: Decimal


class ChargingPeriod(msgspec.Struct, frozen=True):
    """One OCPI charging period, with its end and its exact quantities."""

    start_date_time: datetime
    end_date_time: datetime
    charging: bool
    seconds: Decimal  # exact
    energy_wh: Decimal  # allocated, a multiple of 0.1 Wh
    dimensions: tuple[Dimension, ...]

    def volume(self, kind: DimensionType | str) -> Decimal | None:
        for dimension in self.dimensions:
            if dimension.type == kind:
                return dimension.volume
        return None

    def to_ocpi(self) -> dict[str, Any]:
        return {
            "start_date_time": ocpi_datetime(self.start_date_time),
            "dimensions": [{"type": str(d.type), "volume": d.volume} for d in self.dimensions],
        }


class SessionPeriods(msgspec.Struct, frozen=True):
    """The periods and totals of one session; ``notes`` name every repair."""

    periods: tuple[ChargingPeriod, ...]
    energy_wh: Decimal
    charging_seconds: Decimal
    parking_seconds: Decimal
    # "registers" (meter stop - start), "samples" (register samples), "none"
    energy_source: str
    notes: tuple[str, ...] = ()

    @property
    def total_energy_kwh(self) -> Decimal:
        return _to_decimal(Fraction(self.energy_wh) / 1000)

    @property
    def total_time_hours(self) -> Decimal:
        return _to_decimal(Fraction(self.charging_seconds + self.parking_seconds) / 3600)

    def to_ocpi(self) -> list[dict[str, Any]]:
        """OCPI CDR ``charging_periods``: volumes as Decimal, times as UTC text."""
        return [period.to_ocpi() for period in self.periods]


def ocpi_datetime(at: datetime) -> str:
    """OCPI DateTime: RFC 3339 in UTC with a ``Z``, fractions only when present."""
    text = at.astimezone(UTC).replace(tzinfo=None).isoformat()
    return text + "Z"


# --------------------------------------------------------------------------
# Public functions
#
# Internally every instant is an int: microseconds since the session start (in
# UTC). Readings are ints over one denominator per measurand (``_Points``).
# Everything up to the output Decimals is exact integer arithmetic; the
# results are identical to those of the Fraction-based formulation the rules
# were first written in (tests/unit/billing_rating/reference_periods.py).


def charging_periods(
    readings: SessionReadings, split_points: Sequence[datetime] = ()
) -> SessionPeriods:
    """The session's OCPI charging periods (see the module docstring for the rules)."""
    notes: list[str] = []
    start = readings.started_at
    if start.tzinfo is not UTC:  # (astimezone would return a UTC datetime itself)
        start = _utc(start, "started_at")
    stop = readings.stopped_at
    if stop.tzinfo is not UTC:
        stop = _utc(stop, "stopped_at")
    if stop < start:
        notes.append(f"stop {stop.isoformat()} before start: zero-length session")
        stop = start
    end = (stop - start) // _MICROSECOND
    # Instants a period may start or end at, as the (UTC) datetimes to report.
    known: dict[int, datetime] = {0: start, end: stop}

    if readings.samples:
        try:
            energy, power, current = _collect_samples(readings.samples, start, end, known, notes)
        except Exception:
            _check_sample_times(readings.samples, start)
            raise
    else:
        energy = power = current = _EMPTY
    if readings.states:
        segments = _classify(readings.states, start, end, known, power, current)
    else:
        segments = [(0, end, True)]
    # Every segment is non-empty unless the session is (then it is the only one).
    cuts = _cuts(split_points, start, end, known) if split_points else None
    spans = _cut(segments, cuts) if cuts else segments

    meter_start, meter_stop = readings.meter_start_wh, readings.meter_stop_wh
    curve = _EnergyCurve(meter_start, meter_stop, start, end, energy, notes)
    total_units, source = _energy_total(meter_start, meter_stop, curve, energy, notes)

    count = len(spans)
    seconds: list[int] = []
    charging_idx: list[int] = []
    parking_idx: list[int] = []
    charging_total = 0
    for i, (a, b, is_charging) in enumerate(spans):
        length = b - a
        seconds.append(length)
        if is_charging:
            charging_idx.append(i)
            charging_total += length
        else:
            parking_idx.append(i)
    parking_total = end - charging_total

    if not total_units:
        energy_units = [0] * count
    elif count == 1:
        # all of it; the curve gives no shape when it is flat over the session
        # (its value at the start is 0 unless the session has no length)
        if not (end and curve.total):
            notes.append("register samples give no shape: energy spread by time")
        energy_units = [total_units]
    else:
        weights = curve.shares(spans)
        if not any(weights):
            charging_micros = [s if c else 0 for s, (_, _, c) in zip(seconds, spans, strict=True)]
            weights = charging_micros if any(charging_micros) else seconds
            if not any(weights):
                weights = [1] + [0] * (count - 1)
            notes.append("register samples give no shape: energy spread by time")
        energy_units = _allocate(total_units, weights)

    # Per kind, the parts sum to the kind's total hours rounded half-up.
    if count == 1:
        time_units = [_hour_units(end)]
    elif not parking_idx or not charging_idx:  # one kind: its total is the session's
        time_units = _allocate(_hour_units(end), seconds)
    else:
        time_units = [0] * count
        for idx, total in ((charging_idx, charging_total), (parking_idx, parking_total)):
            if len(idx) == 1:  # all of it (its seconds are the total)
                time_units[idx[0]] = _hour_units(total)
            else:
                parts = _allocate(_hour_units(total), [seconds[i] for i in idx])
                for i, part in zip(idx, parts, strict=True):
                    time_units[i] = part

    periods: list[ChargingPeriod] = []
    extremes = power.times or current.times
    for i, (a, b, is_charging) in enumerate(spans):
        energy_i = Decimal(energy_units[i])
        dims: tuple[Dimension, ...] = (
            Dimension(_ENERGY, (energy_i / _ENERGY_PER_KWH).quantize(_FOUR)),
            Dimension(
                _TIME if is_charging else _PARKING_TIME,
                (Decimal(time_units[i]) / _HOUR_UNITS).quantize(_FOUR),
            ),
        )
        if extremes:
            last = i == count - 1
            if power.times:
                dims += _extremes(power, a, b, last, _MAX_POWER, _MIN_POWER, 1000)
            if current.times:
                dims += _extremes(current, a, b, last, _MAX_CURRENT, _MIN_CURRENT, 1)
        periods.append(
            ChargingPeriod(
                known.get(a) or _instant(known, start, a),  # start_date_time
                known.get(b) or _instant(known, start, b),  # end_date_time
                is_charging,  # charging
                _micros_decimal(seconds[i]),  # seconds
                (energy_i / _ENERGY_PER_WH).quantize(_QUANTUM_1),  # energy_wh
                dims,  # dimensions
            )
        )
    return SessionPeriods(
        tuple(periods),  # periods
        (Decimal(total_units) / _ENERGY_PER_WH).quantize(_QUANTUM_1),  # energy_wh
        _micros_decimal(charging_total),  # charging_seconds
        _micros_decimal(parking_total),  # parking_seconds
        source,  # energy_source
        tuple(notes),  # notes
    )


def tariff_boundaries(
    start: datetime, end: datetime, time_zone: str | tzinfo, times_of_day: Iterable[time]
) -> list[datetime]:
    """The UTC instants strictly between ``start`` and ``end`` at which the local
    wall clock of ``time_zone`` reaches one of ``times_of_day`` (pass ``time(0)``
    for day boundaries: weekday restrictions change at midnight).

    DST: a local time skipped by spring-forward (02:30 in Berlin on the last
    Sunday of March) is reached at the transition itself (03:00 CEST = 01:00
    UTC), the first instant the clock shows that time or later. A local time
    that occurs twice at fall-back gives both instants: the price may change at
    either, and an extra split never changes a price.
    """
    zone = _zone(time_zone) if isinstance(time_zone, str) else time_zone
    lo = _utc(start, "start")
    hi = _utc(end, "end")
    if hi <= lo:
        return []
    wanted = tuple(sorted({t.replace(tzinfo=None) for t in times_of_day}))
    first = lo.astimezone(zone).date() - _ONE_DAY
    last = hi.astimezone(zone).date() + _ONE_DAY
    instants = _range_instants(zone, wanted, first, last)
    return list(instants[bisect_right(instants, lo) : bisect_left(instants, hi)])


# --------------------------------------------------------------------------
# Time

_ONE_DAY = timedelta(days=1)
_MICROSECOND = timedelta(microseconds=1)
_ZONES: dict[str, tzinfo] = {}
# Local times of day as UTC instants, per (zone, times of day, day) and per
# (zone, times of day, first day, last day); each cleared when it is full.
_DAY_CACHE: dict[tuple[Any, tuple[time, ...], date], tuple[datetime, ...]] = {}
_RANGE_CACHE: dict[tuple[Any, tuple[time, ...], date, date], tuple[datetime, ...]] = {}
_CACHE_LIMIT = 50_000


def _zone(name: str) -> tzinfo:
    zone = _ZONES.get(name)
    if zone is None:
        zone = _ZONES[name] = ZoneInfo(name)
    return zone


def _range_instants(
    zone: tzinfo, wanted: tuple[time, ...], first: date, last: date
) -> tuple[datetime, ...]:
    """The sorted, distinct UTC instants at which ``zone``'s clock shows a wanted
    time on a day from ``first`` to ``last`` (cached)."""
    key = (zone, wanted, first, last)
    try:
        return _RANGE_CACHE[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable tzinfo: no cache
        return _compute_range_instants(zone, wanted, first, last)
    instants = _compute_range_instants(zone, wanted, first, last)
    if len(_RANGE_CACHE) >= _CACHE_LIMIT:
        _RANGE_CACHE.clear()
    _RANGE_CACHE[key] = instants
    return instants


def _compute_range_instants(
    zone: tzinfo, wanted: tuple[time, ...], first: date, last: date
) -> tuple[datetime, ...]:
    found: set[datetime] = set()
    day = first
    while day <= last:
        found.update(_day_instants(zone, wanted, day))
        day += _ONE_DAY
    return tuple(sorted(found))


def _day_instants(zone: tzinfo, wanted: tuple[time, ...], day: date) -> tuple[datetime, ...]:
    """The sorted UTC instants at which ``zone``'s clock shows a wanted time on ``day``."""
    key = (zone, wanted, day)
    try:
        return _DAY_CACHE[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable tzinfo: no cache
        return _compute_day_instants(zone, wanted, day)
    instants = _compute_day_instants(zone, wanted, day)
    if len(_DAY_CACHE) >= _CACHE_LIMIT:
        _DAY_CACHE.clear()
    _DAY_CACHE[key] = instants
    return instants


def _compute_day_instants(
    zone: tzinfo, wanted: tuple[time, ...], day: date
) -> tuple[datetime, ...]:
    found: set[datetime] = set()
    for t in wanted:
        found.update(_local_instants(datetime.combine(day, t), zone))
    return tuple(sorted(found))


def _utc(at: datetime, what: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what or 'time'} must be timezone-aware: {at!r}")
    return at.astimezone(UTC)


def _since(at: datetime, start: datetime, what: str) -> int:
    """Microseconds from ``start`` (a UTC datetime) to the aware ``at``."""
    zone = at.tzinfo
    if zone is not UTC and (zone is None or at.utcoffset() is None):
        raise ValueError(f"{what or 'time'} must be timezone-aware: {at!r}")
    # Different tzinfo objects: Python subtracts in UTC. The same one (UTC):
    # the wall clocks, which for UTC is the same thing.
    return (at - start) // _MICROSECOND


def _offsets(instants: Sequence[datetime], start: datetime, what: str) -> list[int]:
    """``_since`` of each: the first naive one (in the order given) raises."""
    try:
        # A naive datetime (or one whose utcoffset() is None) cannot be
        # subtracted from the aware start: TypeError, then the ValueError below.
        return [(at - start) // _MICROSECOND for at in instants]
    except TypeError:
        return [_since(at, start, what) for at in instants]


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _instant(known: dict[int, datetime], start: datetime, t: int) -> datetime:
    at = known.get(t)
    if at is None:
        at = known[t] = start + timedelta(microseconds=t)
    return at


def _local_instants(naive: datetime, zone: tzinfo) -> list[datetime]:
    """The UTC instants at which the wall clock of ``zone`` reaches ``naive``."""
    instants = []
    for fold in (0, 1):
        candidate = naive.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if candidate.astimezone(zone).replace(tzinfo=None) == naive:
            instants.append(candidate)
    if instants:
        return sorted(set(instants))
    # Skipped by a forward jump: the first instant the clock shows ``naive`` or
    # later. fold=1 reads it with the offset after the jump (too early, the
    # clock still shows less), fold=0 with the one before (the clock is past it).
    early = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    late = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if early > late:
        early, late = late, early
    while _micros(late - early) > 1:
        middle = early + timedelta(microseconds=_micros(late - early) // 2)
        if middle.astimezone(zone).replace(tzinfo=None) >= naive:
            late = middle
        else:
            early = middle
    return [late]


# --------------------------------------------------------------------------
# Samples


class _Points:
    """One measurand's readings in time order: ``values[i] / denominator`` (Wh, W
    or A) at ``times[i]`` (microseconds since the start)."""

    __slots__ = ("denominator", "times", "values")

    def __init__(self, times: list[int], values: list[int], denominator: int) -> None:
        self.times = times
        self.values = values
        self.denominator = denominator


def _phase(phase: str) -> str | None:
    """ "" for a total, L1/L2/L3 for a phase, None for what is not summed (N, L1-L2)."""
    p = phase.strip().upper()
    if p.endswith("-N"):
        p = p[:-2]
    if p in ("", "L1", "L2", "L3"):
        return p
    return None


_PHASES: dict[str, str | None] = {
    p: _phase(p) for p in ("", "L1", "L2", "L3", "N", "L1-N", "L2-N", "L3-N", "L1-L2")
}

# _UNIT_FACTORS plus the usual spellings, each mapped as its stripped lower case is.
_UNIT_LOOKUP: dict[str, dict[str, int]] = {
    measurand: {
        **factors,
        **{
            unit: factors[unit.strip().lower()]
            for unit in ("Wh", "WH", "kWh", "KWH", "W", "kW", "KW", "A")
            if unit.strip().lower() in factors
        },
    }
    for measurand, factors in _UNIT_FACTORS.items()
}

_NOT_A_PHASE = "?"
_EMPTY = _Points([], [], 1)


class _Readings:
    """One measurand's readings while they are collected: ints over ``scale``,
    per instant (the phase-less total) and per (instant, phase)."""

    __slots__ = ("phased", "scale", "totals")

    def __init__(self) -> None:
        self.totals: dict[int, int] = {}
        self.phased: dict[tuple[int, str], int] = {}
        self.scale = 1

    def add(self, t: int, phase: str, numerator: int, denominator: int) -> bool:
        """Keep ``numerator / denominator`` at ``t``; True if it replaces one."""
        scale = self.scale
        if scale % denominator:  # a finer denominator: rescale what is kept
            finer = lcm(scale, denominator)
            up = finer // scale
            self.totals = {k: v * up for k, v in self.totals.items()}
            self.phased = {k: v * up for k, v in self.phased.items()}
            self.scale = scale = finer
        value = numerator * (scale // denominator)
        if phase:
            key = (t, phase)
            replaced = key in self.phased
            self.phased[key] = value
        else:
            replaced = t in self.totals
            self.totals[t] = value
        return replaced

    def points(self) -> _Points:
        """One value per instant, in time order: the total, else the sum of the phases."""
        totals, phased = self.totals, self.phased
        if phased:
            summed: dict[int, int] = {}
            for (t, _), value in phased.items():
                summed[t] = summed.get(t, 0) + value
            summed.update(totals)
            totals = summed
        elif not totals:
            return _EMPTY
        times = sorted(totals)
        return _Points(times, [totals[t] for t in times], self.scale)


def _check_sample_times(samples: Iterable[Sample], start: datetime) -> None:
    """Every sample time is checked before any sample is used: the first naive
    one (in the order given) is the error. (A naive time cannot be subtracted
    from the aware start: a TypeError in _collect_samples, then this.)"""
    _offsets([sample.at for sample in samples], start, "sample time")


def _collect_samples(
    samples: Iterable[Sample],
    start: datetime,
    end: int,
    known: dict[int, datetime],
    notes: list[str],
) -> tuple[_Points, _Points, _Points]:
    """Energy, power and current points (last given wins, phases summed)."""
    energy = _Readings()
    others: dict[str, _Readings] = {}
    outside = duplicates = unconvertible = 0
    plain: dict[int, int] | None = energy.totals  # while every register value is in Wh
    # In the order given: of several at one instant the last given wins, as
    # after a stable sort by time.
    for sample in samples:
        t = (sample.at - start) // _MICROSECOND
        measurand = sample.measurand
        value = sample.value
        if (
            measurand == ENERGY_REGISTER
            and sample.unit == "Wh"
            and not sample.phase
            and not sample.multiplier
        ):  # the usual register sample, in short
            try:
                numerator, denominator = value.as_integer_ratio()
            except (ValueError, OverflowError):  # NaN, infinite
                unconvertible += 1
                continue
            if not 0 <= t <= end:
                outside += 1
            else:
                if denominator == 1 and plain is not None:
                    if t in plain:
                        duplicates += 1
                    plain[t] = numerator
                else:
                    plain = None
                    duplicates += energy.add(t, "", numerator, denominator)
            continue
        measurand = measurand or ENERGY_REGISTER  # the OCPP default
        lookup = _UNIT_LOOKUP.get(measurand)
        if lookup is None:
            continue
        phase = _PHASES.get(sample.phase, _NOT_A_PHASE)
        if phase == _NOT_A_PHASE:
            phase = _phase(sample.phase)
        if phase is None:
            continue
        unit = sample.unit
        factor = lookup.get(unit)
        if factor is None:
            factor = lookup.get(unit.strip().lower())
        if factor is None or not value.is_finite():
            unconvertible += 1
            continue
        if not 0 <= t <= end:
            outside += 1
            continue
        numerator, denominator = value.as_integer_ratio()
        multiplier = sample.multiplier
        if multiplier > 0:
            factor *= 10**multiplier
        elif multiplier < 0:
            denominator *= 10**-multiplier
        if measurand == ENERGY_REGISTER:
            readings = energy
            plain = None
        else:
            readings = others.get(measurand) or others.setdefault(measurand, _Readings())
            if t not in known:  # a power or current reading may start a period
                at = sample.at
                known[t] = at if at.tzinfo is UTC else at.astimezone(UTC)
        duplicates += readings.add(t, phase, numerator * factor, denominator)
    if outside:
        notes.append(f"{outside} sample(s) outside the session ignored")
    if duplicates:
        notes.append(f"{duplicates} duplicate sample(s): the last one given kept")
    if unconvertible:
        notes.append(f"{unconvertible} sample(s) in a unit that cannot be converted ignored")
    power = others.get(POWER_IMPORT)
    current = others.get(CURRENT_IMPORT)
    if plain is not None and not energy.phased:  # integer Wh totals only
        times = sorted(plain)
        points = _Points(times, [plain[t] for t in times], 1) if times else _EMPTY
    else:
        points = energy.points()
    return (
        points,
        power.points() if power else _EMPTY,
        current.points() if current else _EMPTY,
    )


# --------------------------------------------------------------------------
# Charging or parking

Segment = tuple[int, int, bool]  # from, to (microseconds since the start), charging


def _timeline(states: Iterable[StateChange], start: datetime) -> list[_StateAt]:
    """The known states, by time: at one instant the last given comes last."""
    timeline: list[_StateAt] = []
    for change in states:
        t = (change.at - start) // _MICROSECOND
        kind = _STATE_KINDS.get(change.state)
        if kind is None:
            kind = _STATE_KINDS.get(change.state.strip().lower())
            if kind is None:
                continue
        timeline.append((t, kind == _CHARGING, change))
    if len(timeline) > 1:
        timeline.sort(key=itemgetter(0))  # stable
    return timeline


_StateAt = tuple[int, bool, StateChange]


def _classify(
    states: Iterable[StateChange],
    start: datetime,
    end: int,
    known: dict[int, datetime],
    power: _Points,
    current: _Points,
) -> list[Segment]:
    """Consecutive (from, to, charging) covering [0, end], adjacent kinds merged."""
    try:
        timeline = _timeline(states, start)
    except Exception:
        # Every state time is checked first (before the first one is used).
        _offsets([change.at for change in states], start, "state time")
        raise
    # The state in force at each instant; charging before the first known state.
    initial = True
    changes: list[tuple[int, bool]] = []
    for t, charging, change in timeline:
        if t <= 0:
            initial = charging
        elif t < end:
            if changes and changes[-1][0] == t:
                changes[-1] = (t, charging)
            else:
                changes.append((t, charging))
                if t not in known:
                    at = change.at
                    known[t] = at if at.tzinfo is UTC else at.astimezone(UTC)
    segments: list[Segment] = []
    if not (power.times or current.times):
        # No power signal: the states alone, adjacent kinds merged (every change
        # is strictly inside the session, so no segment is empty).
        edge, in_force = 0, initial
        for t, charging in changes:
            if charging != in_force:
                segments.append((edge, t, in_force))
                edge, in_force = t, charging
        segments.append((edge, end, in_force))
        return segments
    base: list[Segment] = []
    edge, current_kind = 0, initial
    for t, charging in changes:
        base.append((edge, t, current_kind))
        edge, current_kind = t, charging
    base.append((edge, end, current_kind))

    activity = _activity(power, current)
    for a, b, charging in base:
        if charging or a == b:
            segments.append((a, b, charging))
            continue
        inside = [(t, on) for t, on in activity if a <= t < b]
        edge = a
        for i, (t, on) in enumerate(inside):
            until = inside[i + 1][0] if i + 1 < len(inside) else b
            if t > edge:
                segments.append((edge, t, False))
            segments.append((t, until, on))
            edge = until
        if not inside:
            segments.append((a, b, False))
    return _merge(segments)


def _activity(power: _Points, current: _Points) -> list[tuple[int, bool]]:
    """Per instant with a reading: is the EV drawing? Power where given, else current."""
    amps = _CURRENT_THRESHOLD * current.denominator
    drawing = {t: v > amps for t, v in zip(current.times, current.values, strict=True)}
    watts = _POWER_THRESHOLD * power.denominator
    drawing.update({t: v > watts for t, v in zip(power.times, power.values, strict=True)})
    return sorted(drawing.items())


def _merge(segments: list[Segment]) -> list[Segment]:
    merged: list[Segment] = []
    for a, b, charging in segments:
        if merged and merged[-1][2] == charging and merged[-1][1] == a:
            merged[-1] = (merged[-1][0], b, charging)
        elif a < b or not merged:
            merged.append((a, b, charging))
    # a zero-length first segment followed by real ones is dropped
    if len(merged) > 1 and merged[0][0] == merged[0][1]:
        merged.pop(0)
    return merged


def _cuts(
    split_points: Sequence[datetime], start: datetime, end: int, known: dict[int, datetime]
) -> list[int]:
    """The split points strictly inside the session, sorted, without repeats."""
    try:
        cuts: set[int] = set()
        for point in split_points:
            t = (point - start) // _MICROSECOND
            if 0 < t < end:
                cuts.add(t)
                if t not in known:
                    known[t] = point if point.tzinfo is UTC else point.astimezone(UTC)
    except Exception:
        # Every split point is checked: the first naive one is the error.
        _offsets(split_points, start, "split point")
        raise
    return sorted(cuts)


def _cut(segments: list[Segment], cuts: list[int]) -> list[Segment]:
    """The segments cut at the (sorted, inside) cuts; segments are contiguous."""
    spans: list[Segment] = []
    j, n = 0, len(cuts)
    for a, b, charging in segments:
        edge = a
        while j < n and cuts[j] < b:
            cut = cuts[j]
            j += 1
            if cut > edge:
                spans.append((edge, cut, charging))
                edge = cut
        spans.append((edge, b, charging))
    return spans


# --------------------------------------------------------------------------
# Energy


def _energy_total(
    meter_start: int | None,
    meter_stop: int | None,
    curve: _EnergyCurve,
    energy: _Points,
    notes: list[str],
) -> tuple[int, str]:
    """The session's energy in 0.1 Wh, and where it came from."""
    if meter_start is not None and meter_stop is not None:
        if meter_stop < meter_start:
            notes.append(
                f"meter stop {meter_stop} Wh below meter start {meter_start} Wh (meter replaced"
                " or reset): energy from the register curve"
            )
        elif energy.values and max(energy.values) > meter_stop * energy.denominator:
            notes.append(
                f"meter stop {meter_stop} Wh below an earlier register sample (meter replaced or "
                "reset): energy from the register curve"
            )
        else:
            return (meter_stop - meter_start) * _UNITS_PER_WH, "registers"
    if len(curve.times) < 2:
        return 0, "none"
    # half up (the total is never negative)
    return (2 * _UNITS_PER_WH * curve.total + curve.denominator) // (
        2 * curve.denominator
    ), "samples"


class _EnergyCurve:
    """Cumulative energy (``values / denominator`` Wh) since the first register
    point at ``times`` (microseconds since the start), linear in between."""

    __slots__ = ("base", "denominator", "times", "total", "values")

    def __init__(
        self,
        meter_start: int | None,
        meter_stop: int | None,
        start: datetime,
        end: int,
        energy: _Points,
        notes: list[str],
    ) -> None:
        scale = self.denominator = energy.denominator
        # The points: (start, meter start), the samples, (stop, meter stop); a
        # meter value replaces a sample at its end.
        times, readings = energy.times, energy.values
        lo, hi = 0, len(times)
        if meter_start is not None and hi and times[0] == 0:
            lo = 1
        if meter_stop is not None and hi > lo and times[-1] == end:
            hi -= 1
        if lo or hi < len(times):
            times, readings = times[lo:hi], readings[lo:hi]
        if meter_start is not None:
            times = [0, *times]
            readings = [meter_start * scale, *readings]
        if meter_stop is not None:
            times = [*times, end]
            readings = [*readings, meter_stop * scale]
        if end and readings == sorted(readings):
            # never backwards, instants distinct (only a zero-length session repeats one)
            self.times = times
            self.values = readings  # the cumulative energy plus ``base``
            self.base = readings[0] if readings else 0
            self.total = readings[-1] - self.base if readings else 0
            return
        curve_times: list[int] = []
        values: list[int] = []
        cumulative = 0
        previous: int | None = None
        for t, value in zip(times, readings, strict=True):
            if previous is not None:
                if value >= previous:
                    cumulative += value - previous
                else:
                    at = start + timedelta(microseconds=t)
                    notes.append(
                        f"register went back from {previous / scale:g} to {value / scale:g} Wh "
                        f"at {at.isoformat()}: counted from the new reading"
                    )
            previous = value
            if curve_times and curve_times[-1] == t:
                values[-1] = cumulative
            else:
                curve_times.append(t)
                values.append(cumulative)
        self.times = curve_times
        self.values = values
        self.base = 0
        self.total = values[-1] if values else 0

    def shares(self, spans: list[Segment]) -> list[int]:
        """Each span's energy, as integers over one (unstated) common denominator.

        The spans are contiguous and cover a session of non-zero length: the
        curve is ``base`` (0 Wh) at the start, at or before its first point, and
        ``base + total`` at the stop, at or after its last point; only the
        instants in between are interpolated."""
        times = self.times
        if not times:
            return [0] * len(spans)
        values = self.values
        numerators = [self.base]
        denominators = [1]
        common = 1
        for k in range(1, len(spans)):
            t = spans[k][0]
            i = bisect_right(times, t)
            if i == len(times):
                numerators.append(values[-1])
                denominators.append(1)
            elif i == 0:
                numerators.append(self.base)
                denominators.append(1)
            else:
                t0 = times[i - 1]
                if t0 == t:
                    numerators.append(values[i - 1])
                    denominators.append(1)
                else:
                    v0 = values[i - 1]
                    d = times[i] - t0
                    numerators.append(v0 * d + (values[i] - v0) * (t - t0))
                    denominators.append(d)
                    if common % d:
                        common = lcm(common, d)
        numerators.append(values[-1])
        denominators.append(1)
        if common != 1:
            numerators = [
                num * (common // d) for num, d in zip(numerators, denominators, strict=True)
            ]
        return [b - a for a, b in pairwise(numerators)]


# --------------------------------------------------------------------------
# Allocation and output


def _allocate(total_units: int, weights: Sequence[int]) -> list[int]:
    """``total_units`` split by ``weights`` (non-negative) in whole units, largest
    remainder first (ties to the earlier period), so the parts sum exactly to the total."""
    weight_sum = sum(weights)
    if total_units == 0 or weight_sum == 0:
        return [0] * len(weights)
    if len(weights) == 2:
        # The two remainders sum to 0 or to weight_sum: at most one unit is
        # left, and it goes to the first part when its remainder is at least
        # the second's.
        first, remainder = divmod(total_units * weights[0], weight_sum)
        if remainder and 2 * remainder >= weight_sum:
            first += 1
        return [first, total_units - first]
    if len(weights) == 1:
        return [total_units]
    parts = [total_units * w // weight_sum for w in weights]
    left = total_units - sum(parts)
    if left:
        # remainders, negated: the largest first, a stable sort keeps ties in order
        behind = [p * weight_sum - total_units * w for p, w in zip(parts, weights, strict=True)]
        if left == 1:
            parts[behind.index(min(behind))] += 1
        else:
            for i in sorted(range(len(parts)), key=behind.__getitem__)[:left]:
                parts[i] += 1
    return parts


def _hour_units(micros: int) -> int:
    """Microseconds in 0.0001 h (0.36 s), rounded half up (never negative)."""
    return (micros + _MICROS_PER_HOUR_UNIT // 2) // _MICROS_PER_HOUR_UNIT


def _micros_decimal(micros: int) -> Decimal:
    """Seconds, exact: as the smallest Decimal quotient of the reduced fraction."""
    if not micros % 1_000_000:
        return Decimal(micros // 1_000_000)
    g = gcd(micros, 1_000_000)
    return Decimal(micros // g) / Decimal(1_000_000 // g)


def _to_decimal(x: Fraction) -> Decimal:
    """Exact when the denominator divides a power of ten (seconds, 0.1 Wh)."""
    return Decimal(x.numerator) / Decimal(x.denominator)


def _extremes(
    points: _Points,
    a: int,
    b: int,
    inclusive: bool,
    high: DimensionType,
    low: DimensionType,
    divisor: int,
) -> tuple[Dimension, ...]:
    if inclusive:
        inside = [v for t, v in zip(points.times, points.values, strict=True) if a <= t <= b]
    else:
        inside = [v for t, v in zip(points.times, points.values, strict=True) if a <= t < b]
    if not inside:
        return ()
    # The same Decimal quotient as of the reduced fraction (the same value), so
    # the same rounding.
    scale = Decimal(points.denominator * divisor)

    def q(value: int) -> Decimal:
        return (Decimal(value) / scale).quantize(_FOUR, rounding=ROUND_HALF_UP)

    return (Dimension(high, q(max(inside))), Dimension(low, q(min(inside))))


_ENERGY = DimensionType.ENERGY
_TIME = DimensionType.TIME
_PARKING_TIME = DimensionType.PARKING_TIME
_MAX_POWER = DimensionType.MAX_POWER
_MIN_POWER = DimensionType.MIN_POWER
_MAX_CURRENT = DimensionType.MAX_CURRENT
_MIN_CURRENT = DimensionType.MIN_CURRENT
# Volumes as (Decimal(units) / per one).quantize(...), exactly as they always were.
_ENERGY_PER_WH = Decimal(_UNITS_PER_WH)  # 0.1 Wh units -> Wh
_ENERGY_PER_KWH = Decimal(1000 * _UNITS_PER_WH)  # 0.1 Wh units -> kWh
_HOUR_UNITS = Decimal(_UNITS_PER_HOUR)  # 0.0001 h units -> h
_QUANTUM_1 = Decimal("0.1")
_MICROS_PER_HOUR_UNIT = 3_600_000_000 // _UNITS_PER_HOUR  # 360,000 µs = 0.0001 h
_POWER_THRESHOLD = int(POWER_THRESHOLD_W)
_CURRENT_THRESHOLD = int(CURRENT_THRESHOLD_A)
