"""MQTT test and bench helpers: a device publishing over paho, what InfluxDB holds, gateway settings and fleets."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import paho.mqtt.client as paho
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import InfluxInfo

ADMIN = ("admin", "admin-password-1")
JWT_SECRET = "mqtt-tests-" + "k" * 40
EPOCH, MS = datetime(1970, 1, 1, tzinfo=UTC), timedelta(milliseconds=1)


def gateway_env(influx: InfluxInfo, measurement: str, host: str, port: int, **extra: Any) -> dict[str, str]:
    """GATEWAY_* variables of a gateway process on a real InfluxDB and broker (fast argon2, known JWT key)."""
    env = {
        "influx_url": influx.url,
        "influx_token": influx.token,
        "influx_org": influx.org,
        "influx_bucket": influx.bucket,
        "influx_measurement": measurement,
        "mqtt_host": host,
        "mqtt_port": port,
        "admin_username": ADMIN[0],
        "admin_password": ADMIN[1],
        "jwt_secret": JWT_SECRET,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8,
        "argon2_parallelism": 1,
        "batch_interval_s": 0.05,
        "retry_max_backoff_s": 1,
        "log_level": "warning",
        **extra,
    }
    return {f"GATEWAY_{k.upper()}": str(v) for k, v in env.items()}


def register(base_url: str, device_ids: list[str], **fields: Any) -> dict[str, tuple[str, str]]:
    """Create devices on a running gateway: {device_id: (secret, token)}."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        reply = client.post("/api/v1/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]})
        headers = {"Authorization": f"Bearer {reply.raise_for_status().json()['access_token']}"}
        fleet = {}
        for device_id in device_ids:
            device = {"device_id": device_id, "name": device_id, **fields}
            secret = client.post("/api/v1/devices", json=device, headers=headers)
            body = {"device_id": device_id, "secret": secret.raise_for_status().json()["secret"]}
            token = client.post("/api/v1/auth/device-token", json=body).raise_for_status().json()["access_token"]
            fleet[device_id] = (body["secret"], token)
    return fleet


def forget_session(host: str, port: int, client_id: str) -> None:
    """Drop a consumer's persistent session (and its queue) from a shared broker once its test is done."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.connect(host, port, 10)
    client.loop_start()
    client.disconnect()
    client.loop_stop()


@functools.cache
def _metrics_client() -> httpx.Client:
    """One client for every poll: building one (its TLS context) costs about 30 ms of CPU, which a bench polling
    every 100 ms would take from the gateway it measures."""
    return httpx.Client(timeout=10)


def accepted(base_url: str, prefix: str = 'gateway_readings_accepted_total{transport="mqtt"}') -> float:
    """Readings a gateway process accepted over MQTT so far (or another counter of its /metrics)."""
    try:
        reply = _metrics_client().get(f"{base_url}/metrics")
    except httpx.ReadError:  # the server closed the kept-alive connection as the request went out: ask again
        reply = _metrics_client().get(f"{base_url}/metrics")
    lines = reply.text.splitlines()
    return sum(float(line.split()[-1]) for line in lines if line.startswith(prefix))


def written(base_url: str) -> float:
    """Readings a gateway stored in its sink so far: cheap to poll, unlike counting points in InfluxDB."""
    return accepted(base_url, "gateway_readings_written_total")


def last_write(base_url: str) -> float:
    """Unix time of the gateway's last successful store write (0 before the first)."""
    return accepted(base_url, "gateway_sink_last_write_timestamp_seconds")


def readings(first: int, count: int, base_ms: int) -> list[dict[str, Any]]:
    """Readings numbered ``first``.. with one timestamp each (InfluxDB would merge equal ones)."""
    return [{"ts": base_ms + n, "values": {"seq": float(n)}} for n in range(first, first + count)]


class Device:
    """A device on MQTT: publishes readings with its token, collects the gateway's acks."""

    def __init__(
        self,
        host: str,
        port: int,
        device_id: str,
        token: str,
        *,
        login: tuple[str, str] | None = None,
        mqtt5: bool = True,
        client_id: str | None = None,
    ) -> None:
        self.device_id, self.token = device_id, token
        self.acks: list[dict[str, Any]] = []
        self.refused: list[int] = []  # mids the broker answered with a failure reason code (MQTT 5)
        self.sent = self.delivered = 0  # QoS 1 messages published, and those the broker acknowledged
        self.pending: dict[object, tuple[str, bytes, float]] = {}  # by cid: sent, no answer from the gateway yet
        self.connected = threading.Event()
        self.connect_reason: Any = None
        self._subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"{device_id}-{time.monotonic_ns()}",
            protocol=paho.MQTTv5 if mqtt5 else paho.MQTTv311,
        )
        if login:
            self.client.username_pw_set(*login)
        self.client.max_inflight_messages_set(200)
        self.client.reconnect_delay_set(0.2, 2)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_ack
        self.client.on_publish = self._on_publish
        self.client.connect_async(host, port, 30)
        self.client.loop_start()

    def _on_connect(self, client: paho.Client, _: Any, __: Any, reason: Any, ___: Any) -> None:
        self.connect_reason = reason
        if not reason.is_failure:
            client.subscribe(f"devices/{self.device_id}/acks", qos=1)
            self.connected.set()

    def _on_ack(self, _: paho.Client, __: Any, message: paho.MQTTMessage) -> None:
        ack = orjson.loads(message.payload)
        self.pending.pop(ack.get("cid"), None)
        self.acks.append(ack)

    def _on_publish(self, _: paho.Client, __: Any, mid: int, reason: Any, ___: Any) -> None:
        self.delivered += 1
        if reason.is_failure:
            self.refused.append(mid)

    def wait_ready(self, timeout: float = 10) -> Device:
        assert self.connected.wait(timeout) and self._subscribed.wait(timeout), f"not connected: {self.connect_reason}"
        return self

    def send(
        self, document: dict[str, Any], *, topic: str | None = None, qos: int = 1, token: str | None = None
    ) -> Any:
        body = {**document, "token": self.token if token is None else token}
        topic, payload = topic or f"devices/{self.device_id}/readings", orjson.dumps(body)
        if "cid" in document:
            self.pending[document["cid"]] = (topic, payload, time.monotonic())
        self.sent += qos > 0
        return self.client.publish(topic, payload, qos=qos)

    def resend_unanswered(self, after_s: float) -> int:
        """Publish again what the gateway has not answered for ``after_s``, as the firmware does."""
        now, resent = time.monotonic(), 0
        for cid, (topic, payload, at) in list(self.pending.items()):
            if now - at > after_s and cid in self.pending:
                self.pending[cid] = (topic, payload, now)
                self.client.publish(topic, payload, qos=1)
                self.sent, resent = self.sent + 1, resent + 1
        return resent

    def send_raw(self, payload: bytes, qos: int = 1) -> Any:
        return self.client.publish(f"devices/{self.device_id}/readings", payload, qos=qos)

    async def ack_for(self, cid: object, within_s: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            for ack in self.acks:
                if ack.get("cid") == cid:
                    return ack
            await asyncio.sleep(0.01)
        raise TimeoutError(f"no ack for cid {cid!r}; got {self.acks[-3:]}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def wait_published(devices: Iterable[Device], within_s: float = 120) -> None:
    """Until the broker took every QoS 1 message (PUBACK); paho resends unacknowledged ones after a reconnect."""
    deadline = time.monotonic() + within_s
    for device in devices:
        while device.delivered < device.sent:
            assert time.monotonic() < deadline, f"the broker took {device.delivered} of {device.sent} messages"
            await asyncio.sleep(0.01)


async def stored(influx: InfluxInfo, measurement: str) -> list[tuple[str, int]]:
    """Every (device, ts) point of the metric ``seq`` in the measurement, as a list so duplicates would show."""
    query = (
        f'from(bucket: "{influx.bucket}") |> range(start: 0)'
        f' |> filter(fn: (r) => r._measurement == "{measurement}" and r._field == "seq")'
        ' |> keep(columns: ["_time", "device_id"])'
    )
    async with InfluxDBClientAsync(url=influx.url, token=influx.token, org=influx.org, timeout=60_000) as client:
        tables = await client.query_api().query(query)
    return [(rec.values["device_id"], (rec.get_time() - EPOCH) // MS) for t in tables for rec in t.records]


async def wait_stored(influx: InfluxInfo, measurement: str, count: int, within_s: float = 90) -> list[tuple[str, int]]:
    deadline = time.monotonic() + within_s
    while True:
        got = await stored(influx, measurement)
        if len(got) >= count or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.5)


def expected(fleet: Iterable[str], count: int, base_ms: int) -> list[tuple[str, int]]:
    return sorted((device_id, base_ms + n) for device_id in fleet for n in range(count))
