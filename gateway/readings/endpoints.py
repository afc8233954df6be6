"""Query routes (user tokens, tenant-scoped). Routes only; the logic is in service.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from gateway.deps import CurrentUser, SessionDep, SettingsDep
from gateway.readings import service
from gateway.readings.schemas import FleetLatestOut, LatestOut, SeriesOut
from gateway.readings.service import QueryCache
from gateway.storage.base import Aggregate, Reader

router = APIRouter(tags=["readings"])


async def _store(request: Request) -> Reader:
    store: Reader = request.app.state.store
    return store


async def _cache(request: Request) -> QueryCache:
    cache: QueryCache = request.app.state.query_cache
    return cache


StoreDep = Annotated[Reader, Depends(_store)]
CacheDep = Annotated[QueryCache, Depends(_cache)]
DeviceId = Annotated[str, Path(max_length=64)]


@router.get("/devices/{device_id}/readings/latest", response_model=LatestOut)
async def device_latest(
    device_id: DeviceId, user: CurrentUser, session: SessionDep, store: StoreDep, cache: CacheDep
) -> LatestOut:
    """The newest value of every metric of one device."""
    return await service.latest(session, user, store, cache, device_id)


@router.get("/devices/{device_id}/readings", response_model=SeriesOut)
async def device_series(
    device_id: DeviceId,
    user: CurrentUser,
    session: SessionDep,
    store: StoreDep,
    cache: CacheDep,
    settings: SettingsDep,
    metric: Annotated[str, Query(min_length=1, max_length=64)],
    start: Annotated[str | None, Query(description="epoch ms or RFC 3339; default end - 1h")] = None,
    end: Annotated[str | None, Query(description="epoch ms or RFC 3339; default now")] = None,
    every: Annotated[str | None, Query(description="window: 30s, 5m, 1h, 1d or ms")] = None,
    agg: Aggregate | None = None,
) -> SeriesOut:
    """One metric over a range, raw or aggregated per window (a too-fine window is coarsened, and says so)."""
    return await service.series(
        session, user, store, cache, settings,
        device_id=device_id, metric=metric, start=start, end=end, every=every, agg=agg,
    )  # fmt: skip


@router.get("/readings/latest", response_model=FleetLatestOut)
async def fleet_latest(
    user: CurrentUser,
    session: SessionDep,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> FleetLatestOut:
    """The latest values of every device of the caller's tenant, a page at a time."""
    return await service.fleet_latest(session, user, store, limit=limit, offset=offset)
