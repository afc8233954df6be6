"""The hub across replicas: a short Redis Stream of batches per tenant for resume, one pub/sub channel for fan-out.

A publish is one Lua script call, so ids, buffer and fan-out stay in one order across replicas. It appends one
stream entry for the whole batch (``XADD *`` gives its first id; ``XSETID`` reserves the rest of the block, one
id per reading), holding only the readings the buffer keeps (the last ``buffer_size``); older batches are
deleted while the rest still hold ``buffer_size`` readings. Whatever is skipped or deleted raises the tenant's
floor, so a client that saw less resyncs instead of silently missing events. The script then publishes the batch
on ``live:batches``; every replica's listener hands it to its local clients, decoding the readings only when one
of them takes some. If the listener loses Redis it may have missed messages, so on reconnecting it drops its
clients, which resume from the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.live.hub import ZERO, Batch, Event, Hub, Key, id_key, is_gap, replay
from gateway.storage.base import Reading

log = logging.getLogger(__name__)
CHANNEL = "live:batches"
SUBSCRIBE_TIMEOUT_S = 10.0
RECONNECT_S = 1.0

# KEYS: the tenant's stream, its meta hash (held, floor, last). ARGV: buffer size, readings, kept readings,
# kept (JSON), channel, message header (JSON), skipped (JSON).
PUBLISH = """
local function plus(id, by)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return ms .. '-' .. string.format('%d', tonumber(seq) + by)
end
local limit, n, k = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local first = redis.call('XADD', KEYS[1], '*', 'n', n, 'k', k, 'r', ARGV[4])
local last = plus(first, n - 1)
if n > 1 then redis.call('XSETID', KEYS[1], last) end
local held = redis.call('HINCRBY', KEYS[2], 'held', k)
while held > limit do
  local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
  if oldest[1] == first then  -- a stream recreated under an old count: only this batch is held
    held = k
    redis.call('HSET', KEYS[2], 'held', k)
    break
  end
  local size = tonumber(oldest[2][4])
  if held - size < limit then break end
  redis.call('XDEL', KEYS[1], oldest[1])
  redis.call('HSET', KEYS[2], 'floor', plus(oldest[1], tonumber(oldest[2][2]) - 1))
  held = redis.call('HINCRBY', KEYS[2], 'held', -size)
end
if n > k then redis.call('HSET', KEYS[2], 'floor', plus(first, n - k - 1)) end
redis.call('HSET', KEYS[2], 'last', last)
redis.call('PUBLISH', ARGV[5], first .. ' ' .. ARGV[6] .. '\\n' .. ARGV[7] .. '\\n' .. ARGV[4])
return first
"""


def stream_key(tenant_id: str) -> str:
    return f"live:batches:{tenant_id}"


def meta_key(tenant_id: str) -> str:
    return f"live:meta:{tenant_id}"


def stored_key(event_id: str | None) -> Key:
    """An id kept in the meta hash (absent: nothing published yet)."""
    return id_key(event_id or ZERO) or (0, 0)


def dump(readings: Sequence[Reading]) -> bytes:
    """JSON ``[device_id, ts, values]`` rows: several times faster than orjson on the (slotted) dataclass."""
    return orjson.dumps([(r.device_id, r.ts_ms, r.values) for r in readings])


def decode(raw: str | bytes) -> list[Reading]:
    return [Reading(device_id, ts_ms, values) for device_id, ts_ms, values in orjson.loads(raw)]


class Rows(Sequence[Reading]):
    """The readings of a fan-out message, parsed on first use (a replica whose clients take none never parses
    them); a ``Reading`` is built only for a row that a client takes."""

    def __init__(self, count: int, *parts: str) -> None:
        self._count = count
        self._parts = parts
        self._rows: list[list[Any]] | None = None

    def rows(self) -> list[list[Any]]:
        if self._rows is None:
            self._rows = [row for part in self._parts for row in orjson.loads(part)]
        return self._rows

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: Any) -> Any:
        return Reading(*self.rows()[index])


class Received(Batch):
    """A batch from the fan-out channel: device clients filter on the rows' device ids, building no readings."""

    __slots__ = ("_received",)

    def __init__(self, first: Key, rows: Rows) -> None:
        super().__init__(first, rows)
        self._received = rows

    def device_ids(self) -> Iterable[str]:
        return (row[0] for row in self._received.rows())


class RedisHub(Hub):
    def __init__(self, url: str, buffer_size: int, queue_size: int) -> None:
        super().__init__(buffer_size, queue_size)
        # RESP2: redis-py's RESP3 pub/sub handler formats every message for a debug log, even when not logging
        self._redis: Redis = Redis.from_url(url, decode_responses=True, protocol=2)
        self._publish = self._redis.register_script(PUBLISH)
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
        """``<first id> ["tenant", n]`` then the skipped and the kept readings (JSON), one line each."""
        try:
            line, skipped, kept = raw.split("\n", 2)
            first, header = line.split(" ", 1)
            tenant_id, count = orjson.loads(header)
            key = id_key(first)
            if key is None:
                raise ValueError(first)
            self.deliver(tenant_id, Received(key, Rows(count, skipped, kept)))
        except (orjson.JSONDecodeError, ValueError, KeyError, TypeError):
            log.warning("live fan-out: ignoring a malformed message")

    async def publish(self, tenant_id: str, readings: Sequence[Reading]) -> None:
        if not readings:
            return
        skip = max(len(readings) - self.buffer_size, 0)
        header = orjson.dumps([tenant_id, len(readings)])
        kept, skipped = dump(readings[skip:]), dump(readings[:skip])
        keys = [stream_key(tenant_id), meta_key(tenant_id)]
        args: list[str | bytes | int] = [
            self.buffer_size,
            len(readings),
            len(readings) - skip,
            kept,
            CHANNEL,
            header,
            skipped,
        ]
        await self._publish(keys=keys, args=args)

    async def last_id(self, tenant_id: str) -> str:
        return str(await self._redis.hget(meta_key(tenant_id), "last") or ZERO)

    async def since(self, tenant_id: str, after: str) -> list[Event] | None:
        key = id_key(after)
        if key is None:
            return None
        async with self._redis.pipeline(transaction=True) as pipe:  # bounds and batches of the same moment
            pipe.hmget(meta_key(tenant_id), ["floor", "last"])
            pipe.xrange(stream_key(tenant_id), min=f"{key[0]}-0")  # a batch's ids share its first id's ms
            (floor, last), rows = await pipe.execute()
        if is_gap(after, stored_key(floor), stored_key(last)):
            return None
        batches = []
        for first, fields in rows or ():
            ms, seq = id_key(first) or (0, 0)
            batches.append(Batch((ms, seq + int(fields["n"]) - int(fields["k"])), decode(fields["r"])))
        return replay(batches, after)
