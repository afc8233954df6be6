"""An app per test on each store (embedded SQLite file and a real InfluxDB), with an admin and a device."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import Settings
from tests.conftest import InfluxInfo
from tests.support.app import running_app
from tests.support.fleet import create_device, device_headers, login

FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1}
ADMIN = ("admin", "admin-password-1")


def app_settings(data_dir: Path, influx: InfluxInfo | None = None, **overrides: Any) -> Settings:
    fields: dict[str, Any] = {
        "data_dir": data_dir,
        "admin_username": ADMIN[0],
        "admin_password": ADMIN[1],
        "batch_interval_s": 0.05,
        **FAST_ARGON2,
    }
    if influx is not None:
        fields |= {
            "influx_url": influx.url,
            "influx_token": influx.token,
            "influx_org": influx.org,
            "influx_bucket": influx.bucket,
            "influx_measurement": f"t_{uuid.uuid4().hex[:10]}",  # isolates tests sharing one server
        }
    return Settings(_env_file=None, **(fields | overrides))  # type: ignore[call-arg]


@dataclass
class Gateway:
    client: httpx.AsyncClient
    admin: dict[str, str]
    device_id: str
    secret: str
    device: dict[str, str]


@pytest.fixture(params=["embedded", "influx"])
async def gateway(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Gateway]:
    influx = request.getfixturevalue("influx") if request.param == "influx" else None
    async with running_app(app_settings(tmp_path, influx)) as client:
        admin = await login(client, *ADMIN)
        device_id, secret = await create_device(client, admin, tags={"site": 'north, "A"=1'})
        yield Gateway(client, admin, device_id, secret, await device_headers(client, device_id, secret))
