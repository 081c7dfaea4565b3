"""The fleet report: numbers in the JSON, the table, the HTML plots, the exit status."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from simulators.fleet.html_report import render_html, svg_line_chart
from simulators.fleet.metrics import FleetMetrics
from simulators.fleet.report import build_report, render_table
from simulators.fleet.runner import FleetOptions, FleetResult
from simulators.fleet.scenario import load_scenario

pytestmark = pytest.mark.backend_independent

_START = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)


def _result(metrics: FleetMetrics, load_seconds: float = 4.0) -> FleetResult:
    options = FleetOptions(
        url="ws://127.0.0.1:9000/ocpp", stations=2, duration=4, scenario=load_scenario("idle")
    )
    return FleetResult(
        options=options,
        metrics=metrics,
        started_at=_START,
        ended_at=_START,
        load_seconds=load_seconds,
        total_seconds=load_seconds + 1,
        stations_launched=2,
        stations_cut_off=0,
    )


def _busy_metrics() -> FleetMetrics:
    metrics = FleetMetrics(clock_start=0.0)
    metrics.connections_attempted = 5
    metrics.connections_succeeded = 3
    metrics.connections_refused[401] = 2
    for second, latency in ((0, 0.010), (1, 0.020), (3, 0.040)):
        metrics.call_sent("MeterValues", second + 0.1)
        metrics.answer_received("MeterValues", second + 0.1, second + 0.1 + latency)
    metrics.call_sent("StartTransaction", 4.5)
    metrics.error_received("StartTransaction", "InternalError", 4.5, 4.6)
    accounting = metrics.accounting
    # a retransmitted start is answered with the same id: still one session
    accounting.transaction_ids.update([11, 12, 12])
    accounting.stops_answered = 1
    accounting.stopped_transaction_ids.add(11)
    accounting.meter_values_accepted = 27
    return metrics


def test_the_report_holds_connections_calls_errors_and_the_accounting() -> None:
    """Refusals by HTTP status, calls and answers per action, CALLERRORs by code and action,
    and the accounting: distinct transaction ids, stops answered, meter rows."""
    report = build_report(_result(_busy_metrics()))
    assert report["connections"]["refused_by_http_status"] == {"401": 2}
    assert report["connections"]["succeeded"] == 3
    meter = report["calls"]["by_action"]["MeterValues"]
    assert (meter["sent"], meter["answered"], meter["call_errors"]) == (3, 3, 0)
    assert meter["latency_ms"]["max"] == 40.0
    assert report["calls"]["by_action"]["StartTransaction"]["call_errors"] == 1
    assert report["call_errors"] == [
        {"code": "InternalError", "action": "StartTransaction", "count": 1}
    ]
    accounting = report["accounting"]
    assert accounting["sessions_accepted"] == 2
    assert accounting["stop_transactions_answered"] == 1
    assert accounting["meter_values_accepted"] == 27
    assert report["exit_status"] == 0
    json.dumps(report)  # JSON-ready as it is


def test_the_timeline_has_one_row_per_second_including_quiet_seconds() -> None:
    """Second 2 had no calls: it is a row of zeros without latency, not a gap."""
    timeline = build_report(_result(_busy_metrics()))["timeline"]
    assert [row["second"] for row in timeline] == [0, 1, 2, 3, 4]
    assert timeline[2] == {
        "second": 2,
        "calls": 0,
        "answers": 0,
        "errors": 0,
        "p50": None,
        "p90": None,
        "p99": None,
    }
    assert timeline[3]["p99"] == 40.0
    assert timeline[4]["errors"] == 1


def test_load_phase_latency_leaves_out_the_seconds_after_the_stop_request() -> None:
    """Seconds from the stop request on (the final StopTransactions) are not in the
    load-phase latency, but are in the overall one."""
    report = build_report(_result(_busy_metrics(), load_seconds=2.5))
    assert report["latency_ms_load_phase"]["count"] == 2
    assert report["latency_ms"]["count"] == 4


def test_a_run_where_nobody_connected_exits_non_zero() -> None:
    """No successful connection: exit status 1."""
    metrics = FleetMetrics(clock_start=0.0)
    metrics.connections_attempted = 4
    metrics.connections_failed["connection refused"] = 4
    assert build_report(_result(metrics))["exit_status"] == 1


def test_the_table_shows_the_per_action_rows_and_the_accounting() -> None:
    """The readable table names each action with its counts and the accounting totals."""
    table = render_table(build_report(_result(_busy_metrics())))
    assert re.search(r"^MeterValues\s+3\s+3\s+0\s+0\s+", table, re.MULTILINE)
    assert re.search(r"InternalError\s+StartTransaction\s+1", table)
    assert re.search(r"meter values accepted \(sampledValue rows\)\s+27", table)
    assert "refused 401: 2" in table


def test_the_html_report_has_both_plots_and_the_report_data() -> None:
    """report.html holds a latency chart with p50/p90/p99 lines, a throughput chart, and
    the report's JSON for tools."""
    report = build_report(_result(_busy_metrics()))
    page = render_html(report)
    assert page.count("<svg") == 2
    assert page.count('class="marker"') == 2  # where the load phase ended, on both plots
    for series in ("p50", "p90", "p99", "calls", "answers", "errors"):
        assert f'data-series="{series}"' in page
    embedded = re.search(r'<script type="application/json" id="report">(.*?)</script>', page, re.S)
    assert embedded is not None
    assert json.loads(embedded.group(1))["accounting"]["meter_values_accepted"] == 27


def test_a_chart_line_breaks_where_a_second_has_no_value() -> None:
    """None values split the polyline, so a quiet second is not drawn as a slope."""
    chart = svg_line_chart(
        "t", [0, 1, 2, 3, 4], [("p99", [1.0, 2.0, None, 3.0, 4.0])], y_label="ms"
    )
    lines = re.findall(r'<polyline [^>]*points="([^"]*)"', chart)
    assert [len(points.split()) for points in lines] == [2, 2]
