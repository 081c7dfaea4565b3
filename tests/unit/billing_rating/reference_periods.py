"""The reference implementation of ``billing.rating.periods`` (not shipped).

A verbatim copy of the algorithm as it stood before the integer rewrite
(commit 296ddb8), kept only so that ``test_periods_differential.py`` can
check that the fast implementation gives identical results. The public
structs are imported from the shipped module, so results compare with ``==``.
Do not change the algorithm here: it is the specification by example.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from billing.rating.periods import (
    ChargingPeriod,
    Dimension,
    DimensionType,
    Sample,
    SessionPeriods,
    SessionReadings,
    StateChange,
)

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


# --------------------------------------------------------------------------
# Public functions


def charging_periods(
    readings: SessionReadings, split_points: Sequence[datetime] = ()
) -> SessionPeriods:
    """The session's OCPI charging periods (see the module docstring for the rules)."""
    notes: list[str] = []
    start = _utc(readings.started_at, "started_at")
    stop = _utc(readings.stopped_at, "stopped_at")
    if stop < start:
        notes.append(f"stop {stop.isoformat()} before start: zero-length session")
        stop = start

    samples = _clean_samples(readings.samples, start, stop, notes)
    energy = _points(samples, ENERGY_REGISTER)
    power = _points(samples, POWER_IMPORT)
    current = _points(samples, CURRENT_IMPORT)

    segments = _classify(readings.states, start, stop, power, current)
    cuts = sorted({c for c in (_utc(p, "split point") for p in split_points) if start < c < stop})
    spans = _cut(segments, cuts)
    if not spans:  # zero-length session
        spans = [(start, stop, segments[0][2] if segments else True)]

    curve = _EnergyCurve(readings, start, stop, energy, notes)
    total_wh, source = _energy_total(readings, curve, energy, notes)
    raw = [curve.between(a, b) for a, b, _ in spans]
    seconds = [_seconds(a, b) for a, b, _ in spans]
    weights = raw
    if total_wh and not any(raw):
        charging_secs = [
            s if c else Fraction(0) for s, (_, _, c) in zip(seconds, spans, strict=True)
        ]
        weights = charging_secs if any(charging_secs) else seconds
        if not any(weights):
            weights = [Fraction(1)] + [Fraction(0)] * (len(spans) - 1)
        notes.append("register samples give no shape: energy spread by time")
    energy_units = _allocate(int(total_wh * _UNITS_PER_WH), weights)

    charging_total = sum((s for s, (_, _, c) in zip(seconds, spans, strict=True) if c), Fraction(0))
    parking_total = sum(seconds, Fraction(0)) - charging_total
    time_units = _allocate_by_kind(seconds, [c for _, _, c in spans], charging_total, parking_total)

    periods: list[ChargingPeriod] = []
    for i, (a, b, is_charging) in enumerate(spans):
        last = i == len(spans) - 1
        dims = [
            Dimension(DimensionType.ENERGY, _units(energy_units[i], 1000 * _UNITS_PER_WH)),
            Dimension(
                DimensionType.TIME if is_charging else DimensionType.PARKING_TIME,
                _units(time_units[i], _UNITS_PER_HOUR),
            ),
        ]
        dims += _extremes(power, a, b, last, DimensionType.MAX_POWER, DimensionType.MIN_POWER, 1000)
        dims += _extremes(
            current, a, b, last, DimensionType.MAX_CURRENT, DimensionType.MIN_CURRENT, 1
        )
        periods.append(
            ChargingPeriod(
                start_date_time=a,
                end_date_time=b,
                charging=is_charging,
                seconds=_to_decimal(seconds[i]),
                energy_wh=_units(energy_units[i], _UNITS_PER_WH),
                dimensions=tuple(dims),
            )
        )
    return SessionPeriods(
        periods=tuple(periods),
        energy_wh=_units(int(total_wh * _UNITS_PER_WH), _UNITS_PER_WH),
        charging_seconds=_to_decimal(charging_total),
        parking_seconds=_to_decimal(parking_total),
        energy_source=source,
        notes=tuple(notes),
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
    zone = ZoneInfo(time_zone) if isinstance(time_zone, str) else time_zone
    lo = _utc(start, "start")
    hi = _utc(end, "end")
    if hi <= lo:
        return []
    wanted = sorted({t.replace(tzinfo=None) for t in times_of_day})
    first = lo.astimezone(zone).date() - timedelta(days=1)
    last = hi.astimezone(zone).date() + timedelta(days=1)
    found: set[datetime] = set()
    day = first
    while day <= last:
        for t in wanted:
            for instant in _local_instants(datetime.combine(day, t), zone):
                if lo < instant < hi:
                    found.add(instant)
        day += timedelta(days=1)
    return sorted(found)


# --------------------------------------------------------------------------
# Time


def _utc(at: datetime, what: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what or 'time'} must be timezone-aware: {at!r}")
    return at.astimezone(UTC)


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _seconds(a: datetime, b: datetime) -> Fraction:
    return Fraction(_micros(b - a), 1_000_000)


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


def _phase(phase: str) -> str | None:
    """ "" for a total, L1/L2/L3 for a phase, None for what is not summed (N, L1-L2)."""
    p = phase.strip().upper()
    if p.endswith("-N"):
        p = p[:-2]
    if p in ("", "L1", "L2", "L3"):
        return p
    return None


def _clean_samples(
    samples: Iterable[Sample], start: datetime, stop: datetime, notes: list[str]
) -> dict[str, dict[datetime, dict[str, Fraction]]]:
    """Per measurand, per instant, per phase: the value in Wh, W or A (last wins)."""
    out: dict[str, dict[datetime, dict[str, Fraction]]] = {}
    outside = duplicates = unconvertible = 0
    for sample in sorted(samples, key=lambda s: _utc(s.at, "sample time")):
        measurand = sample.measurand or ENERGY_REGISTER  # the OCPP default
        factors = _UNIT_FACTORS.get(measurand)
        if factors is None:
            continue
        phase = _phase(sample.phase)
        if phase is None:
            continue
        factor = factors.get(sample.unit.strip().lower())
        if factor is None or not sample.value.is_finite():
            unconvertible += 1
            continue
        at = _utc(sample.at, "sample time")
        if not start <= at <= stop:
            outside += 1
            continue
        value = Fraction(sample.value) * factor * Fraction(10) ** sample.multiplier
        by_phase = out.setdefault(measurand, {}).setdefault(at, {})
        if phase in by_phase:
            duplicates += 1
        by_phase[phase] = value
    if outside:
        notes.append(f"{outside} sample(s) outside the session ignored")
    if duplicates:
        notes.append(f"{duplicates} duplicate sample(s): the last one given kept")
    if unconvertible:
        notes.append(f"{unconvertible} sample(s) in a unit that cannot be converted ignored")
    return out


def _points(
    samples: dict[str, dict[datetime, dict[str, Fraction]]], measurand: str
) -> list[tuple[datetime, Fraction]]:
    """One value per instant, in time order: the total, else the sum of the phases."""
    points = []
    for at, by_phase in sorted(samples.get(measurand, {}).items()):
        if "" in by_phase:
            points.append((at, by_phase[""]))
        else:
            points.append((at, sum(by_phase.values(), Fraction(0))))
    return points


# --------------------------------------------------------------------------
# Charging or parking

Segment = tuple[datetime, datetime, bool]


def _classify(
    states: Iterable[StateChange],
    start: datetime,
    stop: datetime,
    power: list[tuple[datetime, Fraction]],
    current: list[tuple[datetime, Fraction]],
) -> list[Segment]:
    """Consecutive (from, to, charging) covering [start, stop], adjacent kinds merged."""
    # The state in force at each instant; None until the first known state.
    changes: list[tuple[datetime, bool]] = []
    initial = True  # no state known: charging
    for change in sorted(states, key=lambda c: _utc(c.at, "state time")):
        kind = _STATE_KINDS.get(change.state.strip().lower())
        if kind is None:
            continue
        at = _utc(change.at, "state time")
        charging = kind == _CHARGING
        if at <= start:
            initial = charging
        elif at < stop:
            if changes and changes[-1][0] == at:
                changes[-1] = (at, charging)
            else:
                changes.append((at, charging))
    base: list[Segment] = []
    edge, current_kind = start, initial
    for at, charging in changes:
        base.append((edge, at, current_kind))
        edge, current_kind = at, charging
    base.append((edge, stop, current_kind))

    activity = _activity(power, current)
    segments: list[Segment] = []
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


def _activity(
    power: list[tuple[datetime, Fraction]], current: list[tuple[datetime, Fraction]]
) -> list[tuple[datetime, bool]]:
    """Per instant with a reading: is the EV drawing? Power where given, else current."""
    drawing = {at: value > CURRENT_THRESHOLD_A for at, value in current}
    drawing.update({at: value > POWER_THRESHOLD_W for at, value in power})
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


def _cut(segments: list[Segment], cuts: list[datetime]) -> list[Segment]:
    spans: list[Segment] = []
    for a, b, charging in segments:
        edge = a
        for cut in cuts:
            if edge < cut < b:
                spans.append((edge, cut, charging))
                edge = cut
        if edge < b:
            spans.append((edge, b, charging))
    return spans


# --------------------------------------------------------------------------
# Energy


def _energy_total(
    readings: SessionReadings,
    curve: _EnergyCurve,
    energy: list[tuple[datetime, Fraction]],
    notes: list[str],
) -> tuple[Fraction, str]:
    """The session's energy in Wh, a multiple of 0.1 Wh, and where it came from."""
    first, last = readings.meter_start_wh, readings.meter_stop_wh
    if first is not None and last is not None:
        if last < first:
            notes.append(
                f"meter stop {last} Wh below meter start {first} Wh (meter replaced or "
                "reset): energy from the register curve"
            )
        elif any(value > last for _, value in energy):
            notes.append(
                f"meter stop {last} Wh below an earlier register sample (meter replaced or "
                "reset): energy from the register curve"
            )
        else:
            return Fraction(last - first), "registers"
    if len(curve.times) < 2:
        return Fraction(0), "none"
    return Fraction(_round_half_up(curve.total * _UNITS_PER_WH), _UNITS_PER_WH), "samples"


class _EnergyCurve:
    """Cumulative energy (Wh) since the first register point, linear in between."""

    def __init__(
        self,
        readings: SessionReadings,
        start: datetime,
        stop: datetime,
        energy: list[tuple[datetime, Fraction]],
        notes: list[str],
    ) -> None:
        chain: list[tuple[datetime, Fraction]] = []
        if readings.meter_start_wh is not None:
            chain.append((start, Fraction(readings.meter_start_wh)))
        for at, value in energy:
            if at == start and readings.meter_start_wh is not None:
                continue
            if at == stop and readings.meter_stop_wh is not None:
                continue
            chain.append((at, value))
        if readings.meter_stop_wh is not None:
            chain.append((stop, Fraction(readings.meter_stop_wh)))
        self.times: list[int] = []
        self.values: list[Fraction] = []
        cumulative = Fraction(0)
        previous: Fraction | None = None
        for at, value in chain:
            if previous is not None:
                step = value - previous
                if step >= 0:
                    cumulative += step
                else:
                    notes.append(
                        f"register went back from {float(previous):g} to {float(value):g} Wh "
                        f"at {at.isoformat()}: counted from the new reading"
                    )
            previous = value
            t = _micros(at - start)
            if self.times and self.times[-1] == t:
                self.values[-1] = cumulative
            else:
                self.times.append(t)
                self.values.append(cumulative)
        self.start = start
        self.total = self.values[-1] if self.values else Fraction(0)

    def at(self, when: datetime) -> Fraction:
        if not self.times:
            return Fraction(0)
        t = _micros(when - self.start)
        i = bisect.bisect_right(self.times, t)
        if i == 0:
            return Fraction(0)
        if i == len(self.times):
            return self.values[-1]
        t0, t1 = self.times[i - 1], self.times[i]
        v0, v1 = self.values[i - 1], self.values[i]
        return v0 + (v1 - v0) * Fraction(t - t0, t1 - t0)

    def between(self, a: datetime, b: datetime) -> Fraction:
        return self.at(b) - self.at(a)


# --------------------------------------------------------------------------
# Allocation and output


def _allocate(total_units: int, weights: Sequence[Fraction]) -> list[int]:
    """``total_units`` split by ``weights`` in whole units, largest remainder first
    (ties to the earlier period), so the parts sum exactly to the total."""
    if not weights:
        return []
    weight_sum = sum(weights, Fraction(0))
    if total_units == 0 or weight_sum == 0:
        return [0] * len(weights)
    exact = [Fraction(total_units) * w / weight_sum for w in weights]
    parts = [int(x) for x in exact]  # floor: all non-negative
    left = total_units - sum(parts)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[:left]:
        parts[i] += 1
    return parts


def _allocate_by_kind(
    seconds: list[Fraction],
    charging: list[bool],
    charging_total: Fraction,
    parking_total: Fraction,
) -> list[int]:
    """Hours in 0.0001 h per period; per kind the parts sum to the kind's total
    hours rounded half-up to 4 decimals."""
    units = [0] * len(seconds)
    for kind, total in ((True, charging_total), (False, parking_total)):
        idx = [i for i, c in enumerate(charging) if c == kind]
        total_units = _round_half_up(total * _UNITS_PER_HOUR / 3600)
        for i, part in zip(idx, _allocate(total_units, [seconds[i] for i in idx]), strict=True):
            units[i] = part
    return units


def _round_half_up(x: Fraction) -> int:
    return int((x + Fraction(1, 2)) // 1) if x >= 0 else -_round_half_up(-x)


def _units(count: int, per_one: int) -> Decimal:
    """``count / per_one`` as a Decimal with 4 decimals when per_one is 10**k."""
    places = len(str(per_one)) - 1
    return (Decimal(count) / Decimal(per_one)).quantize(Decimal(1).scaleb(-max(places, 1)))


def _to_decimal(x: Fraction) -> Decimal:
    """Exact when the denominator divides a power of ten (seconds, 0.1 Wh)."""
    return Decimal(x.numerator) / Decimal(x.denominator)


def _extremes(
    points: list[tuple[datetime, Fraction]],
    a: datetime,
    b: datetime,
    inclusive: bool,
    high: DimensionType,
    low: DimensionType,
    divisor: int,
) -> list[Dimension]:
    inside = [v for t, v in points if a <= t < b or (inclusive and t == b)]
    if not inside:
        return []

    def q(value: Fraction) -> Decimal:
        return (Decimal(value.numerator) / Decimal(value.denominator * divisor)).quantize(
            _FOUR, rounding=ROUND_HALF_UP
        )

    return [Dimension(high, q(max(inside))), Dimension(low, q(min(inside)))]
