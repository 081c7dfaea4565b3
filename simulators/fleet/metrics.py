"""What a fleet run measured: latency histograms, per-second series, counters, accounting.

Latencies go into a log-bucketed histogram (1 % relative precision), so
percentiles over millions of calls cost constant memory; every second of the
run has its own histogram for the over-time plots. The accounting counts what
the server confirmed it stored, the way it stores it, so a run can be checked
against the database row for row.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Accounting", "FleetMetrics", "LatencyHistogram", "SecondStats"]

_PRECISION = 0.01
_LOG_BASE = math.log1p(_PRECISION)
_SMALLEST = 1e-6  # one microsecond: anything faster lands in the first bucket


class LatencyHistogram:
    """Seconds in buckets growing by 1 %; a percentile is within 1 % of the exact one."""

    __slots__ = ("_buckets", "count", "maximum", "minimum", "total")

    def __init__(self) -> None:
        self._buckets: Counter[int] = Counter()
        self.count = 0
        self.total = 0.0
        self.maximum = 0.0
        self.minimum = math.inf

    def record(self, seconds: float) -> None:
        value = max(seconds, _SMALLEST)
        self._buckets[math.floor(math.log(value / _SMALLEST) / _LOG_BASE)] += 1
        self.count += 1
        self.total += seconds
        self.maximum = max(self.maximum, seconds)
        self.minimum = min(self.minimum, seconds)

    def merge(self, other: LatencyHistogram) -> None:
        self._buckets.update(other._buckets)
        self.count += other.count
        self.total += other.total
        self.maximum = max(self.maximum, other.maximum)
        self.minimum = min(self.minimum, other.minimum)

    def percentile(self, percent: float) -> float | None:
        """Nearest rank: the smallest recorded value with ``percent`` % of them at or below it.

        None when nothing was recorded. The answer is the upper edge of the bucket,
        capped at the largest value seen, so p100 is the maximum exactly.
        """
        if not 0 < percent <= 100:
            raise ValueError(f"a percentile is in (0, 100], got {percent}")
        if self.count == 0:
            return None
        rank = math.ceil(percent / 100 * self.count)
        seen = 0
        for bucket in sorted(self._buckets):
            seen += self._buckets[bucket]
            if seen >= rank:
                upper = _SMALLEST * (1 + _PRECISION) ** (bucket + 1)
                return max(self.minimum, min(upper, self.maximum))
        return self.maximum

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


@dataclass(slots=True)
class SecondStats:
    """One second of the run."""

    calls: int = 0
    answers: int = 0
    errors: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)


@dataclass(slots=True)
class Accounting:
    """What the server confirmed, counted the way it stores it."""

    transaction_ids: set[int] = field(default_factory=set)
    """Distinct transactionIds in StartTransaction results: one charging_session row each."""
    stopped_transaction_ids: set[int] = field(default_factory=set)
    """Transactions whose StopTransaction was answered: completed in the database."""
    stops_answered: int = 0
    meter_values_accepted: int = 0
    """sampledValue elements in answered MeterValues and StopTransaction.transactionData:
    one meter_value row each."""
    maybe_duplicated_rows: int = 0
    """meter_value rows in messages resent after a send without an answer: the server may
    hold them twice, since it does not deduplicate MeterValues."""
    transaction_messages_resent: int = 0
    """Transaction messages delivered after waiting in the queue (socket down or retried)."""
    transaction_messages_dropped: int = 0
    transaction_messages_undelivered: int = 0
    """Still queued when the run ended."""
    sessions_started: int = 0
    """Sessions the stations began (including offline ones)."""
    sessions_started_offline: int = 0
    """Begun with a cached tag while the socket was down: start and stop wait in the queue."""
    sessions_stopped: int = 0
    id_tag_refusals: Counter[str] = field(default_factory=Counter)


class FleetMetrics:
    """Counters of one fleet run; every station reports into the same instance."""

    def __init__(self, clock_start: float) -> None:
        self.clock_start = clock_start
        self.connections_attempted = 0
        self.connections_succeeded = 0
        self.connections_refused: Counter[int] = Counter()
        """HTTP status of refused handshakes."""
        self.connections_failed: Counter[str] = Counter()
        """Other failures by kind (timeout, connection refused, ...)."""
        self.disconnects: Counter[str] = Counter()
        """planned (the scenario's reconnects), reset, server (closed by the server)."""
        self.reconnects = 0
        self.calls: Counter[str] = Counter()
        self.answers: Counter[str] = Counter()
        self.call_errors: Counter[tuple[str, str]] = Counter()
        """(errorCode, action) of CALLERRORs the server answered."""
        self.timeouts: Counter[str] = Counter()
        self.lost_in_flight: Counter[str] = Counter()
        """Calls whose socket closed before the answer came."""
        self.server_calls: Counter[str] = Counter()
        self.latency = LatencyHistogram()
        self.latency_by_action: defaultdict[str, LatencyHistogram] = defaultdict(LatencyHistogram)
        self.seconds: defaultdict[int, SecondStats] = defaultdict(SecondStats)
        self.connected = 0
        self.booted = 0
        self.charging = 0
        self.faults = 0
        self.accounting = Accounting()

    def _second(self, now: float) -> SecondStats:
        return self.seconds[max(0, int(now - self.clock_start))]

    def call_sent(self, action: str, now: float) -> None:
        self.calls[action] += 1
        self._second(now).calls += 1

    def answer_received(self, action: str, sent_at: float, now: float) -> None:
        latency = now - sent_at
        self.answers[action] += 1
        self.latency.record(latency)
        self.latency_by_action[action].record(latency)
        second = self._second(now)
        second.answers += 1
        second.latency.record(latency)

    def error_received(self, action: str, code: str, sent_at: float, now: float) -> None:
        self.call_errors[(code, action)] += 1
        latency = now - sent_at
        self.latency.record(latency)
        self.latency_by_action[action].record(latency)
        second = self._second(now)
        second.errors += 1
        second.latency.record(latency)

    def timed_out(self, action: str, now: float) -> None:
        self.timeouts[action] += 1
        self._second(now).errors += 1

    @property
    def errors(self) -> int:
        return (
            sum(self.call_errors.values())
            + sum(self.timeouts.values())
            + sum(self.connections_refused.values())
            + sum(self.connections_failed.values())
        )

    def recent(self, now: float, window: int) -> tuple[float, float | None]:
        """Calls per second and p99 latency over the last ``window`` whole seconds."""
        last = int(now - self.clock_start) - 1
        seconds = [
            self.seconds[s] for s in range(max(0, last - window + 1), last + 1) if s in self.seconds
        ]
        merged = LatencyHistogram()
        calls = 0
        for stats in seconds:
            merged.merge(stats.latency)
            calls += stats.calls
        return calls / max(1, window), merged.percentile(99)


def merged(histograms: Iterable[LatencyHistogram]) -> LatencyHistogram:
    total = LatencyHistogram()
    for histogram in histograms:
        total.merge(histogram)
    return total
