"""The two small contracts every store implements: a sink that writes batches, a reader that answers queries.

A sink only writes a batch and closes; buffering, retries and backpressure belong to the pipeline. Writing the
same device, metric and timestamp again overwrites the same point, so a replay after a fault is idempotent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import msgspec

Value = float | int | bool | str
Aggregate = Literal["mean", "min", "max", "count", "last"]
AGGREGATES: tuple[Aggregate, ...] = ("mean", "min", "max", "count", "last")


class Reading(msgspec.Struct, gc=False):
    """One validated sample of one device: several metrics at one instant (epoch milliseconds, UTC).

    Treated as immutable. A msgspec struct, not a dataclass: one is built per reading on the request and the drain
    path, and a struct costs a sixth as much to build. ``gc=False``: readings wait by the hundred thousand in the
    spool's tail and in batches, and the cyclic collector need not scan them (they hold only strings, numbers
    and the device's dicts, never a cycle).
    """

    device_id: str
    ts_ms: int
    values: Mapping[str, Value]
    tags: Mapping[str, str] = msgspec.field(default_factory=dict)


class PermanentWriteError(Exception):
    """The store refused the batch for good (e.g. a field type conflict); retrying would block the pipeline."""


@dataclass(frozen=True, slots=True)
class Point:
    ts_ms: int
    value: Value


@dataclass(frozen=True, slots=True)
class RowChunk:
    """Rows of a range read (one per device and timestamp or window) and the fraction of the range read so far."""

    rows: list[Reading]
    done: float


class Sink(Protocol):
    async def write(self, batch: Sequence[Reading]) -> None:
        """Store every reading of the batch or raise; partial writes are repaired by the replay."""

    async def close(self) -> None: ...


class Reader(Protocol):
    async def latest(self, device_ids: Sequence[str]) -> dict[str, dict[str, Point]]:
        """The newest value of every metric of each device that has any."""

    async def series(
        self,
        device_id: str,
        metric: str,
        start_ms: int,
        end_ms: int,
        every_ms: int | None = None,
        agg: Aggregate = "mean",
    ) -> list[Point]:
        """Raw points in [start, end), or one aggregated point per window of ``every_ms`` with any data."""

    async def check(self) -> None:
        """Return when the store answers; raise with a reason when it does not."""

    def iter_rows(
        self,
        device_ids: Sequence[str],
        metrics: Sequence[str],
        start_ms: int,
        end_ms: int,
        every_ms: int | None = None,
        agg: Aggregate = "mean",
        chunk: int = 10_000,
    ) -> AsyncIterator[RowChunk]:
        """Every row in [start, end) once, in chunks of at most ``chunk`` rows, so memory stays bounded whatever
        the range: one row per device and timestamp with the asked metrics it has or, with ``every_ms`` (of which
        ``start_ms`` must be a multiple), one per device and window. mean/min/max take numbers only. Rows come in
        time slices; their order within a slice is the store's."""

    async def metrics_of(self, device_ids: Sequence[str], start_ms: int, end_ms: int) -> dict[str, list[str]]:
        """The metrics each device has readings of in [start, end), sorted; devices without any are left out."""


class Store(Sink, Reader, Protocol):
    """A time-series store: both sides, opened once per process."""
