"""The fleet overview: a page of the tenant's devices (searched, filtered) with status, values and a sparkline."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.auth.principal import UserPrincipal
from gateway.config import Settings
from gateway.dashboard import charts, queries
from gateway.dashboard.service import STATUSES, Metric, last_ms, metrics_of, now_ms, numeric, status_of, units_of
from gateway.device_types import service as device_types
from gateway.devices import service as devices
from gateway.devices.schemas import DeviceOut
from gateway.live.hub import Hub
from gateway.readings.service import QueryCache
from gateway.storage.base import Point, Reader

SPARK_RANGE_MS, SPARK_EVERY_MS = 3_600_000, 120_000
VALUES_ON_CARD = 4


@dataclass
class Card:
    device: DeviceOut
    status: str
    last_ms: int | None
    metrics: list[Metric]
    spark_metric: str | None
    spark_line: str = ""
    spark_area: str = ""
    spark_points: str = "[]"  # JSON [[ts, value], ...] for the browser to extend live


@dataclass
class Overview:
    cards: list[Card]
    total: int
    page: int
    pages: int
    text: str
    type: str
    tag: str
    types: list[str]
    tags: list[str]
    counts: dict[str, int]
    since: str
    units: dict[str, dict[str, str]]


async def overview(
    session: AsyncSession,
    user: UserPrincipal,
    store: Reader,
    cache: QueryCache,
    hub: Hub,
    settings: Settings,
    *,
    text: str,
    type: str,
    tag: str,
    page: int,
) -> Overview:
    since = await hub.last_id(user.tenant_id)
    size = settings.dashboard_page_size
    key, _, value = tag.partition(":")
    rows, total = await queries.search(
        session, user.tenant_id, text=text.strip(), type=type or None, tag=(key, value) if value else None,
        limit=size, offset=(page - 1) * size,
    )  # fmt: skip
    types = await device_types.list_all(session, user)
    units = units_of(types)
    tags = [f"{k}:{v}" for k, v in await queries.tag_options(session, user.tenant_id)]
    latest = await store.latest([d.device_id for d in rows])
    now = now_ms()
    cards = []
    for row in rows:
        device, points = devices.to_out(row), latest.get(row.device_id, {})
        declared = units.get(device.type or "", {})
        last = last_ms(points)
        cards.append(
            Card(
                device,
                status_of(device.enabled, last, now, settings),
                last,
                metrics_of(points, declared)[:VALUES_ON_CARD],
                _primary(points, declared),
            )
        )
    end = -(-now // SPARK_EVERY_MS) * SPARK_EVERY_MS  # windows aligned, so a cached line serves a while
    await _sparklines(store, cache, cards, end - SPARK_RANGE_MS, end)
    counts = {s: sum(c.status == s for c in cards) for s in STATUSES}
    return Overview(
        cards, total, page, max(1, math.ceil(total / size)), text, type, tag,
        [t.name for t in types], tags, counts, since, units,
    )  # fmt: skip


def _primary(points: Mapping[str, Point], declared: Mapping[str, str]) -> str | None:
    """The metric a card's sparkline shows: the type's first numeric metric with data, else the first numeric one."""
    found = [m for m, p in points.items() if numeric(p.value)]
    return next((m for m in declared if m in found), None) or min(found, default=None)


async def _sparklines(store: Reader, cache: QueryCache, cards: list[Card], start: int, end: int) -> None:
    """Every card's trend in one windowed read of the store (cached per device until it gets new readings)."""
    wanted = {c.device.device_id: c.spark_metric for c in cards if c.spark_metric}
    entries = {device_id: cache.entry(device_id, ("spark", metric, start)) for device_id, metric in wanted.items()}
    found: dict[str, list[tuple[int, float]]] = {}
    for device_id, entry in entries.items():
        if (hit := cache.lookup(entry)) is not None:
            found[device_id] = hit
    missing = [d for d in wanted if d not in found]
    if missing:
        fresh: dict[str, list[tuple[int, float]]] = {d: [] for d in missing}
        metrics = sorted({wanted[d] or "" for d in missing})
        async for chunk in store.iter_rows(missing, metrics, start, end, SPARK_EVERY_MS, "mean"):
            for row in chunk.rows:
                value = row.values.get(wanted[row.device_id] or "")
                if value is not None and numeric(value):
                    fresh[row.device_id].append((row.ts_ms, float(value)))
        for device_id, pairs in fresh.items():
            pairs.sort()
            cache.store(entries[device_id], pairs)
        found |= fresh
    for card in cards:
        pairs = found.get(card.device.device_id, [])
        card.spark_line, card.spark_area = charts.sparkline(pairs, start, end)
        card.spark_points = orjson.dumps(pairs).decode()
