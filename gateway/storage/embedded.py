"""The embedded store: one SQLite file in the data directory, so a single machine needs nothing installed.

One row per device, metric and timestamp (the primary key makes a replay overwrite, never duplicate), and a
small table of the latest value per device and metric so overview pages stay fast. SQLite calls run in a
thread, one connection per direction (WAL lets the reader run beside the writer).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from itertools import groupby
from pathlib import Path
from typing import Any

from gateway.storage.base import Aggregate, Point, Reading, RowChunk, Value
from gateway.storage.slices import batches, sliced

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    device_id TEXT NOT NULL, metric TEXT NOT NULL, ts INTEGER NOT NULL, kind INTEGER NOT NULL, value ANY,
    PRIMARY KEY (device_id, metric, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS latest (
    device_id TEXT NOT NULL, metric TEXT NOT NULL, ts INTEGER NOT NULL, kind INTEGER NOT NULL, value ANY,
    PRIMARY KEY (device_id, metric)
) WITHOUT ROWID;
"""
_UPSERT_SAMPLE = (
    "INSERT INTO samples VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (device_id, metric, ts) DO UPDATE SET kind = excluded.kind, value = excluded.value"
)
_UPSERT_LATEST = (
    "INSERT INTO latest VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id, metric) DO UPDATE "
    "SET ts = excluded.ts, kind = excluded.kind, value = excluded.value WHERE excluded.ts >= latest.ts"
)
_SQL_AGG = {
    "mean": "avg(value)",
    "min": "min(value)",
    "max": "max(value)",
    "count": "count(value)",
    "last": "value",
}
NUMBER, BOOL, STRING = 0, 1, 2


def _encode(value: Value) -> tuple[int, Any]:
    if isinstance(value, bool):
        return BOOL, int(value)
    if isinstance(value, str):
        return STRING, value
    return NUMBER, float(value)


def _decode(kind: int, value: Any) -> Value:
    return bool(value) if kind == BOOL else value


class EmbeddedStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = self._connect(path)
        self._writer.executescript(_SCHEMA)
        self._reader = self._connect(path)
        self._write_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # the spool is trimmed once a write returns
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    def _write_sync(self, batch: Sequence[Reading]) -> None:
        rows = [(r.device_id, metric, r.ts_ms, *_encode(value)) for r in batch for metric, value in r.values.items()]
        with self._writer:
            self._writer.execute("BEGIN")
            self._writer.executemany(_UPSERT_SAMPLE, rows)
            self._writer.executemany(_UPSERT_LATEST, rows)

    async def write(self, batch: Sequence[Reading]) -> None:
        if batch:
            async with self._write_lock:
                await asyncio.to_thread(self._write_sync, batch)

    async def close(self) -> None:
        async with self._write_lock, self._read_lock:
            self._writer.close()
            self._reader.close()

    async def check(self) -> None:
        await self._read("SELECT 1", ())

    async def _read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        async with self._read_lock:
            return await asyncio.to_thread(lambda: self._reader.execute(sql, params).fetchall())

    async def latest(self, device_ids: Sequence[str]) -> dict[str, dict[str, Point]]:
        result: dict[str, dict[str, Point]] = {}
        if not device_ids:
            return result
        marks = ",".join("?" * len(device_ids))
        rows = await self._read(
            f"SELECT device_id, metric, ts, kind, value FROM latest WHERE device_id IN ({marks})", device_ids
        )
        for device_id, metric, ts, kind, value in rows:
            result.setdefault(device_id, {})[metric] = Point(ts, _decode(kind, value))
        return result

    async def series(
        self,
        device_id: str,
        metric: str,
        start_ms: int,
        end_ms: int,
        every_ms: int | None = None,
        agg: Aggregate = "mean",
    ) -> list[Point]:
        where = "device_id = ? AND metric = ? AND ts >= ? AND ts < ?"
        params: list[Any] = [device_id, metric, start_ms, end_ms]
        if not every_ms:
            rows = await self._read(f"SELECT ts, kind, value FROM samples WHERE {where} ORDER BY ts", params)
            return [Point(ts, _decode(kind, value)) for ts, kind, value in rows]
        # Windows aligned to the epoch and labelled by their start, as InfluxDB's aggregateWindow does;
        # bare `value` beside max(ts) is SQLite's documented way to take the last row of each group.
        extra = ", max(ts)" if agg == "last" else ""
        numeric = "" if agg in ("count", "last") else f" AND kind = {NUMBER}"
        rows = await self._read(
            f"SELECT ts - (ts % ?) AS w, {_SQL_AGG[agg]}{extra} FROM samples WHERE {where}{numeric} GROUP BY w ORDER BY w",
            [every_ms, *params],
        )
        return [Point(row[0], row[1]) for row in rows]

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
        async def fetch(start: int, stop: int) -> AsyncIterator[Reading]:
            for ids in batches(device_ids):
                where = (
                    f"device_id IN ({','.join('?' * len(ids))}) AND metric IN ({','.join('?' * len(metrics))}) "
                    "AND ts >= ? AND ts < ?"
                )
                params: list[Any] = [*ids, *metrics, start, stop]
                if every_ms is None:
                    sql = f"SELECT device_id, ts, metric, kind, value FROM samples WHERE {where} ORDER BY device_id, ts"
                elif agg == "last":  # bare kind and value beside max(ts): the last row of each group
                    sql = (
                        f"SELECT device_id, ts - (ts % {every_ms}) AS w, metric, kind, value, max(ts) FROM samples "
                        f"WHERE {where} GROUP BY device_id, metric, w ORDER BY device_id, w"
                    )
                else:
                    numeric = "" if agg == "count" else f" AND kind = {NUMBER}"
                    sql = (
                        f"SELECT device_id, ts - (ts % {every_ms}) AS w, metric, {NUMBER}, {_SQL_AGG[agg]} "
                        f"FROM samples WHERE {where}{numeric} GROUP BY device_id, metric, w ORDER BY device_id, w"
                    )
                for (device_id, ts), group in groupby(await self._read(sql, params), key=lambda r: (r[0], r[1])):
                    yield Reading(device_id, ts, {r[2]: _decode(r[3], r[4]) for r in group})

        return sliced(fetch, start_ms, end_ms, chunk=chunk, every_ms=every_ms)

    async def metrics_of(self, device_ids: Sequence[str], start_ms: int, end_ms: int) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for ids in batches(device_ids):  # each known pair checked by one index seek
            rows = await self._read(
                f"SELECT device_id, metric FROM latest l WHERE device_id IN ({','.join('?' * len(ids))}) AND EXISTS "
                "(SELECT 1 FROM samples s WHERE s.device_id = l.device_id AND s.metric = l.metric AND s.ts >= ? "
                "AND s.ts < ?) ORDER BY device_id, metric",
                [*ids, start_ms, end_ms],
            )
            for device_id, metric in rows:
                found.setdefault(device_id, []).append(metric)
        return found
