"""The hub across replicas: a short Redis Stream per tenant for resume, one pub/sub channel for fan-out.

Publishing appends to ``live:{tenant}`` (XADD, approximate MAXLEN), so the event id is the stream id and any
replica can replay after a ``Last-Event-ID``; then one message on ``live:fanout`` tells every replica's listener
to deliver the new events to its local clients. If the listener loses Redis it may have missed messages, so on
reconnecting it drops its clients, which resume from the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from gateway.live.hub import ZERO, Event, Hub, id_key, is_gap

log = logging.getLogger(__name__)
CHANNEL = "live:fanout"
SUBSCRIBE_TIMEOUT_S = 10.0
RECONNECT_S = 1.0


def stream_key(tenant_id: str) -> str:
    return f"live:{tenant_id}"


class RedisHub(Hub):
    def __init__(self, url: str, buffer_size: int, queue_size: int) -> None:
        super().__init__(buffer_size, queue_size)
        self._redis: Redis = Redis.from_url(url, decode_responses=True)
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        """Listen on the channel; return once subscribed, so nothing published after start is missed."""
        self._listener = asyncio.create_task(self._listen(), name="live-fanout")
        try:
            await asyncio.wait_for(self._subscribed.wait(), SUBSCRIBE_TIMEOUT_S)
        except TimeoutError:
            log.warning("live fan-out: not subscribed to Redis yet; retrying in the background")

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._redis.aclose()

    async def _listen(self) -> None:
        connected_before = False
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    async for message in pubsub.listen():
                        if message["type"] == "subscribe":
                            if connected_before:
                                self.drop_all()
                            connected_before = True
                            self._subscribed.set()
                        elif message["type"] == "message":
                            self._on_message(message["data"])
            except (RedisError, OSError) as exc:
                log.warning("live fan-out lost Redis (%s); reconnecting", exc)
                await asyncio.sleep(RECONNECT_S)

    def _on_message(self, raw: str) -> None:
        try:
            doc: dict[str, Any] = orjson.loads(raw)
            self.deliver(doc["t"], [Event(*e) for e in doc["e"]])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("live fan-out: ignoring a malformed message")

    async def publish(self, tenant_id: str, items: list[tuple[str, str]]) -> None:
        if not items:
            return
        key = stream_key(tenant_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            for device_id, data in items:
                pipe.xadd(key, {"d": device_id, "j": data}, maxlen=self.buffer_size, approximate=True)
            ids: list[str] = await pipe.execute()
        events = [[event_id, device_id, data] for event_id, (device_id, data) in zip(ids, items, strict=True)]
        await self._redis.publish(CHANNEL, orjson.dumps({"t": tenant_id, "e": events}))

    async def _bounds(self, tenant_id: str) -> tuple[str, str]:
        """(floor, last id) of the tenant's stream: a client that saw less than the floor missed trimmed events."""
        try:
            info: dict[str, Any] = await self._redis.xinfo_stream(stream_key(tenant_id))
        except ResponseError:  # no such key
            return ZERO, ZERO
        trimmed = int(info.get("entries-added", 0)) > int(info["length"])
        first = info.get("first-entry")
        floor = first[0] if trimmed and first else ZERO
        return floor, str(info["last-generated-id"])

    async def last_id(self, tenant_id: str) -> str:
        return (await self._bounds(tenant_id))[1]

    async def since(self, tenant_id: str, after: str) -> list[Event] | None:
        floor, last = await self._bounds(tenant_id)
        if is_gap(after, floor, last):
            return None
        if id_key(after) == id_key(last):
            return []
        rows = await self._redis.xrange(stream_key(tenant_id), min=f"({after}", count=self.buffer_size * 2)
        return [Event(str(event_id), str(fields["d"]), str(fields["j"])) for event_id, fields in rows or () if fields]
