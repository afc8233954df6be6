"""A real gateway (uvicorn on loopback, real InfluxDB) with an admin and a device, for the stream tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import Settings
from tests.conftest import InfluxInfo
from tests.dashboard.server import ADMIN, LiveServer, gateway_settings, new_measurement, serve
from tests.support.fleet import create_device, device_headers, login


@dataclass
class Gateway:
    server: LiveServer
    client: httpx.AsyncClient
    admin: dict[str, str]
    device_id: str
    device: dict[str, str]  # the device's token headers


@pytest.fixture(scope="session")
def measurement() -> str:
    return new_measurement()


@pytest.fixture
def settings_for(tmp_path: Path, influx: InfluxInfo, measurement: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        return gateway_settings(tmp_path / "data", influx, measurement, **overrides)

    return make


async def start(server: LiveServer) -> Gateway:
    client = httpx.AsyncClient(base_url=server.url, timeout=10)
    admin = await login(client, *ADMIN)
    device_id, secret = await create_device(client, admin, name="boiler")
    return Gateway(server, client, admin, device_id, await device_headers(client, device_id, secret))


@pytest.fixture
async def gateway(settings_for: Callable[..., Settings]) -> AsyncIterator[Gateway]:
    with serve(settings_for()) as server:
        gw = await start(server)
        async with aclosing(gw.client):
            yield gw


@pytest.fixture
def second_replica(settings_for: Callable[..., Settings]) -> Callable[..., AbstractContextManager[LiveServer]]:
    """Another replica on the same registry and data directory (overrides such as ``redis_url`` applied)."""
    return lambda **overrides: serve(settings_for(**overrides))
