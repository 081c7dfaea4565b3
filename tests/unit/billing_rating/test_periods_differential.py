"""The fast ``billing.rating.periods`` against its reference (``reference_periods.py``):
identical results, field by field and down to each Decimal's exponent, on random
sessions with every kind of imperfect data, and identical tariff boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from billing.rating import periods as fast
from billing.rating.periods import Sample, SessionReadings, StateChange
from tests.unit.billing_rating import reference_periods as reference
from tests.unit.billing_rating.bench_periods import typical_sessions

pytestmark = pytest.mark.backend_independent

BERLIN = ZoneInfo("Europe/Berlin")
REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"

# Around Berlin's DST changes of 2024 and an ordinary day; local midnight.
BASES = [
    datetime(2024, 3, 30, 22, 0, tzinfo=BERLIN),
    datetime(2024, 3, 31, 0, 0, tzinfo=BERLIN),
    datetime(2024, 10, 26, 23, 0, tzinfo=BERLIN),
    datetime(2024, 10, 27, 1, 0, tzinfo=BERLIN),
    datetime(2024, 5, 6, 8, 0, tzinfo=UTC),
]

UNITS = {
    REGISTER: ["Wh", "kWh", "KWH", " wh ", "", "varh"],
    "": ["Wh", "kWh", ""],
    POWER: ["W", "kW", "", "kVA"],
    CURRENT: ["A", "", "mA"],
    "Voltage": ["V"],
}
PHASES = ["", "", "", "L1", "L2", "L3", "L1-N", "l2-n", "N", "L1-L2", "-N"]
STATES = [
    "Charging",
    "Charging",
    " charging ",
    "SuspendedEV",
    "SuspendedEVSE",
    "Preparing",
    "Finishing",
    "Available",
    "EVConnected",
    "Idle",
    "Faulted",
    "Oops",
]


def canonical(result: Any) -> Any:
    """Every field, Decimals as their text (so 1.0 and 1.00 differ), datetimes with
    their time zone."""
    return repr(result), msgspec.to_builtins(result, builtin_types=(datetime,))


def run(module: Any, readings: SessionReadings, splits: list[datetime]) -> Any:
    try:
        return module.charging_periods(readings, splits)
    except ValueError as error:
        return ("ValueError", str(error))


def assert_same(readings: SessionReadings, splits: list[datetime]) -> None:
    got = run(fast, readings, splits)
    want = run(reference, readings, splits)
    if isinstance(want, tuple):
        assert got == want
        return
    assert got.to_ocpi() == want.to_ocpi()
    assert [str(d["volume"]) for p in got.to_ocpi() for d in p["dimensions"]] == [
        str(d["volume"]) for p in want.to_ocpi() for d in p["dimensions"]
    ]
    assert str(got.energy_wh) == str(want.energy_wh)
    assert str(got.charging_seconds) == str(want.charging_seconds)
    assert str(got.parking_seconds) == str(want.parking_seconds)
    assert got.energy_source == want.energy_source
    assert got.notes == want.notes
    assert got == want
    assert canonical(got) == canonical(want)
    assert str(got.total_energy_kwh) == str(want.total_energy_kwh)
    assert str(got.total_time_hours) == str(want.total_time_hours)


@st.composite
def instants(draw: st.DrawFn, base: datetime) -> datetime:
    """An instant near the session: whole minutes, seconds or microseconds; in UTC,
    Berlin or a fixed offset (the same instant either way); rarely naive."""
    unit = draw(st.sampled_from([60_000_000, 60_000_000, 1_000_000, 1]))
    offset = draw(st.integers(-30, 630)) * 60_000_000
    if unit != 60_000_000:
        offset += draw(st.integers(0, 60_000_000 // unit)) * unit
    at = base + timedelta(microseconds=offset)
    zone: tzinfo = draw(st.sampled_from([UTC, UTC, BERLIN, timezone(timedelta(hours=-5))]))
    return at.astimezone(zone)


def decimals(draw: st.DrawFn, low: int, high: int) -> Decimal:
    kind = draw(st.integers(0, 19))
    if kind == 0:
        return draw(st.sampled_from([Decimal("NaN"), Decimal("Infinity"), Decimal("-0")]))
    value = Decimal(draw(st.integers(low, high)))
    if kind <= 4:  # a few decimals, or a positive exponent
        value = value.scaleb(draw(st.integers(-4, 2)))
    return value


@st.composite
def sessions(draw: st.DrawFn) -> tuple[SessionReadings, list[datetime]]:
    base = draw(st.sampled_from(BASES))
    start = (base + timedelta(minutes=draw(st.integers(0, 120)))).astimezone(
        draw(st.sampled_from([UTC, BERLIN]))
    )
    length = draw(
        st.one_of(
            st.integers(0, 600).map(lambda m: m * 60_000_000),
            st.integers(-3_000_000, 36_000_000_000),
            # multiples of half a 0.0001 h unit (0.18 s): rounding and remainder ties
            st.integers(0, 200).map(lambda k: k * 180_000),
        )
    )
    stop = (start + timedelta(microseconds=length)).astimezone(draw(st.sampled_from([UTC, BERLIN])))
    # instants inside the session, wherever it lies (states, splits, samples)
    inside = st.integers(1, 999).map(lambda k: start + (stop - start) * k / 1000)
    meter_start = draw(st.one_of(st.none(), st.integers(0, 10**7)))
    meter_stop = draw(
        st.one_of(
            st.none(),
            st.integers(0, 10**5).map(lambda d: (meter_start or 0) + d),
            st.integers(0, 10**7),
        )
    )
    top = (meter_stop or 10**6) + 5000
    bottom = min(max((meter_start or 0) - 5000, 0), top)
    samples: list[Sample] = []
    for _ in range(draw(st.integers(0, 10))):
        measurand = draw(
            st.sampled_from([REGISTER, REGISTER, REGISTER, "", POWER, CURRENT, "Voltage"])
        )
        unit = draw(st.sampled_from(UNITS[measurand]))
        if measurand in (REGISTER, ""):
            value = decimals(draw, bottom, top)
            if unit.strip().lower() == "kwh":
                value = value.scaleb(-3)
        elif measurand == POWER:
            value = decimals(draw, -50, 22_000)
        else:
            value = decimals(draw, 0, 64)
        multiplier = draw(st.sampled_from([0, 0, 0, -1, 1, 3, -3]))
        if multiplier:
            value = value.scaleb(-multiplier)
        at = draw(st.one_of(st.just(start), st.just(stop), instants(start), inside))
        samples.append(
            Sample(at, measurand, value, unit, draw(st.sampled_from(PHASES)), multiplier)
        )
    messy: bool = draw(st.booleans())
    if samples and messy:  # retransmissions and corrections, shuffled
        repeated: list[Sample] = draw(st.lists(st.sampled_from(samples), max_size=4))
        shuffled: list[Sample] = draw(st.permutations(samples + repeated))
        samples = shuffled
    states = [
        StateChange(
            draw(st.one_of(st.just(start), instants(start), inside)),
            draw(st.sampled_from(STATES)),
        )
        for _ in range(draw(st.integers(0, 5)))
    ]
    middle = start + (stop - start) / 2  # equal halves: remainder ties
    splits = [
        draw(st.one_of(st.just(start), st.just(stop), st.just(middle), instants(start), inside))
        for _ in range(draw(st.integers(0, 4)))
    ]
    if draw(st.integers(0, 99)) == 37:  # a naive time somewhere: the same ValueError
        where = draw(st.sampled_from(["sample", "state", "split", "stop"]))
        naive = start.replace(tzinfo=None)
        if where == "sample" and samples:
            samples[-1] = msgspec.structs.replace(samples[-1], at=naive)
        elif where == "state" and states:
            states[0] = StateChange(naive, states[0].state)
        elif where == "split" and splits:
            splits[0] = naive
        else:
            stop = naive
    readings = SessionReadings(start, stop, meter_start, meter_stop, samples, states)
    return readings, splits


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions())
def test_charging_periods_identical_to_the_reference(
    case: tuple[SessionReadings, list[datetime]],
) -> None:
    """Random sessions (units, multipliers, phases, duplicates, disorder, states,
    power and current, resets, splits, DST dates, naive times): identical results."""
    assert_same(*case)


def test_typical_sessions_identical_to_the_reference() -> None:
    """The micro-benchmark's sessions (register samples, states, splits)."""
    for readings, splits in typical_sessions(500, seed=7):
        assert_same(readings, splits)


def at(minutes: float) -> datetime:
    return datetime(2024, 5, 6, 8, 0, tzinfo=UTC) + timedelta(minutes=minutes)


def energy(minutes: float, value: str, unit: str = "Wh", multiplier: int = 0) -> Sample:
    return Sample(at(minutes), REGISTER, Decimal(value), unit, multiplier=multiplier)


NAIVE = datetime(2024, 5, 6, 8, 30)


@pytest.mark.parametrize(
    ("readings", "splits"),
    [
        (SessionReadings(at(0), NAIVE, None, None), []),
        (SessionReadings(NAIVE, at(60), None, None), []),
        # the first naive sample in the order given, even an ignored one, before states
        (
            SessionReadings(
                at(0),
                at(60),
                None,
                None,
                [
                    energy(5, "1"),
                    Sample(NAIVE, "Voltage", Decimal(230), "V"),
                    Sample(NAIVE.replace(minute=1), REGISTER, Decimal(2), "Wh"),
                ],
                [StateChange(NAIVE, "Charging")],
            ),
            [NAIVE],
        ),
        (
            SessionReadings(
                at(0), at(60), None, None, [], [StateChange(at(1), "Oops"), StateChange(NAIVE, "x")]
            ),
            [NAIVE],
        ),
        (SessionReadings(at(0), at(60), None, None), [at(5), NAIVE, at(-5)]),
    ],
)
def test_naive_times_refused_like_the_reference(
    readings: SessionReadings, splits: list[datetime]
) -> None:
    """The same ValueError (message naming the first naive time) as the reference."""
    assert_same(readings, splits)
    with pytest.raises(ValueError, match="timezone-aware"):
        fast.charging_periods(readings, splits)


@pytest.mark.parametrize(
    ("readings", "splits"),
    [
        # the plain session, and its fast path with splits
        (SessionReadings(at(0), at(90), 1000, 11000), []),
        (SessionReadings(at(0), at(90), 1000, 11000), [at(30), at(60), at(30)]),
        (SessionReadings(at(0), at(60), 0, 1000), [at(20), at(40)]),
        (SessionReadings(at(0), at(1), None, None), [at(1 / 3), at(2 / 3)]),
        # zero-length, reversed, and a reversed one with samples at the start
        (SessionReadings(at(0), at(0), 100, 150), []),
        (SessionReadings(at(0), at(-5), 100, 150, [energy(0, "120")]), [at(-1)]),
        (SessionReadings(at(0), at(0), None, None, [energy(0, "120")]), []),
        # a reset lasting to the stop, a glitch, a stop below the start
        (
            SessionReadings(at(0), at(60), 1000, 2000, [energy(20, "3000"), energy(30, "0")]),
            [at(30)],
        ),
        (
            SessionReadings(at(0), at(60), 1000, 4000, [energy(20, "3000"), energy(30, "0")]),
            [at(45)],
        ),
        (SessionReadings(at(0), at(60), 1000, 510, [energy(30, "5000.5")]), []),
        # sub-0.1 Wh register samples without meter values: rounding half up
        (
            SessionReadings(
                at(0), at(60), None, None, [energy(0, "1.00005", "kWh"), energy(60, "1.1")]
            ),
            [at(7)],
        ),
        (
            SessionReadings(
                at(0), at(60), None, None, [energy(0, "0"), energy(60, "12345", multiplier=-5)]
            ),
            [at(7)],
        ),
        # flat curve: spread by charging time, else by time, else all to the first
        (SessionReadings(at(0), at(60), 0, 50, [energy(10, "0"), energy(50, "0")]), [at(30)]),
        (
            SessionReadings(at(0), at(60), 0, 50, [], [StateChange(at(-1), "SuspendedEV")]),
            [at(30)],
        ),
        (SessionReadings(at(0), at(0), None, None, [energy(0, "5")]), []),
        # exact halves: 0.18 s is half a 0.0001 h unit (rounded up); two equal
        # halves of 3 time units and of 1 energy unit (the earlier one gets it)
        (SessionReadings(at(0), at(0) + timedelta(microseconds=180_000), 0, 0), []),
        (
            SessionReadings(
                at(0),
                at(0) + timedelta(microseconds=1_080_000),
                None,
                None,
                [
                    energy(0, "0"),
                    Sample(
                        at(0) + timedelta(microseconds=1_080_000), REGISTER, Decimal("0.1"), "Wh"
                    ),
                ],
            ),
            [at(0) + timedelta(microseconds=540_000)],
        ),
        (
            SessionReadings(at(0), at(3), 0, 1, [], [StateChange(at(1), "SuspendedEV")]),
            [at(2)],
        ),
    ],
)
def test_edge_cases_identical_to_the_reference(
    readings: SessionReadings, splits: list[datetime]
) -> None:
    """Hand-picked edges: zero and reversed sessions, resets, rounding, no shape."""
    assert_same(readings, splits)


ZONES: list[str | tzinfo] = [
    "Europe/Berlin",
    BERLIN,
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Pacific/Apia",  # skipped a whole day (2011-12-30)
    "UTC",
    timezone(timedelta(hours=5, minutes=30)),
]


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2011, 12, 25),
        max_value=datetime(2026, 12, 31),
        timezones=st.sampled_from([UTC, BERLIN]),
    ),
    st.integers(min_value=-2, max_value=80 * 3600),
    st.sampled_from(ZONES),
    st.lists(st.times(), min_size=0, max_size=4),
)
@example(datetime(2024, 3, 30, 12, tzinfo=UTC), 48 * 3600, "Europe/Berlin", [time(2, 30)])
@example(datetime(2024, 10, 26, 12, tzinfo=UTC), 48 * 3600, BERLIN, [time(2, 30), time(0)])
@example(datetime(2011, 12, 28, tzinfo=UTC), 96 * 3600, "Pacific/Apia", [time(0), time(12)])
@example(datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC), 3600, BERLIN, [time(2, 59, 59, 999999)])
def test_tariff_boundaries_identical_to_the_reference(
    start: datetime, seconds: int, zone: str | tzinfo, wanted: list[time]
) -> None:
    """Random ranges, zones (DST, half-hour shifts, a skipped day) and times of day;
    asked twice (the second answer comes from the cache)."""
    stop = start + timedelta(seconds=seconds)
    want = reference.tariff_boundaries(start, stop, zone, wanted)
    for _ in range(2):
        got = fast.tariff_boundaries(start, stop, zone, wanted)
        assert got == want
        assert [repr(g) for g in got] == [repr(w) for w in want]
