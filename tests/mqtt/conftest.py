"""An in-process gateway per test, consuming from a real Mosquitto into a real InfluxDB."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.config import Settings
from gateway.mqtt.lifespan import instance_id
from tests.conftest import InfluxInfo, MqttInfo
from tests.ingest.conftest import ADMIN, app_settings
from tests.mqtt.support import forget_session
from tests.support.app import running_app
from tests.support.fleet import create_device, device_headers, login


@dataclass
class Gateway:
    client: httpx.AsyncClient
    settings: Settings
    influx: InfluxInfo
    admin: dict[str, str]

    @property
    def app(self) -> FastAPI:
        app: FastAPI = self.client.app  # type: ignore[attr-defined]
        return app

    async def device(self, **fields: Any) -> tuple[str, str, str]:
        """A new device: (id, secret, token)."""
        device_id, secret = await create_device(self.client, self.admin, **fields)
        headers = await device_headers(self.client, device_id, secret)
        return device_id, secret, headers["Authorization"].removeprefix("Bearer ")

    async def ready(self, within_s: float = 15) -> None:
        deadline = time.monotonic() + within_s
        while (reply := await self.client.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, reply.text
            await asyncio.sleep(0.05)


def mqtt_settings(data_dir: Path, influx: InfluxInfo, broker: MqttInfo, **overrides: Any) -> Settings:
    """A gateway of its own on the broker: its own client id and share group, so tests never share a session."""
    unique = uuid.uuid4().hex[:8]
    fields: dict[str, Any] = {
        "mqtt_host": broker.host,
        "mqtt_port": broker.port,
        "mqtt_client_id": f"gw-{unique}",
        "mqtt_share_group": f"g-{unique}",
        "retry_max_backoff_s": 1.0,
    }
    return app_settings(data_dir, influx, **(fields | overrides))


@pytest.fixture
def start_gateway(
    tmp_path: Path, influx: InfluxInfo, mosquitto: MqttInfo
) -> Callable[..., AbstractAsyncContextManager[Gateway]]:
    """Run a gateway (on the shared servers unless others are given) for an ``async with`` block."""

    @asynccontextmanager
    async def start(
        broker: MqttInfo | None = None, store: InfluxInfo | None = None, **overrides: Any
    ) -> AsyncIterator[Gateway]:
        store = store or influx
        settings = mqtt_settings(tmp_path / "data", store, broker or mosquitto, **overrides)
        async with running_app(settings) as client:
            gateway = Gateway(client, settings, store, await login(client, *ADMIN))
            await gateway.ready()
            yield gateway
        if broker is None:
            await asyncio.to_thread(
                forget_session,
                mosquitto.host,
                mosquitto.port,
                f"{settings.mqtt_client_id}-{instance_id(settings.data_dir)}-0",
            )

    return start


@pytest.fixture
async def gateway(start_gateway: Callable[..., AbstractAsyncContextManager[Gateway]]) -> AsyncIterator[Gateway]:
    async with start_gateway() as running:
        yield running
