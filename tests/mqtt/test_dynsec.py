"""Mosquitto's dynamic security, kept in step by the gateway: per-device logins and topics, enforced by the broker."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from gateway import cli
from tests.conftest import MqttInfo
from tests.mqtt.conftest import Gateway
from tests.mqtt.support import Device, readings, stored, wait_stored
from tests.support.services import DynsecMosquitto

GATEWAY_LOGIN = ("gateway", "gateway-password-1")


@pytest.fixture
def dynsec_broker() -> Iterator[MqttInfo]:
    server = DynsecMosquitto(name="mosquitto", data_dir=Path(tempfile.mkdtemp(prefix="iot-gateway-dynsec-")))
    server.start()
    try:
        yield MqttInfo("127.0.0.1", server.port)
    finally:
        server.destroy()


DYNSEC = {
    "mqtt_username": GATEWAY_LOGIN[0],
    "mqtt_password": GATEWAY_LOGIN[1],
    "mqtt_dynsec_username": DynsecMosquitto.admin[0],
    "mqtt_dynsec_password": DynsecMosquitto.admin[1],
}


@pytest.fixture
async def gateway(
    start_gateway: Callable[..., AbstractAsyncContextManager[Gateway]], dynsec_broker: MqttInfo
) -> AsyncIterator[Gateway]:
    async with start_gateway(dynsec_broker, **DYNSEC) as running:
        yield running


def connect(gateway: Gateway, device_id: str, secret: str, token: str = "") -> Device:
    settings = gateway.settings
    return Device(settings.mqtt_host, settings.mqtt_port, device_id, token, login=(device_id, secret))


async def test_a_device_reaches_only_its_own_topic(gateway: Gateway) -> None:
    alice, alice_secret, alice_token = await gateway.device()
    bob, bob_secret, bob_token = await gateway.device()
    device = await asyncio.to_thread(connect(gateway, alice, alice_secret, alice_token).wait_ready)
    watcher = await asyncio.to_thread(connect(gateway, bob, bob_secret, bob_token).wait_ready)
    base = time.time_ns() // 1_000_000 - 60_000

    foreign = device.send({"cid": "foreign", "readings": readings(0, 1, base)}, topic=f"devices/{bob}/readings")
    await asyncio.to_thread(foreign.wait_for_publish, 5)
    assert foreign.mid in device.refused  # PUBACK 135 (not authorized): the broker dropped it

    await asyncio.to_thread(device.wait_ready)  # Mosquitto 2.0 also drops the connection; paho reconnects
    device.send({"cid": "own", "readings": readings(10, 1, base)})
    assert (await device.ack_for("own"))["accepted"] == 1
    await wait_stored(gateway.influx, gateway.settings.influx_measurement, 1)
    assert await stored(gateway.influx, gateway.settings.influx_measurement) == [(alice, base + 10)]
    assert watcher.acks == []  # the gateway never saw the foreign message
    device.close()
    watcher.close()


async def refused(gateway: Gateway, device_id: str, secret: str) -> str:
    device = connect(gateway, device_id, secret)
    try:
        while device.connect_reason is None:
            await asyncio.sleep(0.01)
        assert not device.connected.is_set(), "the broker let it in"
        return str(device.connect_reason)
    finally:
        device.close()


async def test_deleted_disabled_and_rotated_devices_are_locked_out_at_once(gateway: Gateway) -> None:
    gone, gone_secret, _ = await gateway.device()
    off, off_secret, _ = await gateway.device()
    rotated, old_secret, _ = await gateway.device()
    for device_id, secret in ((gone, gone_secret), (off, off_secret), (rotated, old_secret)):
        (await asyncio.to_thread(connect(gateway, device_id, secret).wait_ready)).close()  # each could log in

    assert (await gateway.client.delete(f"/api/v1/devices/{gone}", headers=gateway.admin)).status_code == 204
    patch = await gateway.client.patch(
        f"/api/v1/devices/{off}",
        content=b'{"enabled": false}',
        headers={**gateway.admin, "Content-Type": "application/merge-patch+json"},
    )
    assert patch.status_code == 200, patch.text
    reply = await gateway.client.post(f"/api/v1/devices/{rotated}/secret", headers=gateway.admin)
    new_secret = reply.json()["secret"]

    assert "Not authorized" in await refused(gateway, gone, gone_secret)
    assert "Not authorized" in await refused(gateway, off, off_secret)
    assert "Not authorized" in await refused(gateway, rotated, old_secret)
    device = await asyncio.to_thread(connect(gateway, rotated, new_secret).wait_ready)
    device.close()


async def test_gateway_logins_survive_restarts_and_are_never_a_devices(
    gateway: Gateway, start_gateway: Callable[..., AbstractAsyncContextManager[Gateway]], dynsec_broker: MqttInfo
) -> None:
    _, impostor_secret, _ = await gateway.device(device_id=GATEWAY_LOGIN[0])  # created, but gets no broker login
    assert "Not authorized" in await refused(gateway, GATEWAY_LOGIN[0], impostor_secret)
    async with start_gateway(dynsec_broker, **DYNSEC) as another:  # sets its login up again: still fine
        assert (await another.client.get("/readyz")).status_code == 200
    # Both used the same client id (same slot, same settings), so the broker handed the session back and forth;
    # the first gateway reconnects with its login intact.
    async with asyncio.timeout(15):
        while (await gateway.client.get("/readyz")).status_code != 200:
            await asyncio.sleep(0.2)


async def test_a_device_created_with_the_cli_gets_its_broker_login(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = gateway.settings
    monkeypatch.chdir(settings.data_dir)  # no stray .env
    for name, value in {
        "GATEWAY_DATA_DIR": str(settings.data_dir),
        "GATEWAY_DATABASE_URL": settings.database_url,
        "GATEWAY_MQTT_HOST": settings.mqtt_host,
        "GATEWAY_MQTT_PORT": str(settings.mqtt_port),
        "GATEWAY_MQTT_DYNSEC_USERNAME": DynsecMosquitto.admin[0],
        "GATEWAY_MQTT_DYNSEC_PASSWORD": DynsecMosquitto.admin[1],
        "GATEWAY_ARGON2_TIME_COST": "1",
        "GATEWAY_ARGON2_MEMORY_KIB": "8",
        "GATEWAY_ARGON2_PARALLELISM": "1",
    }.items():
        monkeypatch.setenv(name, value)
    assert await asyncio.to_thread(cli.main, ["devices", "create", "--name", "pump", "--device-id", "cli-pump"]) == 0
    printed = dict(line.split("=", 1) for line in capsys.readouterr().out.split())
    device = await asyncio.to_thread(connect(gateway, "cli-pump", printed["secret"]).wait_ready)
    device.close()
    assert "Not authorized" in await refused(gateway, "cli-pump", "not-the-secret")
