"""Reply documents of the query API. Timestamps are Unix epoch milliseconds (UTC), as devices send them."""

from __future__ import annotations

from pydantic import BaseModel

from gateway.storage.base import Aggregate, Value


class PointOut(BaseModel):
    ts: int
    value: Value


class LatestOut(BaseModel):
    device_id: str
    values: dict[str, PointOut]


class FleetLatestOut(BaseModel):
    devices: list[LatestOut]
    limit: int
    offset: int
    next_offset: int | None


class SeriesOut(BaseModel):
    device_id: str
    metric: str
    start: int
    end: int
    every_ms: int | None
    agg: Aggregate | None
    coarsened: bool = False
    points: list[PointOut]
