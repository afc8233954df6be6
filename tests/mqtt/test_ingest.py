"""MQTT ingestion against a real Mosquitto and InfluxDB: stored and acked, or refused, counted and not stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from prometheus_client import REGISTRY

from gateway import security
from tests.conftest import MqttInfo
from tests.mqtt.conftest import Gateway
from tests.mqtt.support import Device, readings, stored, wait_stored
from tests.support.services import Server


def rejected(reason: str) -> float:
    return REGISTRY.get_sample_value("gateway_readings_rejected_total", {"transport": "mqtt", "reason": reason}) or 0.0


def accepted() -> float:
    return REGISTRY.get_sample_value("gateway_readings_accepted_total", {"transport": "mqtt"}) or 0.0


async def connect(gateway: Gateway, device_id: str, token: str) -> Device:
    settings = gateway.settings
    return await asyncio.to_thread(Device(settings.mqtt_host, settings.mqtt_port, device_id, token).wait_ready)


async def test_valid_readings_are_stored_and_acked_with_counts(gateway: Gateway) -> None:
    device_id, _, token = await gateway.device()
    device = await connect(gateway, device_id, token)
    base = time.time_ns() // 1_000_000 - 60_000
    document = {"cid": 7, "readings": [*readings(0, 2, base), {"ts": base + 2, "values": {"seq": "x", "bad": None}}]}
    device.send(document)
    ack = await device.ack_for(7)
    assert ack["cid"] == 7 and ack["accepted"] == 2
    assert [r["index"] for r in ack["rejected"]] == [2] and ack["rejected"][0]["errors"]
    got = await wait_stored(gateway.influx, gateway.settings.influx_measurement, 2)
    assert sorted(got) == [(device_id, base), (device_id, base + 1)]
    device.close()


async def test_refused_messages_store_nothing_and_count_their_reason(gateway: Gateway) -> None:
    alice, _, alice_token = await gateway.device()
    bob, _, bob_token = await gateway.device()
    settings = gateway.settings
    expired, _ = security.issue(
        gateway.app.state.keyring,
        settings,
        kind="device",
        subject=alice,
        tenant="default",
        ttl_s=-3600,
        ver=1,
        scope="readings:write",
    )
    device = await connect(gateway, alice, alice_token)
    base = time.time_ns() // 1_000_000 - 60_000
    document = {"readings": readings(0, 3, base)}
    cases = {  # cid: (token to send, topic, reason)
        "garbage": ("not-a-jwt", None, "token_invalid"),
        "expired": (expired, None, "token_expired"),
        "foreign-token": (bob_token, None, "topic_mismatch"),
        "missing": ("", None, "token_missing"),
    }
    before = {reason: rejected(reason) for *_, reason in cases.values()} | {"malformed": rejected("malformed")}
    accepted_before = accepted()
    for cid, (token, topic, _) in cases.items():
        device.send({"cid": cid, **document}, token=token, topic=topic)
    device.send_raw(b'{"cid": 1, "token": ')
    # Alice's valid token on Bob's topic: refused, and the answer goes to Bob's ack topic.
    watcher = await connect(gateway, bob, bob_token)
    device.send({"cid": "other-topic", **document}, topic=f"devices/{bob}/readings")

    for cid, (*_, reason) in cases.items():
        ack = await device.ack_for(cid)
        assert "accepted" not in ack and ack["reason"] == reason, ack
    assert (await device.ack_for(None))["reason"] == "malformed"
    assert (await watcher.ack_for("other-topic"))["reason"] == "topic_mismatch"

    watcher.send({"cid": "marker", "readings": readings(0, 1, base)})  # FIFO pipeline: once this is stored ...
    assert (await watcher.ack_for("marker"))["accepted"] == 1
    await wait_stored(gateway.influx, settings.influx_measurement, 1)
    assert await stored(gateway.influx, settings.influx_measurement) == [(bob, base)]  # ... nothing else was
    assert accepted() - accepted_before == 1
    for reason, count in before.items():
        assert rejected(reason) - count == (2 if reason == "topic_mismatch" else 1), reason
    device.close()
    watcher.close()


async def test_readyz_reports_the_broker(
    start_gateway: Callable[..., AbstractAsyncContextManager[Gateway]], private_server: Callable[[str], Server]
) -> None:
    server = private_server("mosquitto")
    async with start_gateway(MqttInfo("127.0.0.1", server.port)) as gateway:
        server.stop()
        while (reply := await gateway.client.get("/readyz")).status_code == 200:
            await asyncio.sleep(0.05)
        assert reply.status_code == 503 and reply.json()["checks"]["mqtt"] != "ok"
        server.start()
        await gateway.ready()
