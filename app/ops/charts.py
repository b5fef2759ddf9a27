"""Inline SVG charts, drawn on the server so the dashboard needs no script and no CDN.

Each chart is sized by its viewBox (about a phone's width, so text stays legible when it
scales down) and carries its numbers as `data-*` attributes and `<title>` tooltips, which is
also what the browser test reads back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 400
FONT = 12
COLOURS = {"p50": "#2f6fd6", "p95": "#e08a1e", "p99": "#c8372d"}
MUTED = "#6b7280"
GRID = "#e5e7eb"
BAR = "#2f6fd6"


def nice_ceiling(value: float, steps: Sequence[float] = (1, 2, 2.5, 5, 10)) -> float:
    """The next 1/2/2.5/5×10ⁿ at or above `value` (an axis value a reader can count in)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in steps:
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def _fmt(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:g}s" if value % 100 == 0 else f"{value / 1000:.1f}s"
    return f"{value:g}"


def _empty(height: int, label: str, chart: str) -> str:
    return (
        f'<svg class="chart" data-chart="{chart}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{label}">'
        f'<text x="{WIDTH / 2}" y="{height / 2}" text-anchor="middle" fill="{MUTED}" font-size="{FONT + 1}">'
        "暂无数据</text></svg>"
    )


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    label: str
    values: dict[str, float]  # series name → value
    count: int


def latency_chart(points: Sequence[SeriesPoint], limit_ms: float = 5000.0) -> str:
    """p50/p95/p99 per time bucket as lines; WeChat's 5 s limit drawn when it is in range."""
    height = 230
    if not points:
        return _empty(height, "响应时间分位数", "latency")
    left, right, top, bottom = 44, 20, 28, 30
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    peak = max(max(p.values.values()) for p in points)
    # Four gridlines at round values: 0, 2s, 4s, 6s, 8s rather than 0, 1.2s, 2.5s, …
    tick = nice_ceiling(max(peak, 1.0) * 1.1 / 4, steps=(1, 2, 5, 10))
    y_max = tick * 4
    n = len(points)

    def x(i: int) -> float:
        return left + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    def y(v: float) -> float:
        return top + plot_h * (1 - min(v, y_max) / y_max)

    parts = [
        f'<svg class="chart" data-chart="latency" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="响应时间分位数（毫秒）">'
    ]
    for k in range(5):
        value = y_max * k / 4
        parts.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
                     f'stroke="{GRID}"/>')
        parts.append(f'<text x="{left - 5}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="{FONT - 1}" '
                     f'fill="{MUTED}">{_fmt(value)}</text>')
    if limit_ms <= y_max:
        parts.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{y(limit_ms):.1f}" y2="{y(limit_ms):.1f}" '
                     f'stroke="#c8372d" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{WIDTH - right}" y="{y(limit_ms) - 4:.1f}" text-anchor="end" '
                     f'font-size="{FONT - 1}" fill="#c8372d">微信 5 秒上限</text>')
    step = max(1, math.ceil(n / 6))
    for i, point in enumerate(points):
        if i % step == 0:
            parts.append(f'<text x="{x(i):.1f}" y="{height - 10}" text-anchor="middle" font-size="{FONT - 1}" '
                         f'fill="{MUTED}">{escape(point.label)}</text>')
    for series, colour in COLOURS.items():
        values = [p.values.get(series, 0.0) for p in points]
        coords = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        data = ",".join(f"{v:.1f}" for v in values)
        parts.append(f'<polyline data-series="{series}" data-values="{data}" points="{coords}" fill="none" '
                     f'stroke="{colour}" stroke-width="2" stroke-linejoin="round"/>')
        for i, v in enumerate(values):
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}">'
                         f"<title>{escape(points[i].label)} {series} {v:.0f} ms（{points[i].count} 条）</title>"
                         "</circle>")
    for k, (series, colour) in enumerate(COLOURS.items()):
        lx = left + k * 70
        parts.append(f'<rect x="{lx}" y="8" width="14" height="4" fill="{colour}"/>'
                     f'<text x="{lx + 18}" y="14" font-size="{FONT}">{series}</text>')
    parts.append("</svg>")
    return "".join(parts)


def column_chart(bars: Sequence[tuple[str, int]], chart: str, label: str) -> str:
    """Vertical bars (a histogram), each labelled below and valued above."""
    height = 210
    if not bars or not any(v for _, v in bars):
        return _empty(height, label, chart)
    left, right, top, bottom = 12, 12, 18, 34
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    peak = max(v for _, v in bars)
    slot = plot_w / len(bars)
    parts = [f'<svg class="chart" data-chart="{chart}" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-label="{escape(label)}">']
    for i, (name, value) in enumerate(bars):
        h = plot_h * value / peak if peak else 0
        bx = left + i * slot + slot * 0.15
        by = top + plot_h - h
        parts.append(f'<rect data-label="{escape(name)}" data-value="{value}" x="{bx:.1f}" y="{by:.1f}" '
                     f'width="{slot * 0.7:.1f}" height="{h:.1f}" rx="2" fill="{BAR}">'
                     f"<title>{escape(name)}：{value}</title></rect>")
        if value:
            parts.append(f'<text x="{bx + slot * 0.35:.1f}" y="{by - 4:.1f}" text-anchor="middle" '
                         f'font-size="{FONT - 1}">{value}</text>')
        parts.append(f'<text x="{bx + slot * 0.35:.1f}" y="{height - 16}" text-anchor="middle" '
                     f'font-size="{FONT - 1}" fill="{MUTED}">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_list(bars: Sequence[tuple[str, str, int]], chart: str, label: str) -> str:
    """Horizontal bars, one row each: (key, display label, value); shares shown after the value."""
    row = 26
    if not bars:
        return _empty(120, label, chart)
    height = row * len(bars) + 10
    label_w, right = 92, 78
    plot_w = WIDTH - label_w - right
    peak = max(v for _, _, v in bars) or 1
    total = sum(v for _, _, v in bars) or 1
    parts = [f'<svg class="chart" data-chart="{chart}" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-label="{escape(label)}">']
    for i, (key, name, value) in enumerate(bars):
        y0 = 6 + i * row
        w = max(plot_w * value / peak, 1.5)
        parts.append(f'<text x="{label_w - 6}" y="{y0 + 15}" text-anchor="end" font-size="{FONT}">'
                     f"{escape(name)}</text>")
        parts.append(f'<rect data-key="{escape(key)}" data-value="{value}" x="{label_w}" y="{y0 + 3}" '
                     f'width="{w:.1f}" height="{row - 9}" rx="2" fill="{BAR}"><title>{escape(name)}：{value}</title>'
                     "</rect>")
        parts.append(f'<text x="{label_w + w + 5:.1f}" y="{y0 + 15}" font-size="{FONT - 1}" fill="{MUTED}">'
                     f"{value}（{value * 100 / total:.0f}%）</text>")
    parts.append("</svg>")
    return "".join(parts)


# 好差评's five levels, best first (flows.rating.LEVELS).
SATISFACTION_COLOURS = {
    "非常满意": "#13713f", "满意": "#1e9e5a", "基本满意": "#8fcf9f", "不满意": "#e0826f", "非常不满意": "#c8372d",
}


def satisfaction_chart(counts: dict[str, int]) -> str:
    """One stacked bar of the five 好差评 levels with a legend of counts and shares."""
    height = 96
    total = sum(counts.values())
    if not total:
        return _empty(height, "满意度", "satisfaction")
    left, right = 12, 12
    plot_w = WIDTH - left - right
    parts = [f'<svg class="chart" data-chart="satisfaction" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-label="满意度">']
    x0 = float(left)
    order = [k for k in SATISFACTION_COLOURS if counts.get(k)] + [
        k for k in counts if k not in SATISFACTION_COLOURS and counts[k]
    ]
    for key in order:
        value = counts[key]
        w = plot_w * value / total
        colour = SATISFACTION_COLOURS.get(key, MUTED)
        parts.append(f'<rect data-key="{escape(key)}" data-value="{value}" x="{x0:.1f}" y="10" width="{w:.1f}" '
                     f'height="28" fill="{colour}"><title>{escape(key)}：{value}</title></rect>')
        x0 += w
    for i, key in enumerate(order):
        lx = left + i * 118
        value = counts[key]
        parts.append(f'<rect x="{lx}" y="56" width="12" height="12" fill="{SATISFACTION_COLOURS.get(key, MUTED)}"/>'
                     f'<text x="{lx + 17}" y="67" font-size="{FONT}">{escape(key)} {value}'
                     f"（{value * 100 / total:.0f}%）</text>")
    parts.append("</svg>")
    return "".join(parts)
