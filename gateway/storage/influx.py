"""InfluxDB 2.x store through influxdb-client: batched gzip writes, Flux queries.

Schema (documented in README for people who query InfluxDB directly): one measurement (``influx_measurement``),
tag ``device_id`` plus the device's static tags, one field per metric, the reading's own timestamp in
milliseconds. Line protocol is produced by the library's ``Point``; nothing is escaped by hand.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.client.write.point import Point as LinePoint
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException
from influxdb_client.service.write_service import WriteService

from gateway.storage.base import Aggregate, PermanentWriteError, Point, Reading, RowChunk, Value
from gateway.storage.slices import batches, sliced

MS: WritePrecision = WritePrecision.MS  # type: ignore[assignment]  # the library types its constants as str
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
GZIP_LEVEL = 1  # the library compresses at level 9: four times the CPU for 7% fewer bytes of line protocol
REFUSED = {400, 422}  # malformed line protocol, field type conflict: the same batch would be refused again
_FLUX_AGG = {"mean": "mean", "min": "min", "max": "max", "count": "count", "last": "last"}


def flux_string(value: str) -> str:
    """A Flux string literal. Ids and metric names are validated upstream; this keeps queries sound anyway."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    return f'"{escaped}"'


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // _MS


class LineEncoder:
    """Line protocol for readings, escaped by the library's ``Point`` and cached.

    A device's series key (measurement and tags) and each metric's field key are escaped once by ``Point`` and
    reused, so a line costs a few string joins instead of a full ``Point`` (about 8 us) per reading. Numbers and
    booleans are formatted as ``Point`` formats them; string values go through ``Point`` every time.
    """

    def __init__(self, measurement: str) -> None:
        self.measurement = measurement
        self._series: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
        self._keys: dict[str, str] = {}

    def series(self, device_id: str, tags: Mapping[str, str]) -> str:
        key = (device_id, tuple(sorted(tags.items())))
        prefix = self._series.get(key)
        if prefix is None:
            point = LinePoint(self.measurement).tag("device_id", device_id)
            for name, value in key[1]:
                point.tag(name, value)
            line = point.field("f", 0.5).to_line_protocol()
            prefix = self._series[key] = line[: -len(" f=0.5")]
        return prefix

    def field(self, metric: str, value: Value) -> str:
        if isinstance(value, str):
            return str(LinePoint("m").field(metric, value).to_line_protocol())[2:]
        key = self._keys.get(metric)
        if key is None:
            key = self._keys[metric] = LinePoint("m").field(metric, 0.5).to_line_protocol()[2:-4]
        if isinstance(value, bool):
            return f"{key}={'true' if value else 'false'}"
        return f"{key}={str(float(value)).removesuffix('.0')}"

    def lines(self, batch: Sequence[Reading]) -> str:
        """The batch's lines, joined. One loop for the whole batch: it runs for every reading stored."""
        keys, field, series_of = self._keys, self.field, self.series
        out: list[str] = []
        device: str | None = None
        tags: Mapping[str, str] | None = None
        series = ""
        for reading in batch:
            # Readings of one message share their device id and tags objects: skip the series lookup for those.
            if reading.device_id is not device or reading.tags is not tags:
                device, tags = reading.device_id, reading.tags
                series = series_of(device, tags)
            values = reading.values
            if len(values) == 1:  # the usual reading; the same expression as below, without a list to join
                ((metric, value),) = values.items()
                fields = (
                    f"{key}={repr(value).removesuffix('.0')}"
                    if value.__class__ is float and (key := keys.get(metric)) is not None
                    else field(metric, value)
                )
            else:
                fields = ",".join(
                    [
                        f"{key}={repr(value).removesuffix('.0')}"
                        if value.__class__ is float and (key := keys.get(metric)) is not None
                        else field(metric, value)
                        for metric, value in values.items()
                    ]
                )
            out.append(f"{series} {fields} {reading.ts_ms}")
        return "\n".join(out)


class InfluxStore:
    def __init__(self, url: str, token: str, org: str, bucket: str, measurement: str, timeout_s: float) -> None:
        self._client = InfluxDBClientAsync(url=url, token=token, org=org, timeout=int(timeout_s * 1000))
        self._writes = WriteService(self._client.api_client)  # the write API without its level-9 gzip
        self._query = self._client.query_api()
        self._org = org
        self._bucket = bucket
        self._measurement = measurement
        self._encoder = LineEncoder(measurement)

    async def write(self, batch: Sequence[Reading]) -> None:
        if not batch:
            return
        body = gzip.compress(self._encoder.lines(batch).encode(), GZIP_LEVEL)
        try:
            await self._writes.post_write_async(
                org=self._org,
                bucket=self._bucket,
                body=body,
                precision=MS,
                content_encoding="gzip",
                content_type="text/plain; charset=utf-8",
            )
        except ApiException as exc:
            if exc.status in REFUSED:
                raise PermanentWriteError(f"InfluxDB refused the batch ({exc.status}): {exc.message}") from exc
            raise

    async def close(self) -> None:
        await self._client.close()

    async def check(self) -> None:
        if not await self._client.ping():
            raise ConnectionError(f"InfluxDB at {self._client.url} does not answer")

    def _base(self, start: str, stop: str) -> str:
        return (
            f"from(bucket: {flux_string(self._bucket)})\n"
            f"  |> range(start: {start}, stop: {stop})\n"
            f"  |> filter(fn: (r) => r._measurement == {flux_string(self._measurement)})\n"
        )

    async def latest(self, device_ids: Sequence[str]) -> dict[str, dict[str, Point]]:
        if not device_ids:
            return {}
        result: dict[str, dict[str, Point]] = {}
        for ids in batches(device_ids):
            # Equalities and a bare last() are pushed down to storage; contains() or group() would scan every point.
            query = self._base("0", "now()") + (
                f"  |> filter(fn: (r) => {_rows_predicate(ids, None, None)})\n  |> last()\n"
            )
            for table in await self._query.query(query, org=self._org):
                for rec in table.records:
                    point = Point(_ms(rec.get_time()), rec.get_value())
                    values = result.setdefault(rec.values["device_id"], {})
                    known = values.get(rec.get_field())
                    if known is None or known.ts_ms <= point.ts_ms:  # a device whose tags changed has two series
                        values[rec.get_field()] = point
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
        query = self._base(f"time(v: {start_ms * 1_000_000})", f"time(v: {end_ms * 1_000_000})") + (
            f"  |> filter(fn: (r) => r.device_id == {flux_string(device_id)} and r._field == {flux_string(metric)})\n"
            '  |> group(columns: ["device_id", "_field"])\n'
        )
        if every_ms:
            # Windows are labelled by their start; empty windows are left out.
            query += (
                f"  |> aggregateWindow(every: {every_ms}ms, fn: {_FLUX_AGG[agg]}, createEmpty: false, "
                'timeSrc: "_start")\n'
            )
        points: list[Point] = []
        for table in await self._query.query(query, org=self._org):
            for rec in table.records:
                points.append(Point(_ms(rec.get_time()), rec.get_value()))
        points.sort(key=lambda p: p.ts_ms)
        return points

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
        """Pivoted Flux (a column per metric) streamed record by record, one query per time slice and device batch.

        Predicates are equalities joined by ``or`` so InfluxDB pushes them down to storage (``contains()`` is
        evaluated row by row, several times slower). mean/min/max ask only for the metrics whose last value in the
        range is a number, since Flux refuses to average strings.
        """
        numeric_only = every_ms is not None and agg not in ("count", "last")
        # Only the columns read: every other one (_start, _stop...) costs parsing per record.
        keep = f"  |> keep(columns: [{', '.join(flux_string(c) for c in ('_time', 'device_id', *metrics))}])\n"
        predicates: dict[int, str | None] = {}

        async def fetch(start: int, stop: int) -> AsyncIterator[Reading]:
            for n, ids in enumerate(batches(device_ids)):
                if n not in predicates:
                    numeric = await self._numeric(ids, metrics, start_ms, end_ms) if numeric_only else None
                    predicates[n] = _rows_predicate(ids, metrics, numeric)
                if (predicate := predicates[n]) is None:
                    continue
                query = self._base(f"time(v: {start * 1_000_000})", f"time(v: {stop * 1_000_000})") + (
                    f"  |> filter(fn: (r) => {predicate})\n"
                )
                if every_ms:
                    query += (
                        f"  |> aggregateWindow(every: {every_ms}ms, fn: {_FLUX_AGG[agg]}, createEmpty: false, "
                        'timeSrc: "_start")\n'
                    )
                query += '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n' + keep
                async for rec in await self._query.query_stream(query, org=self._org):
                    values = rec.values
                    found = {m: values[m] for m in metrics if values.get(m) is not None}
                    if found:
                        yield Reading(values["device_id"], _ms(rec.get_time()), found)

        return sliced(fetch, start_ms, end_ms, chunk=chunk, every_ms=every_ms)

    async def metrics_of(self, device_ids: Sequence[str], start_ms: int, end_ms: int) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for ids in batches(device_ids):
            for device_id, metric, _ in await self._last(ids, None, start_ms, end_ms):
                found.setdefault(device_id, []).append(metric)
        return {device_id: sorted(metrics) for device_id, metrics in found.items()}

    async def _numeric(
        self, device_ids: Sequence[str], metrics: Sequence[str], start_ms: int, end_ms: int
    ) -> dict[str, list[str]]:
        """The metrics of each device whose last value in the range is a number."""
        numeric: dict[str, list[str]] = {}
        for device_id, metric, value in await self._last(device_ids, metrics, start_ms, end_ms):
            if _is_number(value):
                numeric.setdefault(device_id, []).append(metric)
        return numeric

    async def _last(
        self, device_ids: Sequence[str], metrics: Sequence[str] | None, start_ms: int, end_ms: int
    ) -> list[tuple[str, str, object]]:
        """The last value of each device and metric in the range: a ``last()`` InfluxDB pushes down to storage."""
        query = self._base(f"time(v: {start_ms * 1_000_000})", f"time(v: {end_ms * 1_000_000})") + (
            f"  |> filter(fn: (r) => {_rows_predicate(device_ids, metrics, None)})\n  |> last()\n"
        )
        return [
            (rec.values["device_id"], rec.get_field(), rec.get_value())
            for table in await self._query.query(query, org=self._org)
            for rec in table.records
        ]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _rows_predicate(
    device_ids: Sequence[str], metrics: Sequence[str] | None, per_device: dict[str, list[str]] | None
) -> str | None:
    """Device and field equalities InfluxDB pushes down: the metrics (or all) of all devices, or each device's own."""

    def any_of(column: str, values: Sequence[str]) -> str:
        return " or ".join(f"r.{column} == {flux_string(v)}" for v in values)

    if per_device is None:
        fields = f" and ({any_of('_field', metrics)})" if metrics is not None else ""
        return f"({any_of('device_id', device_ids)}){fields}"
    terms = [
        f"(r.device_id == {flux_string(d)} and ({any_of('_field', per_device[d])}))"
        for d in device_ids
        if per_device.get(d)
    ]
    return " or ".join(terms) or None
