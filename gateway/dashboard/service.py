"""What every page shows of a device: its status and latest values, in its type's metric order and units.

The views (``overview``, ``device_page``) are assembled from the same services the API uses (devices,
readings). Each records the live hub's last event id first, so the page's stream resumes from there: readings
that arrive while the page is being built are replayed, not lost.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.config import Settings
from gateway.dashboard.charts import format_value
from gateway.device_types.models import DeviceType
from gateway.storage.base import Point, Value

STATUSES = ("online", "stale", "offline", "never", "disabled")


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    text: str
    unit: str
    ts_ms: int


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def status_of(enabled: bool, last_ms: int | None, now: int, settings: Settings) -> str:
    """online, stale, offline (by the age of the last reading), never (no reading yet) or disabled."""
    if not enabled:
        return "disabled"
    if last_ms is None:
        return "never"
    age_s = (now - last_ms) / 1000
    if age_s <= settings.dashboard_online_s:
        return "online"
    return "stale" if age_s <= settings.dashboard_offline_s else "offline"


def numeric(value: Value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def units_of(types: Sequence[DeviceType]) -> dict[str, dict[str, str]]:
    """Per device type, each declared metric's unit ("" when none), in declaration order."""
    return {t.name: {m: rule.get("unit") or "" for m, rule in (t.metrics or {}).items()} for t in types}


def metrics_of(points: Mapping[str, Point], units: Mapping[str, str]) -> list[Metric]:
    """The latest values, in the order the device type declares its metrics, then by name."""
    order = {name: i for i, name in enumerate(units)}
    names = sorted(points, key=lambda n: (order.get(n, len(order)), n))
    return [Metric(n, format_value(points[n].value), units.get(n, ""), points[n].ts_ms) for n in names]


def last_ms(points: Mapping[str, Point]) -> int | None:
    return max((p.ts_ms for p in points.values()), default=None)
