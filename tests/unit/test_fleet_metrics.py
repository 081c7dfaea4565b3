"""Fleet metrics: percentile maths of the latency histogram and the per-second series."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.fleet.metrics import FleetMetrics, LatencyHistogram

pytestmark = pytest.mark.backend_independent


def _exact_percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(percent / 100 * len(ordered)) - 1]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=1e-5, max_value=100.0), min_size=1, max_size=300),
    st.sampled_from([1, 50, 90, 99, 99.9, 100]),
)
def test_a_percentile_is_within_one_percent_of_the_exact_nearest_rank(
    values: list[float], percent: float
) -> None:
    """For any latencies, the histogram's percentile is within 1 % of the exact one."""
    histogram = LatencyHistogram()
    for value in values:
        histogram.record(value)
    exact = _exact_percentile(values, percent)
    answer = histogram.percentile(percent)
    assert answer is not None
    assert abs(answer - exact) <= 0.0101 * exact


def test_p100_is_the_maximum_and_the_smallest_percentile_the_minimum() -> None:
    """The extremes are exact, not bucket edges."""
    histogram = LatencyHistogram()
    for value in (0.0123, 0.5, 0.0031, 2.75):
        histogram.record(value)
    assert histogram.percentile(100) == 2.75
    assert histogram.percentile(0.1) == pytest.approx(0.0031, rel=0.01)
    assert histogram.maximum == 2.75 and histogram.count == 4


def test_percentiles_of_a_known_set_pick_the_nearest_rank() -> None:
    """Of 1..100 ms, p50 is 50 ms, p90 90 ms and p99 99 ms (to 1 %)."""
    histogram = LatencyHistogram()
    values = [n / 1000 for n in range(1, 101)]
    random.Random(3).shuffle(values)
    for value in values:
        histogram.record(value)
    assert histogram.percentile(50) == pytest.approx(0.050, rel=0.01)
    assert histogram.percentile(90) == pytest.approx(0.090, rel=0.01)
    assert histogram.percentile(99) == pytest.approx(0.099, rel=0.01)


def test_an_empty_histogram_has_no_percentile_and_bad_percentiles_are_refused() -> None:
    """Nothing recorded: None; a percentile outside (0, 100]: ValueError."""
    histogram = LatencyHistogram()
    assert histogram.percentile(99) is None
    assert histogram.mean is None
    with pytest.raises(ValueError):
        histogram.percentile(0)
    with pytest.raises(ValueError):
        histogram.percentile(101)


def test_merging_histograms_is_the_same_as_recording_into_one() -> None:
    """Merged per-second histograms give the run's percentiles."""
    rng = random.Random(11)
    values = [rng.lognormvariate(-4, 1) for _ in range(2000)]
    whole, first, second = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    for index, value in enumerate(values):
        whole.record(value)
        (first if index % 2 else second).record(value)
    first.merge(second)
    for percent in (50, 90, 99, 100):
        assert first.percentile(percent) == whole.percentile(percent)
    assert first.count == whole.count


def test_calls_answers_and_errors_land_in_the_second_they_happened() -> None:
    """The per-second series counts each event in its own second since the start."""
    metrics = FleetMetrics(clock_start=100.0)
    metrics.call_sent("Heartbeat", 100.2)
    metrics.answer_received("Heartbeat", sent_at=100.2, now=100.25)
    metrics.call_sent("MeterValues", 102.9)
    metrics.error_received("MeterValues", "InternalError", sent_at=102.9, now=103.1)
    assert metrics.seconds[0].calls == 1 and metrics.seconds[0].answers == 1
    assert metrics.seconds[2].calls == 1
    assert metrics.seconds[3].errors == 1
    assert metrics.call_errors[("InternalError", "MeterValues")] == 1
    assert metrics.latency.count == 2
    assert metrics.latency_by_action["Heartbeat"].maximum == pytest.approx(0.05)


def test_recent_rate_and_p99_cover_the_last_whole_seconds() -> None:
    """The progress line's calls/s and p99 come from the last complete seconds only."""
    metrics = FleetMetrics(clock_start=0.0)
    for second in range(10):
        for _ in range(20):
            metrics.call_sent("Heartbeat", second + 0.5)
            metrics.answer_received("Heartbeat", second + 0.5, second + 0.5 + 0.001 * second)
    rate, p99 = metrics.recent(now=10.2, window=5)
    assert rate == 20
    assert p99 == pytest.approx(0.009, rel=0.01)  # seconds 5..9, the slowest is 9 ms
