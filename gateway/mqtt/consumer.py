"""A paho-mqtt consumer that acks (PUBACK) a message only after its handler made it durable.

paho runs on the event loop through its external-loop API (``loop_read``/``loop_write``/``loop_misc`` driven by
the loop's reader and writer callbacks), not in a thread of its own: a network thread and the event loop would take
turns on the GIL for every message, which cost more than the work itself. Only the blocking TCP connect runs in a
worker thread. The messages read in one wake-up are handled as one batch (one spool commit, one set of counts), then
each gets its reply and its ack. Once ``max_inflight`` messages are in hand (give or take one read's worth) the
consumer stops reading the socket, so memory stays bounded and the broker keeps the rest.

A batch whose handler fails is retried with backoff while its messages are held: in a live session the broker
never redelivers an unacked message, so holding it is the same as not acking it, and nothing is acked before it is
safe. Acks are never sent across a reconnect: the broker redelivers those messages on the new connection, and a
stale ack could acknowledge an unrelated message that reuses the packet id. So what is in hand when the connection
drops is let go (whatever of it reached the spool is written twice, harmlessly: the store overwrites equal points).

MQTT 3.1.1 with a persistent session (clean session off), not MQTT 5: paho decodes MQTT 5 properties on every
packet, which costs a third of the consumer's throughput, and what MQTT 5 would add does not hold or is not needed.
Mosquitto 2.0.11 stops honouring the Receive Maximum once acks flow (hence the cap above); shared subscriptions work
over 3.1.1 on Mosquitto and EMQX; the embedded broker speaks only 3.1.1. After a crash the broker redelivers every
message that was in flight (at most its ``max_inflight_messages``) in either version; the duplicates are harmless,
the store overwrites equal points. What 3.1.1 lacks is a session expiry: a consumer gone for good keeps its session
(and its share of the queue) until the broker's ``persistent_client_expiration``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

log = logging.getLogger(__name__)

Reply = tuple[str, bytes]
# [(topic, payload)] -> the reply (topic, payload) to each, or None
Handler = Callable[[list[tuple[str, bytes]]], Awaitable[list[Reply | None]]]
CLOSE_GRACE_S = 5.0
DISCONNECT_WAIT_S = 2.0
MISC_INTERVAL_S = 1.0  # keepalive pings and their timeout
READS_PER_WAKEUP = 64  # loop_read calls per readable event while they keep finding packets


@dataclass(frozen=True, slots=True)
class BrokerLogin:
    host: str
    port: int
    username: str = ""
    password: str = ""
    keepalive_s: int = 30


class PacketLog:
    """paho's logger. paho logs every packet at DEBUG through ``Logger.log``, half a microsecond per call even with
    DEBUG off (four calls a message); this drops them at once unless DEBUG was on when the client was made."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger, self._debug = logger, logger.isEnabledFor(logging.DEBUG)

    def log(self, level: int, msg: str, *args: object) -> None:
        if level > logging.DEBUG or self._debug:
            self._logger.log(level, msg, *args)


def make_client(login: BrokerLogin, client_id: str, **kwargs: Any) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311, **kwargs)
    if login.username:
        client.username_pw_set(login.username, login.password or None)
    client.reconnect_delay_set(1, 30)
    client.enable_logger(PacketLog(logging.getLogger("gateway.mqtt.paho")))  # type: ignore[arg-type]  # a duck
    client.suppress_exceptions = True  # a failing callback is logged; it must not break the network loop
    return client


class Consumer:
    def __init__(
        self,
        login: BrokerLogin,
        client_id: str,
        topic: str,
        handler: Handler,
        *,
        max_inflight: int,
        max_backoff_s: float,
    ) -> None:
        self.login = login
        self.topic = topic
        self._handler = handler
        self._max_inflight = max_inflight
        self._max_backoff_s = max_backoff_s
        # A session that outlives the connection: whatever was not acked is redelivered on reconnecting.
        self._client = client = make_client(login, client_id, manual_ack=True, clean_session=False)
        # Replies (QoS 1) go out at once: paho's default of 20 in flight queues them up far slower than messages
        # arrive (the work is only put off, and the queue grows), and any limit scans its in-flight table per PUBACK.
        client.max_inflight_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        self._batch: list[paho.MQTTMessage] = []  # read in this wake-up
        self._packets = 0  # packets read so far (messages and acks of replies)
        self._inflight = 0
        self._sock: Any = None
        self._reading = False
        self._up = False  # connected (CONNACK) since the last attempt began
        self._generation = 0  # changes with every connection: acks of an older one are never sent
        self._lost = asyncio.Event()
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self.last_error = "not connected yet"

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._runner = self._loop.create_task(self._run(), name="mqtt-consumer")

    async def check(self) -> None:
        if not self._client.is_connected():
            raise ConnectionError(f"MQTT broker {self.login.host}:{self.login.port}: {self.last_error}")

    async def close(self, grace_s: float = CLOSE_GRACE_S) -> None:
        """Finish what is in hand (or leave it unacked for redelivery), then leave; the session stays."""
        self._closing = True
        self._pause()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._client.is_connected():
            self._lost.clear()
            self._client.disconnect()  # sent by loop_write; the socket closes after it
            try:
                await asyncio.wait_for(self._lost.wait(), DISCONNECT_WAIT_S)
            except TimeoutError:
                pass
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        if self._sock is not None:
            self._on_socket_close(self._client, None, self._sock)

    # connection --------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        """Connect, keep the connection alive, and reconnect with backoff when it is lost."""
        delay = 0.5
        while not self._closing:
            self._lost.clear()
            self._up = False
            try:
                await asyncio.to_thread(self._client.connect, self.login.host, self.login.port, self.login.keepalive_s)
                while not self._lost.is_set():
                    try:
                        await asyncio.wait_for(self._lost.wait(), MISC_INTERVAL_S)
                    except TimeoutError:
                        self._client.loop_misc()
            except Exception as exc:  # whatever it was, the consumer must go on trying
                self.last_error = f"cannot connect: {exc}"
                log.warning("cannot reach MQTT broker %s:%d: %s", self.login.host, self.login.port, exc)
            delay = 1.0 if self._up else min(delay * 2, 30.0)  # after a working connection, start over
            await asyncio.sleep(delay)

    def _on_connect(self, client: paho.Client, _: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self.last_error = f"connection refused: {reason}"
            log.warning("MQTT broker %s:%d refused the connection: %s", self.login.host, self.login.port, reason)
            return
        self._generation += 1
        self._up = True
        self.last_error = ""
        log.info(
            "connected to MQTT broker %s:%d (session present: %s)",
            self.login.host,
            self.login.port,
            flags.session_present,
        )
        client.subscribe(self.topic, qos=1)

    def _on_disconnect(self, _: paho.Client, __: Any, ___: Any, reason: Any, ____: Any) -> None:
        self._generation += 1
        self._lost.set()
        # What is in hand can no longer be acked: the broker redelivers it on the next connection. Drop it rather
        # than hold it (a batch held for a full spool would otherwise stay beside its redelivered copy).
        if not self._closing:
            for task in self._tasks:
                task.cancel()
        if not self._closing:
            self.last_error = f"disconnected: {reason}"
            log.warning("lost the MQTT broker %s:%d (%s); reconnecting", self.login.host, self.login.port, reason)

    # paho's socket callbacks: called on the loop, except during connect (in its worker thread) -------------
    def _on_loop(self, callback: Callable[..., object], *args: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            callback(*args)
        else:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(callback, *args)

    def _on_socket_open(self, _: paho.Client, __: Any, sock: Any) -> None:
        self._on_loop(self._opened, sock)

    def _opened(self, sock: Any) -> None:
        self._sock, self._reading = sock, False
        self._resume()

    def _on_socket_close(self, _: paho.Client, __: Any, sock: Any) -> None:
        self._on_loop(self._closed, sock)

    def _closed(self, sock: Any) -> None:
        assert self._loop is not None
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)
        if sock is self._sock:
            self._sock, self._reading = None, False
        self._lost.set()

    def _on_register_write(self, client: paho.Client, _: Any, sock: Any) -> None:
        assert self._loop is not None
        self._on_loop(self._loop.add_writer, sock, client.loop_write)

    def _on_unregister_write(self, _: paho.Client, __: Any, sock: Any) -> None:
        assert self._loop is not None
        self._on_loop(self._loop.remove_writer, sock)

    def _pause(self) -> None:
        if self._reading and self._sock is not None:
            assert self._loop is not None
            self._loop.remove_reader(self._sock)
        self._reading = False

    def _resume(self) -> None:
        if not self._reading and self._sock is not None and not self._closing:
            assert self._loop is not None
            self._loop.add_reader(self._sock, self._readable)
            self._reading = True

    # the messages ------------------------------------------------------------------------------------------
    def _on_message(self, _: paho.Client, __: Any, message: paho.MQTTMessage) -> None:
        self._packets += 1
        self._batch.append(message)

    def _on_publish(self, *_: Any) -> None:
        self._packets += 1  # a reply's PUBACK

    def _readable(self) -> None:
        generation = self._generation  # taken before reading: a loss while reading makes this batch's acks stale
        for _ in range(READS_PER_WAKEUP):
            seen = self._packets
            if self._client.loop_read() != paho.MQTT_ERR_SUCCESS or self._packets == seen:
                break
            if self._inflight + len(self._batch) >= self._max_inflight:
                break
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        self._inflight += len(batch)
        if self._inflight >= self._max_inflight:
            self._pause()  # the broker keeps the rest until a batch is done
        assert self._loop is not None
        task = self._loop.create_task(self._process(batch, generation))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(self, batch: list[paho.MQTTMessage], generation: int) -> None:
        try:
            replies = await self._handle(batch)
            connected = generation == self._generation
            for message, reply in zip(batch, replies, strict=True):
                if reply is not None:
                    self._client.publish(*reply, qos=1)
                if connected:
                    self._client.ack(message.mid, message.qos)
        finally:
            self._inflight -= len(batch)
            if self._inflight < self._max_inflight:
                self._resume()

    async def _handle(self, batch: list[paho.MQTTMessage]) -> list[Reply | None]:
        messages = [(message.topic, bytes(message.payload)) for message in batch]
        delay = 0.05
        while True:
            try:
                return await self._handler(messages)
            except Exception as exc:
                if delay == 0.05:
                    log.warning("holding %d MQTT messages (not acked) and retrying: %r", len(batch), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff_s)
