"""Accepted data survives InfluxDB going away and the gateway being SIGKILLed (real InfluxDB, real process)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

from tests.conftest import InfluxInfo, influx_info
from tests.ingest.conftest import ADMIN, app_settings
from tests.support.app import running_app
from tests.support.fleet import create_device, device_headers, login
from tests.support.process import GatewayProcess
from tests.support.services import Server

BATCH = 100


async def stored_timestamps(influx: InfluxInfo, measurement: str, device_id: str) -> list[int]:
    """Every point of the device's metric `seq` (one per reading), as a list so duplicates would show."""
    query = (
        f'from(bucket: "{influx.bucket}") |> range(start: 0)'
        f' |> filter(fn: (r) => r._measurement == "{measurement}" and r.device_id == "{device_id}" and r._field == "seq")'
    )
    async with InfluxDBClientAsync(url=influx.url, token=influx.token, org=influx.org, timeout=30_000) as client:
        tables = await client.query_api().query(query)
    return [int(rec.get_value()) for table in tables for rec in table.records]


async def wait_for_count(
    influx: InfluxInfo, measurement: str, device_id: str, count: int, within_s: float = 60
) -> list[int]:
    deadline = time.monotonic() + within_s
    while True:
        got = await stored_timestamps(influx, measurement, device_id)
        if len(got) >= count or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.5)


def batch(start_seq: int, base_ms: int) -> dict[str, object]:
    return {"readings": [{"ts": base_ms + s, "values": {"seq": float(s)}} for s in range(start_seq, start_seq + BATCH)]}


async def test_influxdb_outage_during_load_loses_nothing(
    tmp_path: Path, private_server: Callable[[str], Server]
) -> None:
    server = private_server("influx")
    influx = influx_info(server)
    settings = app_settings(tmp_path, influx, retry_max_backoff_s=0.5, influx_timeout_s=2.0)
    total_batches = 220  # 22,000 readings
    base_ms = time.time_ns() // 1_000_000 - 3_600_000
    async with running_app(settings) as client:
        admin = await login(client, *ADMIN)
        device_id, secret = await create_device(client, admin)
        headers = await device_headers(client, device_id, secret)
        accepted = 0
        for i in range(total_batches):
            if i == 50:
                server.stop()  # InfluxDB goes away mid-load ...
            if i == 170:
                server.start()  # ... and comes back
            reply = await client.post("/api/v1/readings", json=batch(i * BATCH, base_ms), headers=headers)
            assert reply.status_code == 202, reply.text
            accepted += reply.json()["accepted"]
        assert accepted == total_batches * BATCH
        got = await wait_for_count(influx, settings.influx_measurement, device_id, accepted)
    assert len(got) == accepted, f"{accepted - len(got)} readings missing"
    assert sorted(got) == list(range(accepted))  # every one, none twice


async def test_sigkill_during_load_keeps_every_acknowledged_reading(
    tmp_path: Path, private_server: Callable[[str], Server]
) -> None:
    server = private_server("influx")
    influx = influx_info(server)
    measurement = f"kill_{uuid.uuid4().hex[:8]}"
    env = {
        "GATEWAY_ADMIN_USERNAME": ADMIN[0],
        "GATEWAY_ADMIN_PASSWORD": ADMIN[1],
        "GATEWAY_ARGON2_TIME_COST": "1",
        "GATEWAY_ARGON2_MEMORY_KIB": "8",
        "GATEWAY_ARGON2_PARALLELISM": "1",
        "GATEWAY_INFLUX_URL": influx.url,
        "GATEWAY_INFLUX_TOKEN": influx.token,
        "GATEWAY_INFLUX_ORG": influx.org,
        "GATEWAY_INFLUX_BUCKET": influx.bucket,
        "GATEWAY_INFLUX_MEASUREMENT": measurement,
        # A long interval keeps readings in the spool, unconfirmed, when the kill comes.
        "GATEWAY_BATCH_INTERVAL_S": "2",
        "GATEWAY_BATCH_SIZE": "100000",
    }
    gateway = GatewayProcess(tmp_path / "gw", env).start()
    base_ms = time.time_ns() // 1_000_000 - 3_600_000
    acked: set[int] = set()
    try:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
            admin = await login(client, *ADMIN)
            device_id, secret = await create_device(client, admin)
            headers = await device_headers(client, device_id, secret)

            async def sender(worker: int) -> None:
                for n in range(1000):
                    start = (n * 8 + worker) * BATCH
                    try:
                        reply = await client.post("/api/v1/readings", json=batch(start, base_ms), headers=headers)
                    except httpx.TransportError:
                        return  # the gateway died under this request: its fate is unknown, not promised
                    if reply.status_code == 202:
                        acked.update(range(start, start + BATCH))

            senders = [asyncio.create_task(sender(w)) for w in range(8)]
            while len(acked) < 15_000:
                await asyncio.sleep(0.02)
            gateway.kill()
            await asyncio.wait_for(asyncio.gather(*senders), 30)
        assert len(acked) >= 15_000
        gateway.start()  # same data directory: the spool is replayed
        got = await wait_for_count(influx, measurement, device_id, len(acked))
    finally:
        gateway.stop()
    missing = acked - set(got)
    assert not missing, f"{len(missing)} acknowledged readings lost"
    assert len(got) == len(set(got)), "a reading was stored twice"


async def test_a_reading_influxdb_refuses_for_good_is_set_aside_and_the_rest_is_stored(
    tmp_path: Path, influx: InfluxInfo
) -> None:
    """A field type conflict (422) is not retried forever, which would stall every device: the batch is halved
    until the refused reading is alone, and that one goes to the dead-letter file."""
    now = time.time_ns() // 1_000_000
    values: list[object] = [21.5, 22.0, "warm", 22.5, 23.0]
    async with running_app(app_settings(tmp_path, influx)) as client:
        admin = await login(client, *ADMIN)
        device_id, secret = await create_device(client, admin)
        device = await device_headers(client, device_id, secret)
        readings = [{"ts": now - 5000 + i, "values": {"temperature": v}} for i, v in enumerate(values)]
        reply = await client.post("/api/v1/readings", json={"readings": readings}, headers=device)
        assert reply.json() == {"accepted": 5, "rejected": []}
        url = f"/api/v1/devices/{device_id}/readings"
        dead_letter = tmp_path / "spool" / "dead-letter.jsonl"
        async with asyncio.timeout(10):
            while (
                not dead_letter.exists()
                or len((await client.get(url, params={"metric": "temperature"}, headers=admin)).json()["points"]) < 4
            ):
                await asyncio.sleep(0.05)
        points = (await client.get(url, params={"metric": "temperature"}, headers=admin)).json()["points"]
    assert [p["value"] for p in points] == [21.5, 22.0, 22.5, 23.0]
    dead = dead_letter.read_text().splitlines()
    assert len(dead) == 1 and '"warm"' in dead[0] and "422" in dead[0]
