"""The HTML report of a fleet run: the numbers and two plots, in one self-contained file.

The plots are inline SVG drawn here (latency p50/p90/p99 per second and
throughput per second), so the report needs no plotting library and opens
anywhere, offline.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["render_html", "svg_line_chart", "write_html"]

_WIDTH, _HEIGHT = 900, 280
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 64, 16, 16, 40
_COLOURS = ("#1f77b4", "#ff7f0e", "#d62728", "#2ca02c")


def _nice_ceiling(value: float) -> float:
    """A round number at or above ``value`` for the top of an axis."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def svg_line_chart(
    title: str,
    x_values: Sequence[float],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    y_label: str,
    x_label: str = "seconds since start",
    marker: tuple[float, str] | None = None,
) -> str:
    """An SVG line chart; a None value breaks its line (a second without data).

    ``marker`` draws a labelled vertical line, e.g. where the load phase ended.
    """
    plot_w = _WIDTH - _MARGIN_LEFT - _MARGIN_RIGHT
    plot_h = _HEIGHT - _MARGIN_TOP - _MARGIN_BOTTOM
    present = [v for _, values in series for v in values if v is not None]
    y_max = _nice_ceiling(max(present, default=0.0))
    x_max = max(max(x_values, default=0.0), 1.0)

    def x_at(x: float) -> float:
        return _MARGIN_LEFT + x / x_max * plot_w

    def y_at(y: float) -> float:
        return _MARGIN_TOP + plot_h - y / y_max * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'width="{_WIDTH}" height="{_HEIGHT}" role="img" aria-label="{html.escape(title)}">',
        f'<rect x="{_MARGIN_LEFT}" y="{_MARGIN_TOP}" width="{plot_w}" height="{plot_h}" '
        'fill="#fafafa" stroke="#ccc"/>',
    ]
    for tick in range(5):
        value = y_max * tick / 4
        y = y_at(value)
        parts.append(
            f'<line x1="{_MARGIN_LEFT}" y1="{y:.1f}" x2="{_MARGIN_LEFT + plot_w}" y2="{y:.1f}" '
            'stroke="#e4e4e4"/>'
        )
        parts.append(
            f'<text x="{_MARGIN_LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">'
            f"{value:g}</text>"
        )
    for tick in range(6):
        value = x_max * tick / 5
        x = x_at(value)
        parts.append(
            f'<text x="{x:.1f}" y="{_MARGIN_TOP + plot_h + 16}" font-size="11" '
            f'text-anchor="middle">{value:.0f}</text>'
        )
    parts.append(
        f'<text x="{_MARGIN_LEFT + plot_w / 2}" y="{_HEIGHT - 6}" font-size="12" '
        f'text-anchor="middle">{html.escape(x_label)}</text>'
    )
    parts.append(
        f'<text x="14" y="{_MARGIN_TOP + plot_h / 2}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 14 {_MARGIN_TOP + plot_h / 2})">{html.escape(y_label)}</text>'
    )
    if marker is not None and 0 <= marker[0] <= x_max:
        x = x_at(marker[0])
        parts.append(
            f'<line class="marker" x1="{x:.1f}" y1="{_MARGIN_TOP}" x2="{x:.1f}" '
            f'y2="{_MARGIN_TOP + plot_h}" stroke="#888" stroke-dasharray="4 3"/>'
        )
        parts.append(
            f'<text x="{x - 4:.1f}" y="{_MARGIN_TOP + plot_h - 6}" font-size="11" '
            f'text-anchor="end" fill="#555">{html.escape(marker[1])}</text>'
        )
    for index, (name, values) in enumerate(series):
        colour = _COLOURS[index % len(_COLOURS)]
        for segment in _segments(x_values, values):
            points = " ".join(f"{x_at(x):.1f},{y_at(y):.1f}" for x, y in segment)
            parts.append(
                f'<polyline class="series" data-series="{html.escape(name)}" fill="none" '
                f'stroke="{colour}" stroke-width="1.5" points="{points}"/>'
            )
        legend_x = _MARGIN_LEFT + 10 + index * 110
        parts.append(
            f'<rect x="{legend_x}" y="{_MARGIN_TOP + 6}" width="12" height="12" fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{legend_x + 16}" y="{_MARGIN_TOP + 16}" font-size="12">'
            f"{html.escape(name)}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _segments(
    x_values: Sequence[float], values: Sequence[float | None]
) -> list[list[tuple[float, float]]]:
    segments: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for x, y in zip(x_values, values, strict=True):
        if y is None:
            if current:
                segments.append(current)
            current = []
        else:
            current.append((x, y))
    if current:
        segments.append(current)
    return segments


def _rows(pairs: Sequence[tuple[str, Any]]) -> str:
    return "\n".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in pairs
    )


def render_html(report: dict[str, Any]) -> str:
    run = report["run"]
    calls = report["calls"]
    connections = report["connections"]
    latency = report["latency_ms"]
    accounting = report["accounting"]
    timeline = report["timeline"]
    seconds = [row["second"] for row in timeline]
    stop_marker = (float(run["load_seconds"]), "stop: sessions end, queues drain")
    latency_chart = svg_line_chart(
        "Latency per second",
        seconds,
        [(name, [row[name] for row in timeline]) for name in ("p50", "p90", "p99")],
        y_label="latency (ms)",
        marker=stop_marker,
    )
    throughput_chart = svg_line_chart(
        "Throughput per second",
        seconds,
        [
            ("calls", [row["calls"] for row in timeline]),
            ("answers", [row["answers"] for row in timeline]),
            ("errors", [row["errors"] for row in timeline]),
        ],
        y_label="per second",
        marker=stop_marker,
    )
    action_rows = "\n".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(cell))}</td>"
            for cell in (
                action,
                stats["sent"],
                stats["answered"],
                stats["call_errors"],
                stats["timeouts"],
                stats["latency_ms"]["p50"],
                stats["latency_ms"]["p90"],
                stats["latency_ms"]["p99"],
                stats["latency_ms"]["max"],
            )
        )
        + "</tr>"
        for action, stats in calls["by_action"].items()
    )
    error_rows = (
        "\n".join(
            f"<tr><td>{html.escape(e['code'])}</td><td>{html.escape(e['action'])}</td>"
            f"<td>{e['count']}</td></tr>"
            for e in report["call_errors"]
        )
        or '<tr><td colspan="3">none</td></tr>'
    )
    title = f"Fleet run: {report['scenario']['name']}, {run['stations']} stations"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #ddd; padding: 3px 8px; text-align: right; }}
th {{ text-align: left; background: #f4f4f4; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(report["scenario"]["description"])}</p>
<h2>Run</h2>
<table>{
        _rows(
            [
                ("server", run["url"]),
                ("protocol", run["protocol"]),
                ("stations x connectors", f"{run['stations']} x {run['connectors']}"),
                ("started / ended", f"{run['started_at']} / {run['ended_at']}"),
                ("load seconds / total seconds", f"{run['load_seconds']} / {run['total_seconds']}"),
                ("ramp (stations/s, 0 = all at once)", run["ramp_per_second"]),
                (
                    "stations launched / booted / cut off",
                    f"{run['stations_launched']} / {run['stations_booted']} / "
                    f"{run['stations_cut_off']}",
                ),
                (
                    "connections attempted / succeeded",
                    f"{connections['attempted']} / {connections['succeeded']}",
                ),
                ("refused by HTTP status", connections["refused_by_http_status"] or "none"),
                ("failed", connections["failed"] or "none"),
                ("reconnects", connections["reconnects"]),
                ("calls sent / answered", f"{calls['sent']} / {calls['answered']}"),
                ("CALLERRORs / timeouts", f"{calls['call_errors']} / {calls['timeouts']}"),
                ("calls per second", calls["calls_per_second"]),
                (
                    "latency ms p50 / p90 / p99 / max",
                    f"{latency['p50']} / {latency['p90']} / {latency['p99']} / {latency['max']}",
                ),
            ]
        )
    }</table>
<h2>Latency</h2>
{latency_chart}
<h2>Throughput</h2>
{throughput_chart}
<h2>Calls per action</h2>
<table><tr><th>action</th><th>sent</th><th>answered</th><th>CALLERROR</th><th>timeouts</th>
<th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>max ms</th></tr>
{action_rows}
</table>
<h2>CALLERRORs</h2>
<table><tr><th>code</th><th>action</th><th>count</th></tr>
{error_rows}
</table>
<h2>Accounting</h2>
<table>{_rows(list(accounting.items()))}</table>
<script type="application/json" id="report">{_json_for_script(report)}</script>
</body></html>
"""


def _json_for_script(report: dict[str, Any]) -> str:
    # "</" would end the script element early
    return json.dumps(report).replace("</", "<\\/")


def write_html(report: dict[str, Any], path: Path) -> None:
    path.write_text(render_html(report), encoding="utf-8")
