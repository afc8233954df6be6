"""The reference line for a reading, built by influxdb-client's Point alone (what LineEncoder must match)."""

from __future__ import annotations

from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from gateway.storage.base import Reading


def to_line(reading: Reading, measurement: str) -> str:
    point = Point(measurement).tag("device_id", reading.device_id)
    for key, tag in reading.tags.items():
        point.tag(key, tag)
    for metric, value in reading.values.items():
        point.field(metric, value)
    return str(point.time(reading.ts_ms, WritePrecision.MS).to_line_protocol())
