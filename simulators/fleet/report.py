"""The report of a fleet run: a JSON-ready dict, a readable table, the exit status.

Latencies are milliseconds. ``accounting`` holds what the server confirmed,
counted the way it stores it: ``sessions_accepted`` are charging_session rows
(distinct transactionIds), ``meter_values_accepted`` are meter_value rows (one
per sampledValue of every answered MeterValues and StopTransaction), so a run
can be checked against the database.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from simulators.common import format_timestamp
from simulators.fleet.metrics import FleetMetrics, LatencyHistogram, merged
from simulators.fleet.runner import FleetResult

__all__ = ["build_report", "exit_status", "render_table", "write_json"]

EXIT_COMPLETED = 0
EXIT_NOBODY_CONNECTED = 1


def latency_summary(histogram: LatencyHistogram) -> dict[str, float | int | None]:
    def ms(seconds: float | None) -> float | None:
        return None if seconds is None else round(seconds * 1000, 3)

    return {
        "count": histogram.count,
        "p50": ms(histogram.percentile(50)),
        "p90": ms(histogram.percentile(90)),
        "p99": ms(histogram.percentile(99)),
        "max": ms(histogram.maximum) if histogram.count else None,
        "mean": ms(histogram.mean),
    }


def _timeline(metrics: FleetMetrics) -> list[dict[str, Any]]:
    """One row per second of the run, seconds without any call included (as zeros)."""
    if not metrics.seconds:
        return []
    rows: list[dict[str, Any]] = []
    for second in range(max(metrics.seconds) + 1):
        stats = metrics.seconds.get(second)
        if stats is None:
            rows.append({"second": second, "calls": 0, "answers": 0, "errors": 0})
            rows[-1] |= {"p50": None, "p90": None, "p99": None}
            continue
        latency = latency_summary(stats.latency)
        rows.append(
            {
                "second": second,
                "calls": stats.calls,
                "answers": stats.answers,
                "errors": stats.errors,
                "p50": latency["p50"],
                "p90": latency["p90"],
                "p99": latency["p99"],
            }
        )
    return rows


def build_report(result: FleetResult) -> dict[str, Any]:
    options = result.options
    metrics = result.metrics
    accounting = metrics.accounting
    actions = sorted(set(metrics.calls) | set(metrics.answers) | set(metrics.latency_by_action))
    errors_by_action: dict[str, int] = {}
    for (_, action), count in metrics.call_errors.items():
        errors_by_action[action] = errors_by_action.get(action, 0) + count
    timeline = _timeline(metrics)
    total_calls = sum(metrics.calls.values())
    report: dict[str, Any] = {
        "scenario": {
            "name": options.scenario.name,
            "description": options.scenario.description,
        },
        "run": {
            "url": options.url,
            "protocol": options.encoding.subprotocol,
            "stations": options.stations,
            "connectors": options.connectors,
            "duration_seconds": options.duration,
            "ramp_per_second": options.ramp_per_second,
            "seed": options.seed,
            "id_prefix": options.names.id_prefix,
            "started_at": format_timestamp(result.started_at),
            "ended_at": format_timestamp(result.ended_at),
            "load_seconds": round(result.load_seconds, 3),
            "total_seconds": round(result.total_seconds, 3),
            "stations_launched": result.stations_launched,
            "stations_booted": metrics.booted,
            "stations_cut_off": result.stations_cut_off,
        },
        "connections": {
            "attempted": metrics.connections_attempted,
            "succeeded": metrics.connections_succeeded,
            "refused_by_http_status": {
                str(status): count for status, count in sorted(metrics.connections_refused.items())
            },
            "failed": dict(sorted(metrics.connections_failed.items())),
            "reconnects": metrics.reconnects,
            "disconnects": dict(sorted(metrics.disconnects.items())),
        },
        "calls": {
            "sent": total_calls,
            "answered": sum(metrics.answers.values()),
            "call_errors": sum(metrics.call_errors.values()),
            "timeouts": sum(metrics.timeouts.values()),
            "lost_in_flight": sum(metrics.lost_in_flight.values()),
            "calls_per_second": round(total_calls / result.load_seconds, 1)
            if result.load_seconds
            else 0.0,
            "by_action": {
                action: {
                    "sent": metrics.calls[action],
                    "answered": metrics.answers[action],
                    "call_errors": errors_by_action.get(action, 0),
                    "timeouts": metrics.timeouts[action],
                    "lost_in_flight": metrics.lost_in_flight[action],
                    "latency_ms": latency_summary(metrics.latency_by_action[action]),
                }
                for action in actions
            },
        },
        "call_errors": [
            {"code": code, "action": action, "count": count}
            for (code, action), count in sorted(metrics.call_errors.items())
        ],
        "server_calls": dict(sorted(metrics.server_calls.items())),
        "latency_ms": latency_summary(metrics.latency),
        # without the burst of StopTransactions when every station ends at once
        "latency_ms_load_phase": latency_summary(
            merged(
                stats.latency
                for second, stats in metrics.seconds.items()
                if second < int(result.load_seconds)
            )
        ),
        "accounting": {
            "sessions_started": accounting.sessions_started,
            "sessions_started_offline": accounting.sessions_started_offline,
            "sessions_stopped": accounting.sessions_stopped,
            "sessions_accepted": len(accounting.transaction_ids),
            "stop_transactions_answered": accounting.stops_answered,
            "sessions_stopped_and_answered": len(accounting.stopped_transaction_ids),
            "meter_values_accepted": accounting.meter_values_accepted,
            "meter_values_maybe_duplicated": accounting.maybe_duplicated_rows,
            "transaction_messages_resent": accounting.transaction_messages_resent,
            "transaction_messages_dropped": accounting.transaction_messages_dropped,
            "transaction_messages_undelivered": accounting.transaction_messages_undelivered,
            "id_tag_refusals": dict(sorted(accounting.id_tag_refusals.items())),
            "faults": metrics.faults,
        },
        "timeline": timeline,
    }
    report["exit_status"] = exit_status(report)
    return report


def exit_status(report: dict[str, Any]) -> int:
    """0 when the run completed with stations connected; 1 when nobody could connect."""
    if report["connections"]["succeeded"] == 0:
        return EXIT_NOBODY_CONNECTED
    return EXIT_COMPLETED


def write_json(report: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = [
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    ]
    for row in rows:
        lines.append(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return lines


def render_table(report: dict[str, Any]) -> str:
    run = report["run"]
    connections = report["connections"]
    calls = report["calls"]
    accounting = report["accounting"]
    latency = report["latency_ms"]
    load_phase = report["latency_ms_load_phase"]
    refused = ", ".join(f"{k}: {v}" for k, v in connections["refused_by_http_status"].items())
    failed = ", ".join(f"{k}: {v}" for k, v in connections["failed"].items())
    lines = [
        f"Fleet run: scenario {report['scenario']['name']}, {run['stations']} stations x "
        f"{run['connectors']} connectors, {run['load_seconds']:.0f} s load "
        f"(+{run['total_seconds'] - run['load_seconds']:.0f} s to stop), {run['protocol']}",
        f"  {run['url']}   {run['started_at']} .. {run['ended_at']}",
        "",
        f"Stations     launched {run['stations_launched']}, booted {run['stations_booted']}, "
        f"cut off at the end {run['stations_cut_off']}",
        f"Connections  attempted {connections['attempted']}, succeeded {connections['succeeded']}, "
        f"refused {refused or 'none'}, failed {failed or 'none'}",
        f"             reconnects {connections['reconnects']}, disconnects "
        + (", ".join(f"{k} {v}" for k, v in connections["disconnects"].items()) or "none"),
        f"Calls        sent {calls['sent']}, answered {calls['answered']}, "
        f"CALLERROR {calls['call_errors']}, timeouts {calls['timeouts']}, "
        f"lost in flight {calls['lost_in_flight']}, {calls['calls_per_second']} calls/s",
        f"Latency ms   p50 {_ms(latency['p50'])}  p90 {_ms(latency['p90'])}  "
        f"p99 {_ms(latency['p99'])}  max {_ms(latency['max'])}",
        f"  load phase p50 {_ms(load_phase['p50'])}  p90 {_ms(load_phase['p90'])}  "
        f"p99 {_ms(load_phase['p99'])}  max {_ms(load_phase['max'])}  (without the final stops)",
        "",
    ]
    rows = [
        [
            action,
            str(stats["sent"]),
            str(stats["answered"]),
            str(stats["call_errors"]),
            str(stats["timeouts"]),
            _ms(stats["latency_ms"]["p50"]),
            _ms(stats["latency_ms"]["p90"]),
            _ms(stats["latency_ms"]["p99"]),
            _ms(stats["latency_ms"]["max"]),
        ]
        for action, stats in calls["by_action"].items()
    ]
    lines += _table(
        [
            "action",
            "sent",
            "answered",
            "errors",
            "timeouts",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
        ],
        rows,
    )
    if report["call_errors"]:
        lines += ["", "CALLERRORs"]
        lines += _table(
            ["code", "action", "count"],
            [[e["code"], e["action"], str(e["count"])] for e in report["call_errors"]],
        )
    refusals = ", ".join(f"{k} {v}" for k, v in accounting["id_tag_refusals"].items())
    lines += [
        "",
        "Accounting (what the server confirmed, as it stores it)",
        f"  sessions accepted (distinct transactionIds)  {accounting['sessions_accepted']}",
        f"  StopTransactions answered                    "
        f"{accounting['stop_transactions_answered']}",
        f"  meter values accepted (sampledValue rows)    {accounting['meter_values_accepted']}",
        f"  sessions started / of them offline / stopped {accounting['sessions_started']} / "
        f"{accounting['sessions_started_offline']} / {accounting['sessions_stopped']}",
        f"  transaction messages resent after waiting    "
        f"{accounting['transaction_messages_resent']}",
        f"  dropped / undelivered at the end             "
        f"{accounting['transaction_messages_dropped']} / "
        f"{accounting['transaction_messages_undelivered']}",
        f"  meter rows the server may hold twice         "
        f"{accounting['meter_values_maybe_duplicated']}",
        f"  id tag refusals                              {refusals or 'none'}",
        f"  faults                                       {accounting['faults']}",
    ]
    return "\n".join(lines) + "\n"
