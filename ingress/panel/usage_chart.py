"""The Usage page's chart: windows of a few series as a server-rendered SVG line chart (pure).

No script and no asset from the internet; colours and sizes are SVG presentation attributes (the
panel's Content-Security-Policy allows no inline ``style``). Every text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

PALETTE = (
    "#3b5bdb",
    "#e8590c",
    "#2b8a3e",
    "#c2255c",
    "#1098ad",
    "#7048e8",
    "#f59f00",
    "#495057",
    "#5c940d",
    "#a61e4d",
)
WIDTH, HEIGHT = 1000, 320
LEFT, RIGHT, TOP, BOTTOM = 72, 16, 16, 56
MAX_X_LABELS = 12


@dataclass(frozen=True)
class ChartSeries:
    label: str
    points: Sequence[tuple[str, float]]  # (window start, value), ascending


def nice_ceiling(value: float) -> float:
    """The smallest 1/2/5 x 10^n at or above ``value`` (the top of the y axis)."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        candidate = step * 10.0**exponent
        if candidate >= value:
            return candidate
    return 10.0 ** (exponent + 1)


def format_number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.2f}"


def render_chart(series: Sequence[ChartSeries], title: str, timezone: str = "UTC") -> str:
    """An SVG of the series on a shared x axis (every window start any series has), the window
    starts labelled in ``timezone`` (the query's)."""
    starts = sorted({start for item in series for start, _ in item.points})
    values = [value for item in series for _, value in item.points]
    low = min([0.0, *values])
    high = nice_ceiling(max([0.0, *values]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(start: str) -> float:
        index = starts.index(start)
        return LEFT + (plot_w / 2 if len(starts) == 1 else plot_w * index / (len(starts) - 1))

    def y(value: float) -> float:
        return TOP + plot_h * (1 - (value - low) / ((high - low) or 1))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        f'role="img" aria-label="{escape(title)}" class="usage-chart" id="usage-chart">',
        f"<title>{escape(title)}</title>",
    ]
    for step in range(5):
        value = low + (high - low) * step / 4
        level = f"{y(value):.1f}"
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{level}" y2="{level}" stroke="#e3e6eb"/>')
        parts.append(
            f'<text x="{LEFT - 8}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="12" '
            f'fill="#667085">{escape(format_number(value))}</text>'
        )
    every = max(1, math.ceil(len(starts) / MAX_X_LABELS))
    for index, start in enumerate(starts):
        if index % every == 0:
            anchor = (
                "middle" if 0 < index < len(starts) - 1 or len(starts) == 1 else ("start", "end")[index > 0]
            )
            parts.append(
                f'<text x="{x(start):.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="{anchor}" font-size="12" '
                f'fill="#667085">{escape(short_label(start, timezone))}</text>'
            )
    for index, item in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        points = " ".join(f"{x(start):.1f},{y(value):.1f}" for start, value in item.points)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for start, value in item.points:
            tip = f"{item.label} · {short_label(start, timezone)}: {format_number(value)}"
            parts.append(
                f'<circle cx="{x(start):.1f}" cy="{y(value):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(tip)}</title></circle>"
            )
    parts.append(_legend(series))
    parts.append("</svg>")
    return "".join(parts)


def _legend(series: Sequence[ChartSeries]) -> str:
    parts = []
    left = LEFT
    for index, item in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        label = item.label if len(item.label) <= 40 else item.label[:39] + "…"
        parts.append(f'<rect x="{left}" y="{HEIGHT - 22}" width="12" height="12" fill="{colour}"/>')
        parts.append(
            f'<text x="{left + 16}" y="{HEIGHT - 12}" font-size="12" fill="#1d2330">{escape(label)}</text>'
        )
        left += 24 + 7 * len(label)
        if left > WIDTH - 120:
            break
    return "".join(parts)


def short_label(start: str, timezone: str = "UTC") -> str:
    """A window start (``2026-06-01T00:00:00Z``) in ``timezone``: its date at midnight there
    (``2026-06-01``), else its date and time (``2026-03-28 23:00``)."""
    local = datetime.fromisoformat(start).astimezone(ZoneInfo(timezone))
    return local.strftime("%Y-%m-%d" if local.strftime("%H:%M:%S") == "00:00:00" else "%Y-%m-%d %H:%M")
