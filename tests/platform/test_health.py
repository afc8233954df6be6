"""/healthz, /readyz and /metrics, with a real InfluxDB that goes away and comes back."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from gateway.config import Settings
from tests.conftest import influx_info
from tests.support.app import running_app
from tests.support.services import Server


async def test_healthz_and_readyz_with_embedded_store(tmp_path: Path) -> None:
    async with running_app(Settings(data_dir=tmp_path)) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["store"] == "ok"
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200 and "python_info" in metrics.text


async def test_readyz_follows_influxdb(tmp_path: Path, private_server: Callable[[str], Server]) -> None:
    server = private_server("influx")
    info = influx_info(server)
    settings = Settings(
        data_dir=tmp_path,
        influx_url=info.url,
        influx_token=info.token,
        influx_org=info.org,
        influx_bucket=info.bucket,
        influx_timeout_s=1.0,
    )
    async with running_app(settings) as client:
        assert (await client.get("/readyz")).status_code == 200

        server.stop()
        down = await client.get("/readyz")
        assert down.status_code == 503
        assert down.headers["content-type"] == "application/problem+json"
        body = down.json()
        assert body["checks"]["influxdb"] != "ok" and "influxdb" in body["detail"]
        assert (await client.get("/healthz")).status_code == 200  # alive, just not ready

        server.start()
        assert (await client.get("/readyz")).status_code == 200


async def test_metrics_merge_every_worker(tmp_path: Path) -> None:
    """With two uvicorn workers, /metrics counts the readings both accepted (Prometheus multiprocess mode)."""
    import asyncio

    import httpx

    from tests.ingest.conftest import ADMIN
    from tests.support.fleet import create_device, device_headers, login
    from tests.support.process import GatewayProcess

    env = {
        "GATEWAY_ADMIN_USERNAME": ADMIN[0],
        "GATEWAY_ADMIN_PASSWORD": ADMIN[1],
        "GATEWAY_ARGON2_TIME_COST": "1",
        "GATEWAY_ARGON2_MEMORY_KIB": "8",
        "GATEWAY_ARGON2_PARALLELISM": "1",
    }
    gateway = GatewayProcess(tmp_path / "gw", env, workers=2).start()
    try:
        base_ms = int(time.time() * 1000) - 60_000
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
            admin = await login(client, *ADMIN)
            device_id, secret = await create_device(client, admin)
            headers = await device_headers(client, device_id, secret)

            async def post(i: int) -> None:
                reply = await client.post(
                    "/api/v1/readings", json={"ts": base_ms + i, "values": {"v": 1.0}}, headers=headers
                )
                assert reply.status_code == 202

            # Separate connections so both workers get some of them.
            for wave in range(10):
                await asyncio.gather(*(post(wave * 30 + i) for i in range(30)))
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
            text = (await client.get("/metrics")).text
    finally:
        gateway.stop()
    line = next(ln for ln in text.splitlines() if ln.startswith('gateway_readings_accepted_total{transport="http"}'))
    assert float(line.split()[-1]) == 300.0
