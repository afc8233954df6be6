"""``make run``'s broker: with GATEWAY_MQTT_EMBEDDED_BROKER the gateway serves MQTT itself, nothing installed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.ingest.conftest import ADMIN, app_settings
from tests.mqtt.support import Device, readings
from tests.support.app import running_app
from tests.support.fleet import create_device, device_headers, login
from tests.support.services import free_port


async def test_embedded_broker_takes_readings_into_the_store(tmp_path: Path) -> None:
    settings = app_settings(tmp_path, mqtt_embedded_broker=True, mqtt_port=free_port())  # the embedded store too
    async with running_app(settings) as client:
        admin = await login(client, *ADMIN)
        device_id, secret = await create_device(client, admin)
        token = (await device_headers(client, device_id, secret))["Authorization"].removeprefix("Bearer ")
        while (await client.get("/readyz")).status_code != 200:
            await asyncio.sleep(0.05)
        device = Device("127.0.0.1", settings.mqtt_port, device_id, token, mqtt5=False)  # amqtt speaks MQTT 3.1.1
        await asyncio.to_thread(device.wait_ready)
        base = time.time_ns() // 1_000_000 - 60_000
        device.send({"cid": "first", "readings": readings(0, 3, base)})
        assert (await device.ack_for("first"))["accepted"] == 3
        device.close()
        deadline = time.monotonic() + 10
        while not (latest := (await client.get(f"/api/v1/devices/{device_id}/readings/latest", headers=admin)).json())[
            "values"
        ]:
            assert time.monotonic() < deadline, latest
            await asyncio.sleep(0.05)
        assert latest["values"]["seq"]["value"] == 2.0
