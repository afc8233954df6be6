"""/healthz, /readyz and /metrics, with a real InfluxDB that goes away and comes back."""

from __future__ import annotations

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
