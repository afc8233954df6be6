"""InfluxDB 2.x store through influxdb-client: batched gzip writes, Flux queries.

Schema (documented in README for people who query InfluxDB directly): one measurement (``influx_measurement``),
tag ``device_id`` plus the device's static tags, one field per metric, the reading's own timestamp in
milliseconds. Line protocol is produced by the library's ``Point``; nothing is escaped by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.client.write.point import Point as LinePoint
from influxdb_client.domain.write_precision import WritePrecision

from gateway.storage.base import Aggregate, Point, Reading

MS: WritePrecision = WritePrecision.MS  # type: ignore[assignment]  # the library types its constants as str
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_FLUX_AGG = {"mean": "mean", "min": "min", "max": "max", "count": "count", "last": "last"}


def flux_string(value: str) -> str:
    """A Flux string literal. Ids and metric names are validated upstream; this keeps queries sound anyway."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    return f'"{escaped}"'


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // _MS


def to_line(reading: Reading, measurement: str) -> str:
    point = LinePoint(measurement).tag("device_id", reading.device_id)
    for key, tag in reading.tags.items():
        point.tag(key, tag)
    for metric, value in reading.values.items():
        point.field(metric, value)
    return str(point.time(reading.ts_ms, WritePrecision.MS).to_line_protocol())


class InfluxStore:
    def __init__(self, url: str, token: str, org: str, bucket: str, measurement: str, timeout_s: float) -> None:
        self._client = InfluxDBClientAsync(
            url=url, token=token, org=org, timeout=int(timeout_s * 1000), enable_gzip=True
        )
        self._write = self._client.write_api()
        self._query = self._client.query_api()
        self._org = org
        self._bucket = bucket
        self._measurement = measurement

    async def write(self, batch: Sequence[Reading]) -> None:
        if not batch:
            return
        body = "\n".join(to_line(r, self._measurement) for r in batch)
        await self._write.write(bucket=self._bucket, org=self._org, record=body, write_precision=MS)

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
        ids = ", ".join(flux_string(d) for d in device_ids)
        query = (
            self._base("0", "now()")
            + f"  |> filter(fn: (r) => contains(value: r.device_id, set: [{ids}]))\n"
            + '  |> group(columns: ["device_id", "_field"])\n  |> last()\n'
        )
        result: dict[str, dict[str, Point]] = {}
        for table in await self._query.query(query, org=self._org):
            for rec in table.records:
                result.setdefault(rec.values["device_id"], {})[rec.get_field()] = Point(
                    _ms(rec.get_time()), rec.get_value()
                )
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
