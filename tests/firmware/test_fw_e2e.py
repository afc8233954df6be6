"""End to end: the firmware's own code (firmware/lib, built by board.build() as main.py builds it, with the CPython
shims) against a real `iot-gateway serve` process on a real InfluxDB, over HTTP and over MQTT (a real Mosquitto).

- readings flow into InfluxDB; the gateway stops, the device keeps sampling into its flash spool, reboots during
  the outage, and when the gateway is back every reading arrives: InfluxDB holds exactly the readings the device
  made (unique timestamps, the same set, no extra point), and the device counted each one accepted once;
- a rotated secret is reported by the firmware ("secret rejected: rotate config", once) and it stops asking: no
  further token requests or sends for the backoff, which the gateway's own log and metrics confirm; with the new
  secret in its config the rebooted device delivers everything it kept meanwhile.
No NTP traffic leaves (ntp_host ""): the host's clock is the device's.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
import pytest
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from paho.mqtt.enums import CallbackAPIVersion

from gateway.mqtt.lifespan import instance_id
from tests.conftest import InfluxInfo, MqttInfo
from tests.support.fleet import create_device, login
from tests.support.process import GatewayProcess

ADMIN = ("admin", "admin-password-1")
EPOCH, MS = datetime(1970, 1, 1, tzinfo=UTC), timedelta(milliseconds=1)
TOKEN_401 = '"POST /api/v1/auth/device-token HTTP/1.1" 401'
READINGS_401 = '"POST /api/v1/readings HTTP/1.1" 401'


# -- the gateway ---------------------------------------------------------------------------------------------------


@dataclass
class LiveGateway:
    process: GatewayProcess
    influx: InfluxInfo
    broker: MqttInfo
    measurement: str
    client_id: str

    @property
    def url(self) -> str:
        return self.process.url

    async def start(self) -> None:
        await asyncio.to_thread(self.process.start)

    async def stop(self) -> None:
        await asyncio.to_thread(self.process.stop)

    def consumer_client_id(self) -> str:
        """The gateway's MQTT session on the broker (its client id: ours, its instance id, its spool slot)."""
        return f"{self.client_id}-{instance_id(self.process.data_dir)}-0"

    def log_count(self, needle: str) -> int:
        path = self.process.data_dir / "gateway.log"
        return path.read_text(errors="replace").count(needle) if path.exists() else 0

    async def admin(self) -> dict[str, str]:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            return await login(client, *ADMIN)

    async def new_device(self) -> tuple[str, str]:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            return await create_device(client, await login(client, *ADMIN), name="e2e device")

    async def rotate_secret(self, device_id: str) -> str:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            reply = await client.post(f"/api/v1/devices/{device_id}/secret", headers=await login(client, *ADMIN))
        assert reply.status_code == 200, reply.text
        secret: str = reply.json()["secret"]
        return secret

    async def metric(self, name: str, **labels: str) -> float:
        """The sum of a counter's samples that carry these labels (from /metrics)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            lines = (await client.get("/metrics")).text.splitlines()
        pairs = [f'{k}="{v}"' for k, v in labels.items()]
        return sum(
            float(line.split()[-1])
            for line in lines
            if line.startswith(name + "{") and all(p in line.split("}")[0] for p in pairs)
        )


def gateway_env(influx: InfluxInfo, broker: MqttInfo, measurement: str, client_id: str) -> dict[str, str]:
    """A gateway process on the real InfluxDB and broker: fast argon2, an admin, its own MQTT session and group."""
    env = {
        "admin_username": ADMIN[0],
        "admin_password": ADMIN[1],
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8,
        "argon2_parallelism": 1,
        "influx_url": influx.url,
        "influx_token": influx.token,
        "influx_org": influx.org,
        "influx_bucket": influx.bucket,
        "influx_measurement": measurement,
        "mqtt_host": broker.host,
        "mqtt_port": broker.port,
        "mqtt_client_id": client_id,
        "mqtt_share_group": f"g-{client_id}",
        "batch_interval_s": 0.05,
        "retry_max_backoff_s": 1,
    }
    return {f"GATEWAY_{k.upper()}": str(v) for k, v in env.items()}


def forget_session(broker: MqttInfo, client_id: str) -> None:
    """Drop the gateway's persistent session from the shared broker once its test is done."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.connect(broker.host, broker.port, 10)
    client.loop_start()
    client.disconnect()
    client.loop_stop()


@pytest.fixture
async def live_gateway(tmp_path: Path, influx: InfluxInfo, mosquitto: MqttInfo) -> Any:
    unique = uuid.uuid4().hex[:8]
    measurement, client_id = f"e2e_{unique}", f"gw-e2e-{unique}"
    process = GatewayProcess(tmp_path / "gateway", gateway_env(influx, mosquitto, measurement, client_id))
    gateway = LiveGateway(process, influx, mosquitto, measurement, client_id)
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()
        await asyncio.to_thread(forget_session, mosquitto, gateway.consumer_client_id())


async def stored(influx: InfluxInfo, measurement: str, device_id: str, metric: str = "seq") -> list[tuple[int, int]]:
    """Every (ts, value) point of one metric of one device, as a list so duplicates would show."""
    query = (
        f'from(bucket: "{influx.bucket}") |> range(start: 0)'
        f' |> filter(fn: (r) => r._measurement == "{measurement}" and r.device_id == "{device_id}"'
        f' and r._field == "{metric}")'
    )
    async with InfluxDBClientAsync(url=influx.url, token=influx.token, org=influx.org, timeout=30_000) as client:
        tables = await client.query_api().query(query)
    return [((rec.get_time() - EPOCH) // MS, int(rec.get_value())) for t in tables for rec in t.records]


async def wait_stored(gateway: LiveGateway, device_id: str, count: int, within_s: float = 30) -> list[tuple[int, int]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        got = await stored(gateway.influx, gateway.measurement, device_id)
        if len(got) >= count or loop.time() > deadline:
            return got
        await asyncio.sleep(0.25)


# -- the device ----------------------------------------------------------------------------------------------------


async def until(cond: Callable[[], bool], seconds: float = 20.0, what: str = "") -> None:
    try:
        async with asyncio.timeout(seconds):
            while not cond():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"not within {seconds} s: {what}") from None


class Counter:
    """A sensor numbering its readings: with the timestamp, each reading is known exactly."""

    name = "counter"

    def __init__(self) -> None:
        self.n = 0

    async def read(self, out: dict[str, object]) -> None:
        self.n += 1
        out["seq"] = self.n


def device_config(device_id: str, secret: str, gateway: LiveGateway, spool: Path, transport: str) -> dict[str, Any]:
    from iotfw import config

    cfg: dict[str, Any] = config.loads(
        json.dumps(
            {
                "device_id": device_id,
                "secret": secret,
                "gateway_url": gateway.url,
                "transport": transport,
                "mqtt_host": gateway.broker.host,
                "mqtt_port": gateway.broker.port,
                "ntp_host": "",  # no NTP traffic: the host's clock
                "spool_dir": str(spool),
                "sample_interval_s": 0.02,
                "batch_size": 5,
                "batch_max_age_s": 0.3,
                "backoff_base_ms": 100,
                "backoff_max_ms": 500,
                "request_timeout_s": 3,
                "ack_timeout_s": 2,
                "wdt_timeout_ms": 4000,
                "sensors": [{"type": "simulated", "seed": 7}],
            }
        )
    )
    return cfg


@dataclass
class Firmware:
    """One boot of the firmware: the Device board.build() made, its task, and what it logged and queued."""

    device: Any
    task: asyncio.Task[None]
    lines: list[str]
    made: list[tuple[int, int]] = field(default_factory=list)  # (ts, seq) of every reading queued

    @property
    def stats(self) -> Any:
        return self.device.stats

    def logged(self, text: str) -> int:
        return sum(1 for line in self.lines if text in line)

    def in_flash(self) -> int:
        return len(self.device.queue.spool)

    async def drain(self, within_s: float = 60) -> None:
        """Stop sampling and wait until everything queued (RAM and flash) was delivered."""
        queue = self.device.queue
        self.device.sensors = []
        queue.max_age_ms = 0
        queue.changed.set()
        await until(lambda: queue.pending_ram() == 0 and len(queue.spool) == 0, within_s, "the device drains")

    async def stop(self) -> None:
        self.device.stop()  # what is in RAM goes to flash, as on Ctrl-C or before a reset
        await asyncio.wait_for(self.task, 15)


def boot(cfg: dict[str, Any], counter: Counter, made: list[tuple[int, int]], lines: list[str]) -> Firmware:
    """Build the device as main.py does (board.build) and run it; every reading it queues is recorded."""
    from iotfw import board
    from iotfw.log import Log

    device = board.build(cfg, Log(cfg["device_id"], "info", lines.append))
    device.sensors.append(counter)
    add = device.queue.add

    def recording_add(ts: int, values: dict[str, object]) -> bool:
        queued: bool = add(ts, values)
        if queued:
            made.append((ts, int(values["seq"])))  # type: ignore[call-overload]
        return queued

    device.queue.add = recording_add
    return Firmware(device, asyncio.create_task(device.run()), lines, made)


# -- the tests -----------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("firmware_on_cpython")
@pytest.mark.parametrize("transport", ["http", "mqtt"])
async def test_readings_survive_a_gateway_outage_and_a_reboot(
    transport: str, live_gateway: LiveGateway, tmp_path: Path
) -> None:
    device_id, secret = await live_gateway.new_device()
    cfg = device_config(device_id, secret, live_gateway, tmp_path / "spool", transport)
    counter, made, lines = Counter(), [], []
    first = boot(cfg, counter, made, lines)
    second: Firmware | None = None
    try:
        # Readings flow.
        await until(lambda: first.stats.accepted >= 25, 30, "readings accepted")

        # The gateway stops: batches go to flash.
        await live_gateway.stop()
        await until(lambda: first.logged("batch kept for later") >= 1, 30, "a failed send reported")
        await until(lambda: first.in_flash() >= 8, 30, "segments in flash")

        # The device reboots during the outage: what was in RAM is saved, the new boot finds it all in flash.
        await first.stop()
        segments = len(list((tmp_path / "spool").glob("*.seg")))
        assert segments >= 8
        # A reset takes a while (more than a second on a board): the clocks of two boots are each right to a
        # millisecond or so, which keeps their timestamps apart only if the boots are not within one.
        await asyncio.sleep(0.1)
        second = boot(cfg, counter, made, lines)
        await until(lambda: second.logged("waiting in flash") == 1, 10, "the spool found at boot")
        await asyncio.sleep(1.0)  # more readings while the gateway is away
        assert second.stats.accepted == 0 and second.in_flash() >= segments

        # The gateway is back: the backlog drains (oldest first), then sampling stops and the rest follows.
        backlog = sum(p.read_bytes().count(b"\n") for p in (tmp_path / "spool").glob("*.seg"))
        await live_gateway.start()
        await until(lambda: second.stats.accepted >= backlog, 60, "the backlog drains")
        await second.drain()
    finally:
        for boot_ in (first, second):
            if boot_ is not None and not boot_.task.done():
                await boot_.stop()

    assert second is not None
    assert not list((tmp_path / "spool").glob("*.seg"))
    assert len({ts for ts, _ in made}) == len(made) > 100, "every reading has its own timestamp"
    got = await wait_stored(live_gateway, device_id, len(made))
    assert len(got) == len(made), f"{len(made) - len(got)} readings missing" if len(got) < len(made) else "extra"
    assert sorted(got) == sorted(made)  # the same readings, each once
    for stats in (first.stats, second.stats):
        assert stats.rejected == stats.dropped == 0
    assert first.stats.accepted + second.stats.accepted == len(made), "a reading was acknowledged twice"
    assert first.device.failure == second.device.failure == ""


@pytest.mark.usefixtures("firmware_on_cpython")
@pytest.mark.parametrize("transport", ["http", "mqtt"])
async def test_a_rotated_secret_is_reported_once_and_the_device_stops_asking(
    transport: str, live_gateway: LiveGateway, tmp_path: Path
) -> None:
    device_id, secret = await live_gateway.new_device()
    cfg = device_config(device_id, secret, live_gateway, tmp_path / "spool", transport)
    counter, made, lines = Counter(), [], []
    device = boot(cfg, counter, made, lines)
    rebooted: Firmware | None = None
    try:
        await until(lambda: device.stats.accepted >= 10, 30, "readings accepted")
        auth = device.device.transport.auth
        assert auth.fetches == 1

        new_secret = await live_gateway.rotate_secret(device_id)
        await until(lambda: device.logged("secret rejected: rotate config") == 1, 15, "the refusal reported")
        rejected = next(line for line in lines if "secret rejected" in line)
        assert rejected.startswith("ERROR") and device_id in rejected and "HTTP 401" in rejected
        fetches, retries = auth.fetches, device.stats.retries
        assert fetches == 2  # the token was fetched again once, and refused

        # No hammering: nothing more is asked of the gateway for the backoff (900 s), while readings are kept.
        flash_before = device.in_flash()
        await asyncio.sleep(3)
        assert auth.fetches == fetches and device.stats.retries == retries
        assert device.logged("secret rejected") == 1
        assert device.in_flash() > flash_before
        assert live_gateway.log_count(TOKEN_401) == 1
        if transport == "http":
            assert live_gateway.log_count(READINGS_401) == 1
        else:
            refused = await live_gateway.metric(
                "gateway_readings_rejected_total", transport="mqtt", reason="secret_rotated"
            )
            assert refused == 1

        # The new secret goes into the config; after a reboot everything kept meanwhile arrives.
        await device.stop()
        await asyncio.sleep(0.1)  # the reset
        rebooted = boot({**cfg, "secret": new_secret}, counter, made, lines)
        await until(lambda: rebooted.stats.accepted > 0, 30, "readings accepted with the new secret")
        await rebooted.drain()
    finally:
        for boot_ in (device, rebooted):
            if boot_ is not None and not boot_.task.done():
                await boot_.stop()

    assert rebooted is not None
    got = await wait_stored(live_gateway, device_id, len(made))
    assert sorted(got) == sorted(made)
    assert device.stats.accepted + rebooted.stats.accepted == len(made)
    assert live_gateway.log_count(TOKEN_401) == 1
