"""The device page: details, latest values, and a chart per numeric metric over the last hour, day or week."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.auth.principal import UserPrincipal
from gateway.config import Settings
from gateway.dashboard import charts
from gateway.dashboard.service import Metric, last_ms, metrics_of, now_ms, numeric, status_of, units_of
from gateway.device_types import service as device_types
from gateway.devices import service as devices
from gateway.devices.schemas import DeviceOut
from gateway.live.hub import Hub
from gateway.readings import service as readings
from gateway.readings.service import QueryCache
from gateway.storage.base import Point, Reader


@dataclass(frozen=True, slots=True)
class Range:
    label: str
    span_ms: int
    every: str | None  # None: raw points
    tick_ms: int
    day_ticks: bool = False


RANGES = {
    "1h": Range("Last hour", 3_600_000, None, 600_000),
    "24h": Range("Last day", 86_400_000, "10m", 3 * 3_600_000),
    "7d": Range("Last week", 7 * 86_400_000, "1h", 86_400_000, day_ticks=True),
}


@dataclass
class MetricChart:
    metric: str
    unit: str
    chart: charts.Chart
    agg: str | None


@dataclass
class DevicePage:
    device: DeviceOut
    status: str
    last_ms: int | None
    metrics: list[Metric]
    charts: list[MetricChart]
    range: str
    since: str


async def device_page(
    session: AsyncSession,
    user: UserPrincipal,
    store: Reader,
    cache: QueryCache,
    hub: Hub,
    settings: Settings,
    device_id: str,
    range_key: str,
) -> DevicePage:
    since = await hub.last_id(user.tenant_id)
    device = devices.to_out(await devices.get_visible(session, user, device_id))
    units = units_of(await device_types.list_all(session, user)).get(device.type or "", {})
    points = (await store.latest([device_id])).get(device_id, {})
    last = last_ms(points)
    shown = await metric_charts(session, user, store, cache, settings, device_id, range_key, points, units)
    status = status_of(device.enabled, last, now_ms(), settings)
    return DevicePage(device, status, last, metrics_of(points, units), shown, range_key, since)


async def metric_charts(
    session: AsyncSession,
    user: UserPrincipal,
    store: Reader,
    cache: QueryCache,
    settings: Settings,
    device_id: str,
    range_key: str,
    latest: Mapping[str, Point] | None = None,
    units: Mapping[str, str] | None = None,
) -> list[MetricChart]:
    """One chart per numeric metric over the range, aggregated by the readings service (as the API does)."""
    spec = RANGES[range_key]
    if latest is None or units is None:
        device = await devices.get_visible(session, user, device_id)
        units = units_of(await device_types.list_all(session, user)).get(device.type or "", {})
        latest = (await store.latest([device_id])).get(device_id, {})
    end = now_ms() + 1
    start = end - spec.span_ms
    result = []
    for metric in (m.name for m in metrics_of(latest, units) if numeric(latest[m.name].value)):
        series = await readings.series(
            session, user, store, cache, settings, device_id=device_id, metric=metric,
            start=str(start), end=str(end), every=spec.every, agg="mean" if spec.every else None,
        )  # fmt: skip
        pairs = [(p.ts, float(p.value)) for p in series.points if numeric(p.value)]
        gap = _gap_ms(pairs, series.every_ms)
        chart = charts.line_chart(pairs, start, end, gap_ms=gap, time_step_ms=spec.tick_ms, day=spec.day_ticks)
        result.append(MetricChart(metric, units.get(metric, ""), chart, series.agg))
    return result


def _gap_ms(pairs: list[tuple[int, float]], every_ms: int | None) -> int:
    """How far apart two points may be and still be joined: three windows, or three typical intervals."""
    if every_ms:
        return 3 * every_ms
    steps = [b[0] - a[0] for a, b in itertools.pairwise(pairs)]
    return max(3 * int(statistics.median(steps)), 60_000) if steps else 60_000
