"""Queries for phones and dashboards: tenant checks through the device registry, then the store, cached briefly.

Ranges are bounded and point counts too: a window too fine for the range (or a raw range with too many points)
is coarsened to fit ``max_query_points``, and the reply says so.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from cachetools import TTLCache
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.auth.principal import UserPrincipal
from gateway.config import Settings
from gateway.devices import service as devices
from gateway.errors import Unprocessable
from gateway.readings.schemas import FleetLatestOut, LatestOut, PointOut, SeriesOut
from gateway.storage.base import Aggregate, Point, Reader, Reading

_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w)$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
DEFAULT_RANGE_MS = 3_600_000
T = TypeVar("T")
Entry = tuple[str, int, Any]  # device id, its generation, the query


class QueryCache:
    """Short-lived results per device, dropped as soon as the sink stores new readings of that device.

    Entries are keyed by the device's generation, which every write bumps: older entries can no longer be hit
    and simply expire, so nothing has to track which keys a device has.
    """

    def __init__(self, ttl_s: float) -> None:
        self._entries: TTLCache[Entry, Any] = TTLCache(maxsize=50_000, ttl=max(ttl_s, 0.001))
        self._generation: dict[str, int] = {}
        self.enabled = ttl_s > 0

    def entry(self, device_id: str, key: Any) -> Entry:
        """Where a result read from now on is kept: take it *before* reading, so that a write landing meanwhile
        (which bumps the generation) leaves that possibly stale result unreachable."""
        return device_id, self._generation.get(device_id, 0), key

    def lookup(self, entry: Entry) -> Any:
        return self._entries.get(entry) if self.enabled else None

    def store(self, entry: Entry, value: Any) -> None:
        if self.enabled:
            self._entries[entry] = value

    async def get(self, device_id: str, key: Any, compute: Callable[[], Awaitable[T]]) -> T:
        entry = self.entry(device_id, key)
        value: T | None = self.lookup(entry)
        if value is None:
            value = await compute()
            self.store(entry, value)
        return value

    def invalidate(self, readings: Sequence[Reading]) -> None:
        generation = self._generation
        for device_id in {r.device_id for r in readings}:
            generation[device_id] = generation.get(device_id, 0) + 1


def parse_time(value: str | None, default_ms: int, name: str) -> int:
    if value is None or value == "":
        return default_ms
    if value.lstrip("-").isdigit():
        return int(value)
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise Unprocessable(f"{name} must be epoch milliseconds or an RFC 3339 time, not {value!r}") from None


def parse_every(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if value.isdigit():
        ms = int(value)
    elif match := _DURATION.match(value):
        ms = int(match[1]) * _UNIT_MS[match[2]]
    else:
        raise Unprocessable(f"every must be a duration such as 30s, 5m, 1h or 1d (or milliseconds), not {value!r}")
    if ms <= 0:
        raise Unprocessable("every must be positive")
    return ms


def _out(points: dict[str, Point]) -> dict[str, PointOut]:
    return {metric: PointOut(ts=p.ts_ms, value=p.value) for metric, p in sorted(points.items())}


async def latest(
    session: AsyncSession, user: UserPrincipal, store: Reader, cache: QueryCache, device_id: str
) -> LatestOut:
    await devices.get_visible(session, user, device_id)

    async def load() -> dict[str, Any]:
        return (await store.latest([device_id])).get(device_id, {})

    return LatestOut(device_id=device_id, values=_out(await cache.get(device_id, "latest", load)))


async def fleet_latest(
    session: AsyncSession, user: UserPrincipal, store: Reader, *, limit: int, offset: int
) -> FleetLatestOut:
    ids = await devices.list_ids(session, user, limit=limit + 1, offset=offset)
    more = len(ids) > limit
    ids = ids[:limit]
    values = await store.latest(ids)
    return FleetLatestOut(
        devices=[LatestOut(device_id=d, values=_out(values.get(d, {}))) for d in ids],
        limit=limit,
        offset=offset,
        next_offset=offset + limit if more else None,
    )


async def series(
    session: AsyncSession,
    user: UserPrincipal,
    store: Reader,
    cache: QueryCache,
    settings: Settings,
    *,
    device_id: str,
    metric: str,
    start: str | None,
    end: str | None,
    every: str | None,
    agg: Aggregate | None,
) -> SeriesOut:
    await devices.get_visible(session, user, device_id)
    end_ms = parse_time(end, time.time_ns() // 1_000_000 + 1, "end")
    start_ms = parse_time(start, end_ms - DEFAULT_RANGE_MS, "start")
    if start_ms >= end_ms:
        raise Unprocessable("start must be before end")
    if end_ms - start_ms > settings.max_query_range_s * 1000:
        raise Unprocessable(f"the range may span at most {settings.max_query_range_s} seconds")
    every_ms = parse_every(every)
    if agg is not None and every_ms is None:
        raise Unprocessable("agg needs every (the window to aggregate over)")
    span = end_ms - start_ms
    limit = settings.max_query_points
    coarsened = False
    if every_ms is not None and math.ceil(span / every_ms) > limit:
        every_ms, coarsened = _coarse(span, limit), True

    async def load() -> tuple[list[Any], int | None, Aggregate | None, bool]:
        points = await _query(store, device_id, metric, start_ms, end_ms, every_ms, agg or "mean")
        if every_ms is None and len(points) > limit:
            every = _coarse(span, limit)
            return await _query(store, device_id, metric, start_ms, end_ms, every, "mean"), every, "mean", True
        return points, every_ms, agg, coarsened

    key = ("series", metric, start_ms, end_ms, every_ms, agg)
    points, every_ms, agg, coarsened = await cache.get(device_id, key, load)
    return SeriesOut(
        device_id=device_id,
        metric=metric,
        start=start_ms,
        end=end_ms,
        every_ms=every_ms,
        agg=(agg or "mean") if every_ms else None,
        coarsened=coarsened,
        points=[PointOut(ts=p.ts_ms, value=p.value) for p in points],
    )


def _coarse(span_ms: int, limit: int) -> int:
    """The smallest whole-second window that keeps the range within ``limit`` points."""
    return max(1000, math.ceil(span_ms / limit / 1000) * 1000)


async def _query(
    store: Reader, device_id: str, metric: str, start_ms: int, end_ms: int, every_ms: int | None, agg: Aggregate
) -> list[Point]:
    if every_ms:
        start_ms -= start_ms % every_ms  # windows aligned to the epoch, identical in every store
    return await store.series(device_id, metric, start_ms, end_ms, every_ms, agg)
