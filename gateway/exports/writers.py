"""File writers for exports: rows in, a file out, a chunk at a time, so memory stays bounded.

They are blocking (the caller runs them in a thread). Columns: the time (RFC 3339, UTC, milliseconds in CSV;
a UTC millisecond timestamp in Parquet; epoch ms ``ts`` in JSON Lines, as devices send it), the device and one
column per metric, empty where a row has no value.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from gateway.storage.base import Reading

ROW_GROUP = 100_000  # Parquet rows buffered per row group
MEDIA_TYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson", "parquet": "application/vnd.apache.parquet"}


class Writer(Protocol):
    def write(self, rows: Sequence[Reading]) -> None: ...

    def close(self) -> None: ...


def open_writer(format: str, path: Path, metrics: Sequence[str]) -> Writer:
    if format == "csv":
        return CsvWriter(path, ["time", "device_id", *metrics], metrics)
    if format == "jsonl":
        return JsonLinesWriter(path)
    return ParquetWriter(path, metrics)


class _Stamps:
    """RFC 3339 times with the date-to-minute part cached: formatting is most of a CSV export's cost."""

    def __init__(self) -> None:
        self._minutes: dict[int, str] = {}

    def __call__(self, ts_ms: int) -> str:
        minute, ms = divmod(ts_ms, 60_000)
        prefix = self._minutes.get(minute)
        if prefix is None:
            if len(self._minutes) > 4096:
                self._minutes.clear()
            prefix = self._minutes[minute] = datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:")
        return f"{prefix}{ms // 1000:02d}.{ms % 1000:03d}Z"


def _bool(value: bool) -> str:
    return "true" if value else "false"


class CsvWriter:
    def __init__(self, path: Path, header: Sequence[str], metrics: Sequence[str]) -> None:
        self._file: IO[str] = path.open("w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._file)
        self._csv.writerow(header)
        self._metrics = metrics
        self._stamp = _Stamps()

    def write(self, rows: Sequence[Reading]) -> None:
        metrics, stamp = self._metrics, self._stamp  # None is written as an empty cell
        self._csv.writerows(
            [stamp(r.ts_ms), r.device_id, *[v if type(v := r.values.get(m)) is not bool else _bool(v) for m in metrics]]
            for r in rows
        )

    def write_raw(self, rows: Sequence[Sequence[Any]]) -> None:
        self._csv.writerows(rows)

    def close(self) -> None:
        self._file.close()


class JsonLinesWriter:
    def __init__(self, path: Path) -> None:
        self._file: IO[bytes] = path.open("wb")

    def write(self, rows: Sequence[Reading]) -> None:
        self._file.write(
            b"".join(orjson.dumps({"device_id": r.device_id, "ts": r.ts_ms, "values": r.values}) + b"\n" for r in rows)
        )

    def close(self) -> None:
        self._file.close()


class ParquetWriter:
    """Row groups of up to ``ROW_GROUP`` rows. A metric's column type (number, bool or string) is set by its first
    value; a later value of another type fails the export with a reason (CSV and JSON Lines take any mix)."""

    def __init__(self, path: Path, metrics: Sequence[str]) -> None:
        import pyarrow as pa  # only jobs that write Parquet pay for loading Arrow

        self._pa = pa
        self._path = path
        self._metrics = metrics
        self._rows: list[Reading] = []
        self._writer: Any = None

    def write(self, rows: Sequence[Reading]) -> None:
        self._rows.extend(rows)
        if len(self._rows) >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        import pyarrow.parquet as pq

        pa, rows = self._pa, self._rows
        self._rows = []
        if self._writer is None:
            fields = [pa.field("time", pa.timestamp("ms", tz="UTC")), pa.field("device_id", pa.string())]
            fields += [pa.field(m, self._type_of(m, rows)) for m in self._metrics]
            self._writer = pq.ParquetWriter(self._path, pa.schema(fields), compression="zstd")
        columns = [
            pa.array([r.ts_ms for r in rows], pa.timestamp("ms", tz="UTC")),
            pa.array([r.device_id for r in rows], pa.string()),
        ]
        for m in self._metrics:
            try:
                columns.append(pa.array([r.values.get(m) for r in rows], self._writer.schema.field(m).type))
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                raise ValueError(f"metric {m!r} mixes value types; export it as csv or jsonl") from None
        self._writer.write_table(pa.Table.from_arrays(columns, schema=self._writer.schema))

    def _type_of(self, metric: str, rows: Sequence[Reading]) -> Any:
        pa = self._pa
        first = next((v for r in rows if (v := r.values.get(metric)) is not None), None)
        return pa.bool_() if isinstance(first, bool) else pa.string() if isinstance(first, str) else pa.float64()

    def close(self) -> None:
        try:
            if self._rows or self._writer is None:
                self._flush()
        finally:
            if self._writer is not None:
                self._writer.close()
