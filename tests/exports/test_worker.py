"""Scaled mode: Redis task queue, ``iot-gateway worker`` processes, InfluxDB and PostgreSQL, all real.

A million readings are loaded into a bucket of their own (so other tests' queries do not scan them), exported
through a worker whose peak memory is measured, and exported again with the worker killed halfway.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from influxdb_client import InfluxDBClient
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

from gateway.config import Settings
from gateway.storage.base import Reading
from tests.conftest import InfluxInfo
from tests.exports.conftest import ADMIN, Webhook, Worker, finished, login, make_settings, wait_for
from tests.support.app import running_app
from tests.support.lines import to_line

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DEVICES = [f"big-{n}" for n in range(10)]
PER_DEVICE = 100_000  # one reading a second: 10 x 100,000 = 1,000,000 readings
URL = "/api/v1/exports"
RSS_LIMIT_MB = 200


def temp(device: int, seq: int) -> float:
    return (device * 7919 + seq * 31) % 10_000 / 100


def line(device: int, seq: int) -> str:
    return f"readings,device_id=big-{device} seq={seq},temp={temp(device, seq)} {T0 + seq * 1000}"


@pytest.fixture(scope="module")
async def big_bucket(influx: InfluxInfo) -> AsyncIterator[str]:
    """A bucket holding the million readings, in the gateway's schema (checked against its line writer)."""
    assert line(3, 5) == to_line(Reading("big-3", T0 + 5000, {"seq": 5.0, "temp": temp(3, 5)}), "readings").replace(
        "seq=5.0", "seq=5"
    )
    name = f"exports-{uuid.uuid4().hex[:8]}"
    with InfluxDBClient(url=influx.url, token=influx.token, org=influx.org) as admin:
        bucket = admin.buckets_api().create_bucket(bucket_name=name, org=influx.org)
    async with InfluxDBClientAsync(url=influx.url, token=influx.token, org=influx.org, timeout=120_000) as client:
        write = client.write_api()
        for device in range(len(DEVICES)):
            for start in range(0, PER_DEVICE, 50_000):
                body = "\n".join(line(device, seq) for seq in range(start, start + 50_000))
                await write.write(bucket=name, org=influx.org, record=body, write_precision="ms")
    yield name
    with InfluxDBClient(url=influx.url, token=influx.token, org=influx.org) as admin:
        admin.buckets_api().delete_bucket(bucket)


@dataclass
class Scaled:
    settings: Settings
    client: httpx.AsyncClient
    headers: dict[str, str]


@pytest.fixture
async def scaled(
    tmp_path: Path, influx: InfluxInfo, big_bucket: str, redis_url: str, pg_database: str
) -> AsyncIterator[Scaled]:
    """A gateway on PostgreSQL, InfluxDB and Redis (a database of its own), with the big devices registered."""
    settings = make_settings(
        tmp_path / "data",
        database_url=pg_database,
        redis_url=redis_url.rsplit("/", 1)[0] + "/7",
        influx_url=influx.url,
        influx_token=influx.token,
        influx_org=influx.org,
        influx_bucket=big_bucket,
    )
    async with running_app(settings) as client:
        from redis.asyncio import Redis

        async with Redis.from_url(settings.redis_url) as redis:
            await redis.flushdb()  # this test's queue only
        headers = await login(client, *ADMIN)
        for device_id in DEVICES:
            reply = await client.post("/api/v1/devices", json={"device_id": device_id, "name": device_id},
                                      headers=headers)  # fmt: skip
            assert reply.status_code == 201, reply.text
        yield Scaled(settings, client, headers)


def export_body(**fields: Any) -> dict[str, Any]:
    end = T0 + PER_DEVICE * 1000
    return {"device_ids": DEVICES, "metrics": ["temp", "seq"], "start": T0, "end": end, "format": "csv"} | fields


async def download(scaled: Scaled, job: dict[str, Any], path: Path) -> None:
    async with scaled.client.stream("GET", job["download_url"], headers=scaled.headers) as reply:
        assert reply.status_code == 200
        with path.open("wb") as f:
            async for block in reply.aiter_bytes(1 << 20):
                f.write(block)


def check_complete(path: Path, sha256: str) -> int:
    """Every reading exactly once with its own values, and the file the job's checksum names."""
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    seen = [bytearray(PER_DEVICE) for _ in DEVICES]
    rows = 0
    with path.open(newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == ["time", "device_id", "temp", "seq"]
        for time_, device_id, value, seq_text in reader:
            device, seq = int(device_id.removeprefix("big-")), int(float(seq_text))
            assert float(value) == temp(device, seq), (device_id, seq_text, value)
            assert time_ == time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime((T0 + seq * 1000) / 1000))
            assert not seen[device][seq], f"{device_id} {seq} twice"
            seen[device][seq] = 1
            rows += 1
    assert rows == len(DEVICES) * PER_DEVICE
    return rows


async def test_million_readings_through_a_worker(
    scaled: Scaled, start_worker: Callable[[Settings], Worker], tmp_path: Path
) -> None:
    worker = start_worker(scaled.settings)
    began = time.monotonic()
    reply = await scaled.client.post(URL, json=export_body(), headers=scaled.headers)
    assert reply.status_code == 202, reply.text
    job = await wait_for(scaled.client, scaled.headers, reply.json()["id"], finished, within=300)
    took = time.monotonic() - began
    peak, cpu = worker.peak_rss_mb(), worker.cpu_seconds()
    assert job["status"] == "done", job
    print(
        f"\n1,000,000-reading CSV export through the worker: {took:.1f} s ({cpu:.1f} s of worker CPU), peak RSS {peak:.0f} MB"
    )
    assert job["rows_written"] == 1_000_000 and job["attempts"] == 1
    path = tmp_path / "export.csv"
    await download(scaled, job, path)
    check_complete(path, job["sha256"])
    assert peak < RSS_LIMIT_MB


async def test_a_killed_worker_s_job_is_finished_by_another(
    scaled: Scaled, start_worker: Callable[[Settings], Worker], webhook: Webhook, tmp_path: Path
) -> None:
    first = start_worker(scaled.settings)
    reply = await scaled.client.post(URL, json=export_body(webhook_url=webhook.url), headers=scaled.headers)
    job_id = reply.json()["id"]
    await wait_for(scaled.client, scaled.headers, job_id, lambda j: j["rows_written"] >= 200_000, within=120)
    first.kill()  # SIGKILL, halfway through
    exports = scaled.settings.exports_path
    assert [p.name for p in exports.iterdir()] == [f"{job_id}.1.csv.part"]

    start_worker(scaled.settings)
    job = await wait_for(scaled.client, scaled.headers, job_id, finished, within=300)
    assert job["status"] == "done" and job["attempts"] == 2, job
    path = tmp_path / "export.csv"
    await download(scaled, job, path)
    assert check_complete(path, job["sha256"]) == job["rows_written"]

    deadline = time.monotonic() + 30  # the dead run's part is swept once its lease is long gone
    while (names := sorted(p.name for p in exports.iterdir())) != [f"{job_id}.2.csv"]:
        assert time.monotonic() < deadline, names
        await asyncio.sleep(0.2)
    assert [j["id"] for j in webhook.received] == [job_id]  # finished once, notified once


async def test_stopped_and_cancelled_jobs(scaled: Scaled, start_worker: Callable[[Settings], Worker]) -> None:
    client, headers = scaled.client, scaled.headers
    reply = await client.post(URL, json=export_body(), headers=headers)
    queued = reply.json()
    assert reply.status_code == 202 and queued["status"] == "queued"  # no worker yet
    assert (await client.get(f"{URL}/{queued['id']}/download", headers=headers)).status_code == 409
    reply = await client.delete(f"{URL}/{queued['id']}", headers=headers)
    assert reply.status_code == 200 and reply.json()["status"] == "cancelled"

    # SIGTERM: the worker puts its running job back in the queue at once, and the next worker takes it.
    first = start_worker(scaled.settings)
    reply = await client.post(URL, json=export_body(format="jsonl"), headers=headers)
    job_id = reply.json()["id"]
    await wait_for(client, headers, job_id, lambda j: j["rows_written"] > 0, within=120)
    assert first.stop() == 0
    released = (await client.get(f"{URL}/{job_id}", headers=headers)).json()
    assert released["status"] == "queued" and released["attempts"] == 1, released
    start_worker(scaled.settings)
    await wait_for(client, headers, job_id, lambda j: j["attempts"] == 2 and j["rows_written"] > 0, within=120)

    # Cancelling a running job stops its worker at the next heartbeat, which removes its part file.
    reply = await client.delete(f"{URL}/{job_id}", headers=headers)
    assert reply.status_code == 200 and reply.json()["status"] == "cancelled"
    deadline = time.monotonic() + 10
    while list(scaled.settings.exports_path.iterdir()):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    for cancelled in (queued["id"], job_id):
        assert (await client.get(f"{URL}/{cancelled}", headers=headers)).json()["status"] == "cancelled"
        assert (await client.get(f"{URL}/{cancelled}/download", headers=headers)).status_code == 409
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and "task-queue" in ready.text, ready.text
