"""At-least-once over MQTT: a QoS 1 load survives the broker, InfluxDB or the gateway going away mid-way, and two
gateways on one shared subscription split it. Afterwards InfluxDB holds exactly the published set of readings.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from gateway.mqtt.lifespan import instance_id
from tests.conftest import InfluxInfo, MqttInfo, influx_info
from tests.mqtt.conftest import Gateway
from tests.mqtt.support import (
    Device,
    accepted,
    expected,
    forget_session,
    gateway_env,
    readings,
    register,
    wait_published,
    wait_stored,
)
from tests.support.process import GatewayProcess
from tests.support.services import Server

pytestmark = pytest.mark.slow

DEVICES, ROUNDS, PER_MESSAGE = 4, 250, 10  # 10,000 readings in 1,000 messages
Fault = Callable[[], None]


def load(devices: list[Device], base_ms: int, faults: Mapping[int, Fault], pause_s: float = 0.004) -> None:
    """One message per device per round (blocking: run it in a thread); ``faults[i]`` runs before round i."""
    for i in range(ROUNDS):
        if i in faults:
            faults[i]()
        for device in devices:
            device.send({"cid": i, "readings": readings(i * PER_MESSAGE, PER_MESSAGE, base_ms)})
        time.sleep(pause_s)


async def run_load(
    broker: MqttInfo, fleet: Mapping[str, str], faults: Mapping[int, Fault], resend_after_s: float | None = None
) -> int:
    """Publish the load until the broker took all of it (and, with ``resend_after_s``, until the gateway answered
    every message, resending as the firmware does); the base timestamp of the readings."""
    devices = [await asyncio.to_thread(Device(broker.host, broker.port, d, t).wait_ready) for d, t in fleet.items()]
    base_ms = time.time_ns() // 1_000_000 - 3_600_000
    try:
        await asyncio.to_thread(load, devices, base_ms, faults)
        await wait_published(devices)
        deadline = time.monotonic() + 60
        while resend_after_s is not None and any(d.pending for d in devices):
            assert time.monotonic() < deadline, "the gateway never answered some messages"
            sum(d.resend_unanswered(resend_after_s) for d in devices)
            await asyncio.sleep(0.2)
    finally:
        for device in devices:
            device.close()
    return base_ms


async def assert_all_stored(influx: InfluxInfo, measurement: str, fleet: Mapping[str, str], base_ms: int) -> None:
    want = expected(fleet, ROUNDS * PER_MESSAGE, base_ms)
    got = await wait_stored(influx, measurement, len(want))
    assert len(got) == len(want), f"{len(want) - len(got)} readings missing"
    assert sorted(got) == want


async def in_process_fleet(gateway: Gateway) -> dict[str, str]:
    return {device_id: token for device_id, _, token in [await gateway.device() for _ in range(DEVICES)]}


@pytest.mark.parametrize("shared", [False, True], ids=["plain", "shared"])
async def test_broker_restart_during_load(
    start_gateway: Callable[..., AbstractAsyncContextManager[Gateway]],
    private_server: Callable[[str], Server],
    shared: bool,
) -> None:
    """The broker keeps the gateway's session and queue across a restart. Mosquitto 2.0.11 does not restore shared
    subscriptions, though: what devices publish before the gateway resubscribes is dropped by the broker, and only
    the device's resend of an unanswered message (the firmware's) gets it in. A plain subscription needs no resend."""
    server = private_server("mosquitto")
    broker = MqttInfo("127.0.0.1", server.port)

    def restart() -> None:
        server.stop()  # SIGTERM: Mosquitto saves its sessions, the gateway's queue included
        time.sleep(0.5)
        server.start()

    async with start_gateway(broker, **({} if shared else {"mqtt_share_group": ""})) as gateway:
        fleet = await in_process_fleet(gateway)
        base_ms = await run_load(broker, fleet, {ROUNDS // 2: restart}, resend_after_s=3.0 if shared else None)
        await assert_all_stored(gateway.influx, gateway.settings.influx_measurement, fleet, base_ms)


async def test_influxdb_restart_during_load(
    start_gateway: Callable[..., AbstractAsyncContextManager[Gateway]],
    private_server: Callable[[str], Server],
    mosquitto: MqttInfo,
) -> None:
    server = private_server("influx")
    async with start_gateway(store=influx_info(server)) as gateway:
        fleet = await in_process_fleet(gateway)
        base_ms = await run_load(mosquitto, fleet, {ROUNDS // 4: server.stop, 3 * ROUNDS // 4: server.start})
        await assert_all_stored(gateway.influx, gateway.settings.influx_measurement, fleet, base_ms)


def gateway_process(data_dir: Path, influx: InfluxInfo, broker: MqttInfo, measurement: str) -> GatewayProcess:
    unique = measurement[-8:]
    env = gateway_env(
        influx, measurement, broker.host, broker.port, mqtt_client_id=f"gw-{unique}", mqtt_share_group=f"g-{unique}"
    )
    return GatewayProcess(data_dir, env)


async def test_gateway_sigkill_during_load(tmp_path: Path, influx: InfluxInfo, mosquitto: MqttInfo) -> None:
    measurement = f"mqtt_kill_{uuid.uuid4().hex[:8]}"
    gateway = gateway_process(tmp_path / "gw", influx, mosquitto, measurement).start()
    try:
        fleet = {
            d: token for d, (_, token) in register(gateway.url, [f"k{i}-{measurement}" for i in range(DEVICES)]).items()
        }

        def restart() -> None:
            gateway.kill()  # SIGKILL: no shutdown code; the broker keeps what was not acked, the spool the rest
            time.sleep(0.5)
            gateway.start()  # same data directory and spool slot, so the same client id and broker session

        base_ms = await run_load(mosquitto, fleet, {ROUNDS // 2: restart})
        await assert_all_stored(influx, measurement, fleet, base_ms)
    finally:
        gateway.stop()
        forget_session(mosquitto.host, mosquitto.port, f"gw-{measurement[-8:]}-{instance_id(gateway.data_dir)}-0")


async def test_two_gateways_share_the_load(tmp_path: Path, influx: InfluxInfo, mosquitto: MqttInfo) -> None:
    measurement = f"mqtt_pair_{uuid.uuid4().hex[:8]}"
    # One data directory, as two workers of one deployment: each claims its own spool slot (and client id).
    first = gateway_process(tmp_path / "gw", influx, mosquitto, measurement).start()
    second = gateway_process(tmp_path / "gw", influx, mosquitto, measurement).start()
    try:
        fleet = {
            d: token for d, (_, token) in register(first.url, [f"p{i}-{measurement}" for i in range(DEVICES)]).items()
        }
        base_ms = await run_load(mosquitto, fleet, {})
        await assert_all_stored(influx, measurement, fleet, base_ms)
        shares = [accepted(first.url), accepted(second.url)]
    finally:
        first.stop()
        second.stop()
        for slot in (0, 1):
            forget_session(mosquitto.host, mosquitto.port, f"gw-{measurement[-8:]}-{slot}")
    assert all(share > 0 for share in shares), shares
    assert sum(shares) == DEVICES * ROUNDS * PER_MESSAGE


async def test_a_full_spool_holds_messages_unacked_until_it_drains(
    start_gateway: Callable[..., AbstractAsyncContextManager[Gateway]],
    private_server: Callable[[str], Server],
    mosquitto: MqttInfo,
) -> None:
    """With InfluxDB away the spool fills up; messages are then held, not acked, and taken once it drains."""
    server = private_server("influx")
    held = REGISTRY.get_sample_value("gateway_backpressure_total", {"transport": "mqtt"}) or 0.0
    async with start_gateway(store=influx_info(server), spool_quota_bytes=30_000, mqtt_max_inflight=20) as gateway:
        fleet = await in_process_fleet(gateway)
        server.stop()
        devices = [
            await asyncio.to_thread(Device(mosquitto.host, mosquitto.port, d, t).wait_ready) for d, t in fleet.items()
        ]
        base_ms = time.time_ns() // 1_000_000 - 3_600_000
        await asyncio.to_thread(load, devices, base_ms, {})
        await asyncio.sleep(2)
        assert (REGISTRY.get_sample_value("gateway_backpressure_total", {"transport": "mqtt"}) or 0.0) > held
        assert sum(len(d.acks) for d in devices) < DEVICES * ROUNDS  # the rest waits, unanswered and unacked
        server.start()
        await assert_all_stored(gateway.influx, gateway.settings.influx_measurement, fleet, base_ms)
        for device in devices:
            device.close()
