"""Prometheus metrics of one process: what the benchmark measures, for
operators to watch (``GET /metrics`` on the web app and on the OCPP port).

Metrics are created on a registry per process (``Metrics``), not on
prometheus_client's global one, so several nodes in one test process do not
share counters. The hot path costs one histogram observation per call,
without a lock (:class:`LoopHistogram`). Gauges that mirror state
(connections, queue depth) are read when scraped, so they cost nothing
between scrapes.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.utils import floatToGoString

# The text format generate_latest writes (every Prometheus server reads it).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# OCPP answers take well under a millisecond when nothing waits for the
# database, tens of milliseconds with a commit, seconds when it struggles.
_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500)
# The CALLERROR code for an action the version does not have, and the label
# such calls are counted under.
UNKNOWN_ACTION_CODE = "NotImplemented"
UNKNOWN_ACTION_LABEL = "(unknown)"


class LoopHistogram:
    """A histogram by one label, observed from the event loop's thread only.

    prometheus_client's Histogram takes a lock twice per observation (sum
    and bucket); on the OCPP path, once per call, that was about 2% of the
    gateway's time. Here an observation is a bisect and two additions on
    plain numbers; the cumulative buckets are built when scraped."""

    def __init__(
        self,
        name: str,
        documentation: str,
        label: str,
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.label = label
        self._bounds = tuple(buckets)
        self._bucket_names = [floatToGoString(bound) for bound in self._bounds] + ["+Inf"]
        # Per label value: the count of each bucket (not cumulative; the
        # last is above every bound), then the sum.
        self._series: dict[str, list[float]] = {}
        registry.register(self)

    def observe(self, label_value: str, amount: float) -> None:
        series = self._series.get(label_value)
        if series is None:
            series = self._series[label_value] = [0] * (len(self._bounds) + 1) + [0.0]
        series[bisect_left(self._bounds, amount)] += 1
        series[-1] += amount

    def count(self, label_value: str) -> int:
        series = self._series.get(label_value)
        return 0 if series is None else int(sum(series[:-1]))

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, self.documentation, labels=[self.label])

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=[self.label])
        for label_value, series in list(self._series.items()):
            cumulative, buckets = 0.0, []
            for bucket_name, count in zip(self._bucket_names, series[:-1], strict=True):
                cumulative += count
                buckets.append((bucket_name, cumulative))
            family.add_metric([label_value], buckets, sum_value=series[-1])
        yield family


class Metrics:
    """The process's metrics and the observer methods that feed them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.stations_connected = Gauge(
            "csms_stations_connected",
            "Stations with an open OCPP connection to this process",
            registry=registry,
        )
        self.connections_opened = Counter(
            "csms_ocpp_connections_opened",
            "OCPP websocket connections admitted (a reconnect counts again)",
            ["protocol"],
            registry=registry,
        )
        self.handshakes_refused = Counter(
            "csms_ocpp_handshakes_refused",
            "OCPP handshakes refused, by reason",
            ["reason"],
            registry=registry,
        )
        self.call_latency = LoopHistogram(
            "csms_ocpp_call_duration_seconds",
            "Time from a charger's call read to its answer written, by action "
            "(its _count is the number of calls answered)",
            "action",
            _LATENCY_BUCKETS,
            registry,
        )
        self.call_errors = Counter(
            "csms_ocpp_callerrors",
            "CALLERRORs sent to chargers, by action and error code",
            ["action", "code"],
            registry=registry,
        )
        self.frames_rejected = Counter(
            "csms_ocpp_frames_rejected",
            "Frames that were not an OCPP-J message (answered with a CALLERROR)",
            ["code"],
            registry=registry,
        )
        self.write_queue = Gauge(
            "csms_write_queue_groups",
            "Write groups waiting for the next group commit",
            registry=registry,
        )
        self.write_batch = Histogram(
            "csms_write_batch_groups",
            "Write groups committed together in one database transaction",
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.write_latency = Histogram(
            "csms_write_commit_duration_seconds",
            "Time one group commit took in the database",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.write_failures = Counter(
            "csms_write_batch_failures",
            "Group commits the database refused (each group is then retried alone)",
            registry=registry,
        )
        # Many nodes (csms.domain.node_directory, csms.gateway.draining).
        self.stations_taken = Counter(
            "csms_stations_taken_by_other_nodes",
            "Station sockets closed here because the station connected to another node",
            registry=registry,
        )
        self.draining = Gauge(
            "csms_draining",
            "1 while this node drains (refuses connections, moves its chargers)",
            registry=registry,
        )
        self.drained_connections = Counter(
            "csms_drained_connections",
            "Station sockets closed with 1012 (service restart) by a drain",
            registry=registry,
        )

    # -- state read at scrape time -------------------------------------------

    def watch_connections(self, count: Callable[[], int]) -> None:
        self.stations_connected.set_function(lambda: float(count()))

    def watch_write_queue(self, depth: Callable[[], int]) -> None:
        self.write_queue.set_function(lambda: float(depth()))

    # -- the OCPP path --------------------------------------------------------

    def call_answered(self, action: str, seconds: float, error_code: str | None) -> None:
        if error_code == UNKNOWN_ACTION_CODE:
            # The action is whatever text the charger sent: as a label it
            # would let one charger grow the metrics without bound.
            action = UNKNOWN_ACTION_LABEL
        self.call_latency.observe(action, seconds)
        if error_code is not None:
            self.call_errors.labels(action, error_code).inc()

    def frame_rejected(self, code: str) -> None:
        self.frames_rejected.labels(code).inc()

    def connection_opened(self, protocol: str) -> None:
        self.connections_opened.labels(protocol).inc()

    def handshake_refused(self, reason: str) -> None:
        self.handshakes_refused.labels(reason).inc()

    # -- group commit (csms.domain.group_commit.CommitObserver) ---------------

    def batch_committed(self, size: int, seconds: float) -> None:
        self.write_batch.observe(size)
        self.write_latency.observe(seconds)

    def batch_failed(self, size: int) -> None:
        self.write_failures.inc()

    # -- exposition -----------------------------------------------------------

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)
