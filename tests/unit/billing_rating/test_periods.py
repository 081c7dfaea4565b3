"""Charging periods from what a charger reported (billing.rating.periods)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal as D
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from billing.rating.periods import (
    DimensionType,
    Sample,
    SessionPeriods,
    SessionReadings,
    StateChange,
    charging_periods,
    tariff_boundaries,
)

pytestmark = pytest.mark.backend_independent

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)
REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def energy(minutes: float, value: str, unit: str = "Wh", multiplier: int = 0) -> Sample:
    return Sample(at(minutes), REGISTER, D(value), unit, multiplier=multiplier)


def power(minutes: float, value: str, unit: str = "W", phase: str = "") -> Sample:
    return Sample(at(minutes), POWER, D(value), unit, phase=phase)


def state(minutes: float, name: str) -> StateChange:
    return StateChange(at(minutes), name)


def session(
    minutes: float,
    start_wh: int | None = 1000,
    stop_wh: int | None = 11000,
    samples: list[Sample] | None = None,
    states: list[StateChange] | None = None,
) -> SessionReadings:
    return SessionReadings(T0, at(minutes), start_wh, stop_wh, samples or [], states or [])


def kinds(result: SessionPeriods) -> list[tuple[datetime, bool]]:
    return [(p.start_date_time, p.charging) for p in result.periods]


def total(result: SessionPeriods, kind: DimensionType) -> D:
    return sum((p.volume(kind) or D(0) for p in result.periods), D(0))


# ---------------------------------------------------------------- basics


def test_plain_session_is_one_charging_period_with_register_energy() -> None:
    """No states, no samples: one charging period, energy = stop - start register."""
    result = charging_periods(session(90))
    [period] = result.periods
    assert period.start_date_time == T0
    assert period.charging
    assert period.volume(DimensionType.ENERGY) == D("10.0000")
    assert period.volume(DimensionType.TIME) == D("1.5000")
    assert period.volume(DimensionType.PARKING_TIME) is None
    assert result.energy_wh == D(10000)
    assert result.energy_source == "registers"
    assert result.charging_seconds == D(5400)
    assert result.parking_seconds == 0
    assert result.notes == ()


def test_to_ocpi_shape() -> None:
    """to_ocpi gives OCPI CDR charging_periods: UTC text times and Decimal volumes."""
    result = charging_periods(session(30), [at(15)])
    assert result.to_ocpi() == [
        {
            "start_date_time": "2024-05-06T08:00:00Z",
            "dimensions": [
                {"type": "ENERGY", "volume": D("5.0000")},
                {"type": "TIME", "volume": D("0.2500")},
            ],
        },
        {
            "start_date_time": "2024-05-06T08:15:00Z",
            "dimensions": [
                {"type": "ENERGY", "volume": D("5.0000")},
                {"type": "TIME", "volume": D("0.2500")},
            ],
        },
    ]


def test_no_samples_and_no_registers_is_zero_energy() -> None:
    """Without meter values or samples the energy is 0 and says so."""
    result = charging_periods(session(60, None, None))
    [period] = result.periods
    assert period.volume(DimensionType.ENERGY) == D("0.0000")
    assert period.volume(DimensionType.TIME) == D("1.0000")
    assert result.energy_source == "none"


# ---------------------------------------------------------------- charging and parking


def test_suspended_ev_in_the_middle_is_parking() -> None:
    """Charging 30 min, SuspendedEV 45 min, Charging 15 min: three periods, right hours."""
    states = [state(-1, "Charging"), state(30, "SuspendedEV"), state(75, "Charging")]
    samples = [energy(30, "6000"), energy(75, "6000")]
    result = charging_periods(session(90, samples=samples, states=states))
    assert kinds(result) == [(T0, True), (at(30), False), (at(75), True)]
    first, parked, last = result.periods
    assert first.volume(DimensionType.TIME) == D("0.5000")
    assert parked.volume(DimensionType.PARKING_TIME) == D("0.7500")
    assert parked.volume(DimensionType.TIME) is None
    assert last.volume(DimensionType.TIME) == D("0.2500")
    assert [p.volume(DimensionType.ENERGY) for p in result.periods] == [
        D("5.0000"),
        D("0.0000"),
        D("5.0000"),
    ]
    assert result.charging_seconds == D(2700)
    assert result.parking_seconds == D(2700)


@pytest.mark.parametrize(
    "parking",
    ["SuspendedEVSE", "Finishing", "EVConnected", "Idle", "Preparing", "Faulted", "Available"],
)
def test_not_charging_states_are_parking(parking: str) -> None:
    """Every state but Charging (1.6 and 2.0.1 names) is parking."""
    result = charging_periods(session(60, states=[state(0, "Charging"), state(20, parking)]))
    assert kinds(result) == [(T0, True), (at(20), False)]


def test_preparing_at_the_start_then_charging() -> None:
    """A session that starts in Preparing parks until Charging is reported."""
    states = [state(-2, "Preparing"), state(3, "Charging")]
    result = charging_periods(session(60, states=states))
    assert kinds(result) == [(T0, False), (at(3), True)]
    assert result.parking_seconds == D(180)


def test_unknown_state_changes_nothing_and_last_state_at_an_instant_wins() -> None:
    """An unknown state string is ignored; of two states at one instant the last counts."""
    states = [state(10, "SuspendedEV"), state(10, "Charging"), state(20, "Bogus")]
    result = charging_periods(session(60, states=states))
    assert kinds(result) == [(T0, True)]


def test_power_during_suspended_state_is_charging() -> None:
    """A power reading above 100 W inside SuspendedEV makes the stretch charging."""
    states = [state(0, "Charging"), state(20, "SuspendedEV"), state(50, "Charging")]
    samples = [power(30, "7400"), power(40, "40")]
    result = charging_periods(session(60, samples=samples, states=states))
    assert kinds(result) == [
        (T0, True),
        (at(20), False),
        (at(30), True),
        (at(40), False),
        (at(50), True),
    ]


def test_standby_power_stays_parking() -> None:
    """Standby draw (below the threshold) during a suspended state is still parking."""
    states = [state(0, "Charging"), state(20, "SuspendedEVSE")]
    samples = [power(25, "100"), power(35, "0.08", "kW")]
    result = charging_periods(session(60, samples=samples, states=states))
    assert kinds(result) == [(T0, True), (at(20), False)]


def test_late_charging_status_is_caught_by_current() -> None:
    """Current (summed over phases, above 1 A) in Preparing means the charge had begun."""
    states = [state(0, "Preparing"), state(10, "Charging")]
    samples = [Sample(at(4), CURRENT, D("16"), "A", phase=p) for p in ("L1", "L2", "L3")]
    result = charging_periods(session(60, states=states, samples=samples))
    assert kinds(result) == [(T0, False), (at(4), True)]


def test_stale_power_before_a_parking_state_does_not_reach_into_it() -> None:
    """A reading taken while charging does not turn the following SuspendedEV into charging."""
    states = [state(0, "Charging"), state(20, "SuspendedEV")]
    result = charging_periods(session(60, states=states, samples=[power(19, "11000")]))
    assert kinds(result) == [(T0, True), (at(20), False)]


# ---------------------------------------------------------------- splits and DST


def test_split_at_18_local() -> None:
    """A session 17:00-19:30 Berlin (CEST) splits at 18:00 local = 16:00 UTC."""
    start = datetime(2024, 5, 6, 15, 0, tzinfo=UTC)
    stop = datetime(2024, 5, 6, 17, 30, tzinfo=UTC)
    splits = tariff_boundaries(start, stop, "Europe/Berlin", [time(18), time(0)])
    assert splits == [datetime(2024, 5, 6, 16, 0, tzinfo=UTC)]
    result = charging_periods(SessionReadings(start, stop, 0, 25000, [], []), splits)
    assert [p.start_date_time.astimezone(BERLIN).hour for p in result.periods] == [17, 18]
    assert [p.volume(DimensionType.TIME) for p in result.periods] == [D("1.0000"), D("1.5000")]
    assert [p.volume(DimensionType.ENERGY) for p in result.periods] == [D("10.0000"), D("15.0000")]


def test_split_does_not_merge_with_a_state_switch() -> None:
    """A split inside a parking stretch gives two parking periods."""
    states = [state(0, "Charging"), state(10, "SuspendedEV")]
    result = charging_periods(session(60, states=states), [at(30), at(10), at(-5), at(60)])
    assert kinds(result) == [(T0, True), (at(10), False), (at(30), False)]


def test_spring_forward_boundaries() -> None:
    """Berlin 2024-03-31: 02:30 does not exist; it is reached at 03:00 CEST (01:00 UTC).
    Midnights are 23:00 UTC before and 22:00 UTC after the change."""
    start = datetime(2024, 3, 30, 12, 0, tzinfo=UTC)
    stop = datetime(2024, 4, 1, 12, 0, tzinfo=UTC)
    found = tariff_boundaries(start, stop, BERLIN, [time(0), time(2, 30), time(18)])
    assert found == [
        datetime(2024, 3, 30, 17, 0, tzinfo=UTC),  # 18:00 CET
        datetime(2024, 3, 30, 23, 0, tzinfo=UTC),  # 00:00 CET
        datetime(2024, 3, 31, 1, 0, tzinfo=UTC),  # 02:30 skipped: 03:00 CEST
        datetime(2024, 3, 31, 16, 0, tzinfo=UTC),  # 18:00 CEST
        datetime(2024, 3, 31, 22, 0, tzinfo=UTC),  # 00:00 CEST
        datetime(2024, 4, 1, 0, 30, tzinfo=UTC),  # 02:30 CEST
    ]


def test_fall_back_boundaries_and_hours() -> None:
    """Berlin 2024-10-27: 02:30 happens twice (00:30 and 01:30 UTC), both are split
    points; a session 00:00-04:00 local that night lasts 5 hours."""
    start = datetime(2024, 10, 27, 0, 0, tzinfo=BERLIN)
    stop = datetime(2024, 10, 27, 4, 0, tzinfo=BERLIN)
    found = tariff_boundaries(start, stop, "Europe/Berlin", [time(2, 30)])
    assert found == [
        datetime(2024, 10, 27, 0, 30, tzinfo=UTC),
        datetime(2024, 10, 27, 1, 30, tzinfo=UTC),
    ]
    result = charging_periods(SessionReadings(start, stop, 0, 5000, [], []), found)
    assert [p.volume(DimensionType.TIME) for p in result.periods] == [
        D("2.5000"),
        D("1.0000"),
        D("1.5000"),
    ]
    assert total(result, DimensionType.TIME) == D(5)
    assert total(result, DimensionType.ENERGY) == D(5)


def test_boundaries_outside_or_empty() -> None:
    """Only instants strictly inside the session count; an empty range has none."""
    start = datetime(2024, 5, 6, 16, 0, tzinfo=UTC)  # 18:00 CEST exactly
    assert tariff_boundaries(start, start + timedelta(hours=2), BERLIN, [time(18)]) == []
    assert tariff_boundaries(start, start, BERLIN, [time(18)]) == []


# ---------------------------------------------------------------- energy


def test_energy_interpolated_between_register_samples() -> None:
    """Energy per period follows the register samples, linear between them."""
    samples = [energy(20, "2000"), energy(40, "9000")]
    result = charging_periods(session(60, samples=samples), [at(10), at(30)])
    assert [p.energy_wh for p in result.periods] == [D("500.0"), D("4000.0"), D("5500.0")]


def test_samples_in_kwh_with_multiplier() -> None:
    """kWh and 10^multiplier are applied; without meter values the samples give the total."""
    samples = [
        energy(0, "12.5", "kWh"),  # 12500 Wh
        energy(30, "131", "Wh", multiplier=2),  # 13100 Wh
        energy(60, "0.01375", "kWh", multiplier=3),  # 13750 Wh
    ]
    result = charging_periods(session(60, None, None, samples=samples), [at(30)])
    assert result.energy_source == "samples"
    assert [p.volume(DimensionType.ENERGY) for p in result.periods] == [D("0.6000"), D("0.6500")]
    assert result.energy_wh == D("1250.0")


def test_energy_sums_to_registers_exactly() -> None:
    """Awkward thirds still sum exactly to the register difference (0.0001 kWh units)."""
    result = charging_periods(session(60, 0, 1000), [at(20), at(40)])
    volumes = [p.volume(DimensionType.ENERGY) for p in result.periods]
    assert volumes == [D("0.3334"), D("0.3333"), D("0.3333")]
    assert total(result, DimensionType.ENERGY) == D("1.0000")
    assert sum((p.energy_wh for p in result.periods), D(0)) == D(1000)


def test_time_volumes_sum_to_rounded_total() -> None:
    """TIME volumes sum to the charging hours at 4 decimals, each within 0.0001 h."""
    result = charging_periods(session(1), [at(1 / 3), at(2 / 3)])
    volumes = [p.volume(DimensionType.TIME) or D(0) for p in result.periods]
    assert volumes == [D("0.0056"), D("0.0056"), D("0.0055")]
    assert sum(volumes, D(0)) == D("0.0167")
    assert all(abs(v - D(20) / D(3600)) < D("0.0001") for v in volumes)
    assert [p.seconds for p in result.periods] == [D(20), D(20), D(20)]


def test_samples_scaled_to_the_registers() -> None:
    """Samples shape the distribution, the registers decide the total."""
    # samples say 500 Wh then 1500 Wh more (they lag), registers say 4000 Wh in all
    samples = [energy(30, "1500")]
    result = charging_periods(session(60, 1000, 5000, samples=samples), [at(30)])
    assert [p.energy_wh for p in result.periods] == [D("500.0"), D("3500.0")]
    assert result.energy_wh == D(4000)


def test_energy_while_parked_stays_in_the_parking_period() -> None:
    """Energy the register shows during a parking period is that period's ENERGY."""
    states = [state(0, "Charging"), state(30, "SuspendedEV")]
    samples = [energy(30, "1000"), energy(45, "1500")]
    result = charging_periods(session(60, 0, 1500, samples=samples, states=states))
    assert [p.energy_wh for p in result.periods] == [D("1000.0"), D("500.0")]
    assert not result.periods[1].charging


def test_out_of_order_and_duplicate_samples() -> None:
    """Shuffled and repeated samples give the same periods as clean ones."""
    clean = [energy(15, "3000"), power(15, "11000"), energy(45, "8000"), power(45, "7000")]
    messy = [clean[2], clean[0], clean[3], clean[0], clean[1], clean[2], clean[1]]
    a = charging_periods(session(60, samples=clean), [at(30)])
    b = charging_periods(session(60, samples=messy), [at(30)])
    assert a.periods == b.periods
    assert any("duplicate" in n for n in b.notes)


def test_samples_outside_the_session_are_ignored() -> None:
    """Samples before the start or after the stop change nothing and are noted."""
    outside = [energy(-5, "999999"), power(-5, "50000"), energy(65, "0"), power(70, "90000")]
    clean = charging_periods(session(60))
    result = charging_periods(session(60, samples=outside))
    assert result.periods == clean.periods
    assert any("outside the session" in n for n in result.notes)


def test_register_reset_mid_session() -> None:
    """A meter reset mid-session (the register stays low to the stop): the drop adds
    nothing, counting resumes from the new reading and the curve gives the total."""
    samples = [energy(20, "3000"), energy(30, "0"), energy(40, "1000")]
    result = charging_periods(session(60, 1000, 2000, samples=samples), [at(30)])
    # 1000 -> 3000 (+2000), drop to 0 (+0), 0 -> 1000 -> 2000 (+2000)
    assert result.energy_wh == D(4000)
    assert result.energy_source == "samples"
    assert [p.energy_wh for p in result.periods] == [D("2000.0"), D("2000.0")]
    assert any("went back" in n for n in result.notes)
    assert any("below an earlier register sample" in n for n in result.notes)


def test_meter_stop_below_meter_start() -> None:
    """meter_stop < meter_start (meter replaced): the register curve gives the energy."""
    samples = [energy(30, "5000"), energy(40, "10")]
    result = charging_periods(session(60, 1000, 510, samples=samples))
    assert result.energy_wh == D(4500)  # +4000, reset, +500
    assert result.energy_source == "samples"
    assert any("below meter start" in n for n in result.notes)


def test_register_glitch_keeps_the_registers() -> None:
    """A single low reading the register recovers from is a glitch: the register
    difference stays the total, the shape is scaled to it."""
    samples = [energy(20, "3000"), energy(30, "0"), energy(40, "3500")]
    result = charging_periods(session(60, 1000, 4000, samples=samples))
    assert result.energy_wh == D(3000)
    assert result.energy_source == "registers"


def test_unconvertible_units_and_other_measurands_are_ignored() -> None:
    """varh registers and voltages do not disturb energy or power."""
    samples = [
        Sample(at(10), REGISTER, D("5"), "varh"),
        Sample(at(10), "Voltage", D("230"), "V"),
        Sample(at(10), POWER, D("3"), "kVA"),
    ]
    result = charging_periods(session(60, samples=samples))
    [period] = result.periods
    assert period.volume(DimensionType.MAX_POWER) is None
    assert result.energy_wh == D(10000)


# ---------------------------------------------------------------- power and current


def test_max_and_min_power_per_period() -> None:
    """MAX/MIN_POWER in kW from the power samples taken within each period."""
    samples = [power(5, "11.04", "kW"), power(20, "7360"), power(40, "3680"), power(60, "0")]
    result = charging_periods(session(60, samples=samples), [at(30)])
    first, second = result.periods
    assert first.volume(DimensionType.MAX_POWER) == D("11.0400")
    assert first.volume(DimensionType.MIN_POWER) == D("7.3600")
    # the reading at the stop belongs to the last period
    assert second.volume(DimensionType.MAX_POWER) == D("3.6800")
    assert second.volume(DimensionType.MIN_POWER) == D("0.0000")


def test_per_phase_values_are_summed() -> None:
    """Without a total, per-phase power and current are summed (N is left out)."""
    samples = [power(10, "3680", phase=p) for p in ("L1-N", "L2-N", "L3-N")]
    samples += [Sample(at(10), CURRENT, D("16"), "A", phase=p) for p in ("L1", "L2", "L3")]
    samples.append(Sample(at(10), CURRENT, D("2"), "A", phase="N"))
    [period] = charging_periods(session(60, samples=samples)).periods
    assert period.volume(DimensionType.MAX_POWER) == D("11.0400")
    assert period.volume(DimensionType.MAX_CURRENT) == D("48.0000")
    assert period.volume(DimensionType.MIN_CURRENT) == D("48.0000")


# ---------------------------------------------------------------- odd sessions


def test_zero_length_and_reversed_sessions() -> None:
    """A stop at or before the start is one empty period, not an error."""
    same = charging_periods(SessionReadings(T0, T0, 100, 100, [], []))
    assert len(same.periods) == 1
    assert same.periods[0].volume(DimensionType.TIME) == D(0)
    reversed_ = charging_periods(SessionReadings(T0, at(-5), 100, 150, [], []))
    assert len(reversed_.periods) == 1
    assert reversed_.energy_wh == D(50)
    assert any("before start" in n for n in reversed_.notes)


def test_naive_times_are_refused() -> None:
    """Naive datetimes are a programming error, not data: ValueError."""
    with pytest.raises(ValueError, match="timezone-aware"):
        charging_periods(SessionReadings(T0.replace(tzinfo=None), at(5), None, None, [], []))


# ---------------------------------------------------------------- properties


@st.composite
def sessions(draw: st.DrawFn) -> tuple[SessionReadings, list[datetime]]:
    length = draw(st.integers(min_value=0, max_value=600))
    start_wh = draw(st.one_of(st.none(), st.integers(0, 10**7)))
    stop_wh = None if start_wh is None else start_wh + draw(st.integers(0, 10**5))
    stop_wh = draw(st.sampled_from([stop_wh, None])) if start_wh is not None else None
    names = ["Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "EVConnected", "Oops"]
    states = [
        state(draw(st.integers(-30, 630)), draw(st.sampled_from(names)))
        for _ in range(draw(st.integers(0, 6)))
    ]
    # register samples within the meter values when both are known (a reading
    # above meter_stop would mean a reset, tested on its own), any order
    low, high = (start_wh, stop_wh) if stop_wh is not None else (0, 10**7)
    assert low is not None
    samples = [
        energy(draw(st.integers(-30, 630)), str(draw(st.integers(low, high))))
        for _ in range(draw(st.integers(0, 6)))
    ]
    samples += [
        power(draw(st.integers(-30, 630)), str(draw(st.integers(0, 22000))))
        for _ in range(draw(st.integers(0, 6)))
    ]
    splits = [at(draw(st.integers(-30, 630))) for _ in range(draw(st.integers(0, 4)))]
    return SessionReadings(T0, at(length), start_wh, stop_wh, samples, states), splits


@settings(max_examples=150, deadline=None)
@given(sessions())
def test_periods_cover_the_session_and_sum_to_the_registers(
    case: tuple[SessionReadings, list[datetime]],
) -> None:
    """Periods never overlap, cover [start, stop] and their energy sums to the total,
    which is the register difference whenever both registers are known."""
    readings, splits = case
    result = charging_periods(readings, splits)
    periods = result.periods
    assert periods
    assert periods[0].start_date_time == readings.started_at
    assert periods[-1].end_date_time == readings.stopped_at
    for before, after in pairwise(periods):
        assert before.end_date_time == after.start_date_time
    if readings.stopped_at > readings.started_at:
        assert all(p.start_date_time < p.end_date_time for p in periods)
    for split in splits:
        if readings.started_at < split < readings.stopped_at:
            assert split in {p.start_date_time for p in periods}
    energy_total = total(result, DimensionType.ENERGY)
    assert energy_total * 1000 == result.energy_wh
    assert sum((p.energy_wh for p in periods), D(0)) == result.energy_wh
    if readings.meter_start_wh is not None and readings.meter_stop_wh is not None:
        assert result.energy_wh == readings.meter_stop_wh - readings.meter_start_wh
    seconds = sum((p.seconds for p in periods), D(0))
    assert seconds == result.charging_seconds + result.parking_seconds
    assert seconds == D((readings.stopped_at - readings.started_at).total_seconds())
    for p in periods:
        assert (p.volume(DimensionType.TIME) is not None) == p.charging
        assert (p.volume(DimensionType.PARKING_TIME) is not None) != p.charging
        assert p.volume(DimensionType.ENERGY) is not None


@settings(max_examples=150, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2023, 1, 1),  # hypothesis wants naive bounds
        max_value=datetime(2026, 12, 31),
        timezones=st.just(UTC),
    ),
    st.integers(min_value=1, max_value=72),
    st.lists(st.times(), min_size=1, max_size=4),
)
@example(datetime(2024, 3, 30, 12, tzinfo=UTC), 48, [time(2, 30), time(2), time(3)])
@example(datetime(2024, 10, 26, 12, tzinfo=UTC), 48, [time(2, 30), time(2), time(3)])
@example(datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC), 1, [time(2, 59, 59, 999999)])
def test_boundaries_are_the_local_times_asked_for(
    start: datetime, hours: int, wanted: list[time]
) -> None:
    """Every boundary is an instant where Berlin's clock shows a wanted time, or the
    transition that skips it; each wanted time is met at least once a day."""
    stop = start + timedelta(hours=hours)
    found = tariff_boundaries(start, stop, BERLIN, wanted)
    assert found == sorted(set(found))
    naive_wanted = {t.replace(tzinfo=None) for t in wanted}
    for instant in found:
        assert start < instant < stop
        local = instant.astimezone(BERLIN)
        if local.time().replace(tzinfo=None) in naive_wanted:
            continue
        # skipped by spring-forward: the clock jumped over a wanted time here
        before = (instant - timedelta(microseconds=1)).astimezone(BERLIN)
        assert local.utcoffset() != before.utcoffset()
        assert any(before.time() < t < local.time() for t in naive_wanted)
    if hours >= 26:  # a whole local day inside: every wanted time occurs
        assert len(found) >= len(naive_wanted)
