"""The lock-free call-latency histogram scrapes exactly as prometheus_client's."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from csms.metrics import LoopHistogram, Metrics

pytestmark = pytest.mark.backend_independent

BUCKETS = (0.0005, 0.001, 0.01, 0.5, 10.0)
observations = st.lists(
    st.tuples(
        st.sampled_from(["Heartbeat", "MeterValues", "Authorize"]),
        st.one_of(
            st.sampled_from(BUCKETS),  # exactly on a bound: counted in it (le)
            st.floats(min_value=0, max_value=30, allow_nan=False),
        ),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(observations)
def test_the_exposition_equals_prometheus_clients_histogram(
    seen: list[tuple[str, float]],
) -> None:
    """Buckets (cumulative, le), counts and sums per label are written as
    prometheus_client's own Histogram writes them, for any observations."""
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    loop_histogram = LoopHistogram("calls_seconds", "calls", "action", BUCKETS, ours)
    reference = Histogram("calls_seconds", "calls", ["action"], buckets=BUCKETS, registry=theirs)
    for action, seconds in seen:
        loop_histogram.observe(action, seconds)
        reference.labels(action).observe(seconds)

    def lines(registry: CollectorRegistry) -> list[str]:
        text = generate_latest(registry).decode()
        return sorted(line for line in text.splitlines() if "_created" not in line)

    assert lines(ours) == lines(theirs)


def test_calls_answered_are_counted_per_action() -> None:
    """What the gateway's observer feeds shows as the action's _count, an
    unknown action under one label."""
    metrics = Metrics()
    for _ in range(3):
        metrics.call_answered("Heartbeat", 0.0002, None)
    metrics.call_answered("NoSuchThing", 0.0001, "NotImplemented")
    text = metrics.exposition().decode()
    assert 'csms_ocpp_call_duration_seconds_count{action="Heartbeat"} 3.0' in text
    assert 'csms_ocpp_call_duration_seconds_count{action="(unknown)"} 1.0' in text
    assert metrics.call_latency.count("Heartbeat") == 3
