"""Server-side SVG charts (no JavaScript charting library): bars per day and
a line over time, sized by a viewBox so they scale with the page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 600, 200
LEFT, BOTTOM, TOP, RIGHT = 44, 24, 12, 8


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 10 ** len(str(int(value))) / 10 or 1
    for factor in (1, 2, 2.5, 5, 10):
        if value <= step * factor:
            return step * factor
    return value


def _axis(top: float, unit: str) -> list[str]:
    parts = []
    plot_h = HEIGHT - TOP - BOTTOM
    for i in range(5):
        value = top * i / 4
        y = HEIGHT - BOTTOM - plot_h * i / 4
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{value:g}</text>"
        )
    return parts


def bar_chart(points: Sequence[tuple[str, float]], *, unit: str, label: str) -> Markup:
    """Bars for ``(label, value)`` points, every fifth label written."""
    top = _nice_max(max((v for _, v in points), default=0.0))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(points), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
        *_axis(top, unit),
    ]
    for i, (name, value) in enumerate(points):
        h = plot_h * value / top
        x = LEFT + i * slot + slot * 0.15
        y = HEIGHT - BOTTOM - h
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}"><title>{escape(name)}: {value:g} {escape(unit)}</title></rect>'
        )
        if i % 5 == 0 or i == len(points) - 1:
            parts.append(
                f'<text class="tick" x="{x + slot * 0.35:.1f}" y="{HEIGHT - 6}" '
                f'text-anchor="middle">{escape(name)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    points: Sequence[tuple[datetime, float]], *, unit: str, label: str, time_format: str = "%H:%M"
) -> Markup:
    """A line through ``(time, value)`` points, the time axis by its span."""
    if len(points) < 2:
        return Markup("")
    top = _nice_max(max(v for _, v in points))
    start, end = points[0][0], points[-1][0]
    span = max((end - start).total_seconds(), 1.0)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    coords = [
        (LEFT + plot_w * (t - start).total_seconds() / span, HEIGHT - BOTTOM - plot_h * v / top)
        for t, v in points
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
        *_axis(top, unit),
        f'<polyline class="line" points="{path}"/>',
        f'<text class="tick" x="{LEFT}" y="{HEIGHT - 6}">{start.strftime(time_format)}</text>',
        f'<text class="tick" x="{WIDTH - RIGHT}" y="{HEIGHT - 6}" text-anchor="end">'
        f"{end.strftime(time_format)}</text>",
        "</svg>",
    ]
    return Markup("".join(parts))
