"""The daily report of a tenant: count, min, mean and max per device and metric over one UTC day, as CSV.

Devices are read a page at a time and each statistic is one aggregated range read per page (one window the
length of the day), so a tenant of any size costs bounded memory.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.exports import repository
from gateway.exports.models import Job
from gateway.exports.writers import CsvWriter
from gateway.storage.base import Aggregate, Reader, Value

HEADER = ["device_id", "metric", "count", "min", "mean", "max"]
STATS: tuple[Aggregate, ...] = ("count", "min", "mean", "max")
DEVICE_PAGE = 200


class Progress(Protocol):
    rows: int
    done: float


async def write_report(
    sessions: async_sessionmaker[AsyncSession], store: Reader, job: Job, path: Path, progress: Progress
) -> None:
    start_ms, end_ms = job.params["start_ms"], job.params["end_ms"]
    async with sessions() as session:
        total = await repository.count_devices(session, job.tenant_id)
    writer = await asyncio.to_thread(CsvWriter, path, HEADER, ())
    try:
        after, seen = "", 0
        while True:  # one page of devices per turn, in id order; ends with the tenant's devices
            async with sessions() as session:
                ids = await repository.device_ids_after(session, job.tenant_id, after, DEVICE_PAGE)
            if not ids:
                break
            rows = await _summaries(store, ids, start_ms, end_ms)
            await asyncio.to_thread(writer.write_raw, rows)
            progress.rows += len(rows)
            seen += len(ids)
            progress.done = min(seen / max(total, 1), 1.0)
            after = ids[-1]
    finally:
        await asyncio.to_thread(writer.close)


async def _summaries(store: Reader, device_ids: list[str], start_ms: int, end_ms: int) -> list[list[Any]]:
    metrics = sorted({m for names in (await store.metrics_of(device_ids, start_ms, end_ms)).values() for m in names})
    if not metrics:
        return []
    stats: dict[tuple[str, str], dict[str, Value]] = {}
    for agg in STATS:
        async for chunk in store.iter_rows(device_ids, metrics, start_ms, end_ms, end_ms - start_ms, agg):
            for row in chunk.rows:
                for metric, value in row.values.items():
                    stats.setdefault((row.device_id, metric), {})[agg] = value
    return [
        [device_id, metric, s["count"], s.get("min", ""), s.get("mean", ""), s.get("max", "")]
        for (device_id, metric), s in sorted(stats.items())
        if s.get("count")
    ]
