"""The consumer on its own, against the real Mosquitto: batches, replies, holding, and a broker that is not there."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.mqtt.consumer import BrokerLogin, Consumer, Handler, PacketLog, Reply, make_client
from tests.conftest import MqttInfo


@asynccontextmanager
async def consuming(
    broker: MqttInfo, prefix: str, handler: Handler, **options: Any
) -> AsyncIterator[tuple[Consumer, paho.Client, list[bytes]]]:
    """A consumer of ``<prefix>/in``, connected, and a device-side client collecting what arrives on ``<prefix>/acks``."""
    keepalive_s = options.pop("keepalive_s", 30)
    consumer = Consumer(
        BrokerLogin(broker.host, broker.port, keepalive_s=keepalive_s), prefix, f"{prefix}/in", handler, **options
    )
    await consumer.start()
    replies: list[bytes] = []
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    client.on_message = lambda _c, _u, message: replies.append(message.payload)
    client.connect(broker.host, broker.port)
    client.subscribe(f"{prefix}/acks", qos=1)
    client.loop_start()
    try:
        await until(consumer._client.is_connected, 10)
        await asyncio.sleep(0.3)  # the subscriptions are in place
        yield consumer, client, replies
    finally:
        client.loop_stop()
        client.disconnect()
        await consumer.close()


async def until(predicate: Callable[[], bool], within_s: float) -> None:
    async with asyncio.timeout(within_s):
        while not predicate():
            await asyncio.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_missing_broker_is_reported_and_retried(mosquitto: MqttInfo) -> None:
    async def handler(messages: list[tuple[str, bytes]]) -> list[Reply | None]:
        return [None for _ in messages]

    # refused, a name that does not resolve, and one paho refuses outright (ValueError, not OSError)
    for host in ("127.0.0.1", "host.invalid", ""):
        consumer = Consumer(
            BrokerLogin(host, free_port()),
            f"t-{uuid.uuid4().hex[:8]}",
            "x/#",
            handler,
            max_inflight=10,
            max_backoff_s=1,
        )
        await consumer.start()
        await asyncio.sleep(1.5)
        try:
            await consumer.check()
        except ConnectionError as exc:
            assert "cannot connect" in str(exc)
        else:
            raise AssertionError("a consumer without a broker reported itself ready")
        assert consumer._runner is not None and not consumer._runner.done()  # still trying
        await consumer.close()


async def test_messages_come_in_batches_and_each_gets_its_reply(mosquitto: MqttInfo) -> None:
    """Held messages (the handler fails) are offered again, never acked meanwhile; then each one is answered."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    batches: list[int] = []
    failures = 3

    async def handler(messages: list[tuple[str, bytes]]) -> list[Reply | None]:
        nonlocal failures
        batches.append(len(messages))
        if failures:
            failures -= 1
            raise RuntimeError("spool full")
        return [(f"{prefix}/acks", payload) for _, payload in messages]

    async with consuming(mosquitto, prefix, handler, max_inflight=50, max_backoff_s=0.2) as (_, client, replies):
        for i in range(200):
            client.publish(f"{prefix}/in", str(i).encode(), qos=1)
        await until(lambda: len(replies) >= 200, 15)
        await asyncio.sleep(0.3)
        assert sorted(int(r) for r in replies) == list(range(200))  # each answered once
        assert len(batches) - 3 < 200  # handled in batches, not one by one


async def test_what_is_in_hand_when_the_connection_drops_is_let_go(mosquitto: MqttInfo) -> None:
    """Held messages of a lost connection are dropped, not kept beside their redelivered copies: after the
    reconnection each message is handled and answered once, from the redelivery."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    hold = asyncio.Event()  # set: the handler fails (spool full)
    hold.set()
    seen: list[bytes] = []

    async def handler(messages: list[tuple[str, bytes]]) -> list[Reply | None]:
        if hold.is_set():
            raise RuntimeError("spool full")
        seen.extend(payload for _, payload in messages)
        return [(f"{prefix}/acks", payload) for _, payload in messages]

    options = {"keepalive_s": 5, "max_inflight": 20, "max_backoff_s": 0.1}
    async with consuming(mosquitto, prefix, handler, **options) as (consumer, client, replies):
        for i in range(60):
            client.publish(f"{prefix}/in", str(i).encode(), qos=1)
        await until(lambda: consumer._inflight >= 20, 10)
        generation = consumer._generation
        consumer._sock.shutdown(socket.SHUT_RDWR)  # the network drops (noticed by the keepalive: reading is paused)
        # back, and holding the redeliveries
        await until(lambda: consumer._generation >= generation + 2 and consumer._inflight >= 20, 20)
        await asyncio.sleep(0.5)
        assert consumer._inflight == 20  # the redelivered copies only, not beside the held originals
        hold.clear()
        await until(lambda: len(replies) >= 60, 15)
        await asyncio.sleep(0.5)
        assert sorted(int(r) for r in replies) == list(range(60))  # each answered once
        assert sorted(int(p) for p in seen) == list(range(60))  # and handled once


def test_paho_packet_lines_are_dropped_unless_debug_was_on(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("gateway.mqtt.paho.test")
    client = make_client(BrokerLogin("127.0.0.1", 1), "packet-log")
    with caplog.at_level(logging.INFO, logger.name):
        quiet = PacketLog(logger)
        client.enable_logger(quiet)  # type: ignore[arg-type]
        client._easy_log(paho.MQTT_LOG_DEBUG, "Received PUBLISH (m%d)", 1)
        client._easy_log(paho.MQTT_LOG_ERR, "failed to receive on socket: %s", "reset")
    with caplog.at_level(logging.DEBUG, logger.name):
        client.enable_logger(PacketLog(logger))  # type: ignore[arg-type]
        client._easy_log(paho.MQTT_LOG_DEBUG, "Received PUBLISH (m%d)", 2)
    assert [(r.levelno, r.getMessage()) for r in caplog.records if r.name == logger.name] == [
        (logging.ERROR, "failed to receive on socket: reset"),
        (logging.DEBUG, "Received PUBLISH (m2)"),
    ]
