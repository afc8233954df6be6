"""SVG geometry for the pages, computed on the server so charts appear without JavaScript.

Plots use a fixed viewBox stretched to their box (``preserveAspectRatio="none"``, non-scaling strokes), so they
fit any width; axis labels are HTML placed by percentage, so text never stretches with them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

WIDTH, HEIGHT = 1000, 300
SPARK_WIDTH, SPARK_HEIGHT = 120, 32


@dataclass(frozen=True, slots=True)
class Tick:
    percent: float  # from the left (x) or from the top (y)
    label: str
    ts_ms: int | None = None  # time ticks: the browser relabels them in local time


@dataclass(frozen=True, slots=True)
class Chart:
    line: str
    area: str
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    low: float
    high: float
    count: int


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) covering [low, high], at least two."""
    if high <= low:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first, last = math.floor(low / step), math.ceil(high / step)
    return [round(i * step, 10) for i in range(first, last + 1)]


def format_value(value: float | int | bool | str | None) -> str:
    """Readable numbers: at most two decimals (three significant digits below one)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int) or isinstance(value, str):
        return str(value)
    if value != 0 and abs(value) < 1:
        return f"{value:.3g}"
    text = f"{value:.1f}" if abs(value) >= 100 else f"{value:.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _path(points: Sequence[tuple[float, float]], gaps: Sequence[bool]) -> str:
    return " ".join(f"{'M' if i == 0 or gaps[i] else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))


def line_chart(
    points: Sequence[tuple[int, float]], start_ms: int, end_ms: int, *, gap_ms: int, time_step_ms: int, day: bool
) -> Chart:
    """A line (broken where readings are further apart than ``gap_ms``) and its shaded area, with axis ticks."""
    values = [v for _, v in points]
    ticks = nice_ticks(min(values, default=0.0), max(values, default=1.0))
    low, high = ticks[0], ticks[-1]
    span = max(end_ms - start_ms, 1)

    def xy(ts: int, value: float) -> tuple[float, float]:
        x = min(max((ts - start_ms) / span, 0.0), 1.0) * WIDTH  # a window may begin before the range does
        return x, HEIGHT - (value - low) / (high - low) * HEIGHT

    coords = [xy(ts, v) for ts, v in points]
    gaps = [i > 0 and points[i][0] - points[i - 1][0] > gap_ms for i in range(len(points))]
    area = []
    segment: list[tuple[float, float]] = []
    for i, coord in enumerate(coords):
        if gaps[i] and segment:
            area.append(segment)
            segment = []
        segment.append(coord)
    if segment:
        area.append(segment)
    area_path = " ".join(
        f"M{s[0][0]:.1f},{HEIGHT} " + " ".join(f"L{x:.1f},{y:.1f}" for x, y in s) + f" L{s[-1][0]:.1f},{HEIGHT} Z"
        for s in area
    )
    decimals = next(d for d in range(7) if d == 6 or abs(round(ticks[1] - ticks[0], 6) * 10**d % 1) < 1e-6)
    y_ticks = [Tick(100 - (t - low) / (high - low) * 100, f"{t:.{decimals}f}") for t in ticks]
    first = -(-start_ms // time_step_ms) * time_step_ms
    x_ticks = [
        Tick((ts - start_ms) / span * 100, _time_label(ts, day), ts)
        for ts in range(first, end_ms, time_step_ms)
        if 0.04 < (ts - start_ms) / span < 0.96
    ]
    return Chart(_path(coords, gaps), area_path, y_ticks, x_ticks, low, high, len(points))


def _time_label(ts_ms: int, day: bool) -> str:
    moment = datetime.fromtimestamp(ts_ms / 1000, UTC)
    return moment.strftime("%a %d") if day else moment.strftime("%H:%M")


def sparkline(points: Sequence[tuple[int, float]], start_ms: int, end_ms: int) -> tuple[str, str]:
    """The line and the area under it of a small trend over [start, end] (empty with fewer than two points)."""
    if len(points) < 2:
        return "", ""
    values = [v for _, v in points]
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 1, high + 1
    span = max(end_ms - start_ms, 1)
    pad = 2
    coords = [
        ((ts - start_ms) / span * SPARK_WIDTH, pad + (high - v) / (high - low) * (SPARK_HEIGHT - 2 * pad))
        for ts, v in points
    ]
    line = _path(coords, [False] * len(coords))
    return line, f"{line} L{coords[-1][0]:.1f},{SPARK_HEIGHT} L{coords[0][0]:.1f},{SPARK_HEIGHT} Z"
