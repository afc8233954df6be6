"""Local fan-out of live events to SSE clients, and the in-process hub (one gateway replica).

Every event has an id ``<ms>-<seq>`` (the shape of a Redis stream id) that only grows, so a client that
reconnects with ``Last-Event-ID`` gets what it missed from a short per-tenant buffer. When the buffer no longer
holds everything after that id, the client is told to resync instead. Each client has a bounded queue: one that
falls behind is dropped (its stream ends) and resumes from the buffer when its browser reconnects.

Under ingestion load most published readings are never sent to anyone (no viewer, or more than the buffer and
the queues keep), so a publish is a ``Batch``: its readings under a block of consecutive ids, each encoded only
when a buffer replay or a client queue actually takes it.
"""

from __future__ import annotations

import asyncio
import re
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import orjson

from gateway.storage.base import Reading

_ID = re.compile(r"^(\d{1,20})-(\d{1,20})$")
ZERO = "0-0"
Key = tuple[int, int]  # an id as a comparable (ms, seq)


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    device_id: str
    data: str  # JSON: {"device_id", "ts", "values"}


def encode(reading: Reading) -> str:
    return orjson.dumps({"device_id": reading.device_id, "ts": reading.ts_ms, "values": reading.values}).decode()


def id_key(event_id: str) -> Key | None:
    """The id as a comparable pair; None when it is not an event id."""
    match = _ID.match(event_id)
    return (int(match[1]), int(match[2])) if match else None


def id_str(key: Key) -> str:
    return f"{key[0]}-{key[1]}"


def is_gap(after: str, floor: Key, last: Key) -> bool:
    """Whether a client that saw ``after`` may have missed events: ones after it were trimmed (it is below the
    buffer's floor), or it comes from a buffer that is gone (it is beyond the last id)."""
    key = id_key(after)
    return key is None or key < floor or key > last


class Batch:
    """The readings of one publish under the ids ``ms-seq`` .. ``ms-(seq+n-1)``: a block costs one clock read.

    Events are built (readings encoded) on first use and shared by every client and replay that takes them.
    """

    __slots__ = ("_by_device", "_events", "ms", "readings", "seq")

    def __init__(self, first: Key, readings: Sequence[Reading]) -> None:
        self.ms, self.seq = first
        self.readings = readings
        self._events: dict[int, Event] = {}
        self._by_device: dict[str, list[int]] | None = None

    def __len__(self) -> int:
        return len(self.readings)

    def key(self, index: int) -> Key:
        return self.ms, self.seq + index

    @property
    def last(self) -> Key:
        return self.key(len(self.readings) - 1)

    def event(self, index: int) -> Event:
        if (event := self._events.get(index)) is None:
            reading = self.readings[index]
            event = self._events[index] = Event(id_str(self.key(index)), reading.device_id, encode(reading))
        return event

    def device_ids(self) -> Iterable[str]:
        return (reading.device_id for reading in self.readings)

    def of_device(self, device_id: str) -> list[int]:
        """Indexes of one device's readings (grouped once per batch, for any number of device clients)."""
        if self._by_device is None:
            self._by_device = {}
            for index, device in enumerate(self.device_ids()):
                self._by_device.setdefault(device, []).append(index)
        return self._by_device.get(device_id, [])

    def after(self, key: Key) -> range:
        """Indexes of the readings whose id is greater than ``key``."""
        start = 0 if key[0] < self.ms else len(self) if key[0] > self.ms else key[1] - self.seq + 1
        return range(min(max(start, 0), len(self)), len(self))

    def tail(self, count: int) -> Batch:
        """The last ``count`` readings, under the same ids (what a buffer keeps of a publish)."""
        skip = len(self) - count
        kept = Batch(self.key(skip), self.readings[skip:])
        kept._events = {i - skip: e for i, e in self._events.items() if i >= skip}
        return kept


class Subscriber:
    """One SSE client's bounded queue; ``None`` in it means the client fell behind and was dropped."""

    def __init__(self, tenant_id: str, device_id: str | None, size: int) -> None:
        self.tenant_id = tenant_id
        self.device_id = device_id
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(size + 1)  # room for the drop mark
        self.dropped = False
        self._size = size

    def offer(self, batch: Batch) -> None:
        """Queue this client's events of ``batch``, or drop the client at once (without encoding any of them)
        when they do not all fit: it resumes, or resyncs, from the buffer when it reconnects."""
        if self.dropped:
            return
        indexes = range(len(batch)) if self.device_id is None else batch.of_device(self.device_id)
        if len(indexes) > self._size - self.queue.qsize():
            self.drop()
            return
        for index in indexes:
            self.queue.put_nowait(batch.event(index))

    def drop(self) -> None:
        self.dropped = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class Hub(ABC):
    """Local subscribers per tenant. Subclasses keep the buffer and carry events between replicas."""

    def __init__(self, buffer_size: int, queue_size: int) -> None:
        self.buffer_size = buffer_size
        self.queue_size = queue_size
        self._subscribers: dict[str, set[Subscriber]] = {}

    def subscribe(self, tenant_id: str, device_id: str | None = None) -> Subscriber:
        subscriber = Subscriber(tenant_id, device_id, self.queue_size)
        self._subscribers.setdefault(tenant_id, set()).add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subscribers = self._subscribers.get(subscriber.tenant_id, set())
        subscribers.discard(subscriber)
        if not subscribers:
            self._subscribers.pop(subscriber.tenant_id, None)

    def deliver(self, tenant_id: str, batch: Batch) -> None:
        for subscriber in list(self._subscribers.get(tenant_id, ())):
            subscriber.offer(batch)

    def drop_all(self) -> None:
        """Every client resumes from the buffer (after this replica may have missed events)."""
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber.drop()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    @abstractmethod
    async def publish(self, tenant_id: str, readings: Sequence[Reading]) -> None:
        """Buffer ``readings`` under new ids and deliver them to every replica's clients."""

    @abstractmethod
    async def last_id(self, tenant_id: str) -> str:
        """The id to resume from for a view rendered now (nothing after it has happened yet)."""

    @abstractmethod
    async def since(self, tenant_id: str, after: str) -> list[Event] | None:
        """The buffered events after ``after``; None when some of them are no longer buffered (resync)."""


def replay(batches: Sequence[Batch], after: str) -> list[Event]:
    key = id_key(after) or (0, 0)
    return [batch.event(i) for batch in batches for i in batch.after(key)]


@dataclass
class _Ring:
    """The last ``buffer_size`` readings of a tenant, as the batches (or the tail of one) they came in."""

    last: Key
    floor: Key  # the newest id evicted (or this process's start): clients that saw less missed some
    batches: deque[Batch] = field(default_factory=deque)
    held: int = 0

    def add(self, batch: Batch, limit: int) -> None:
        self.batches.append(batch)
        self.held += len(batch)
        self.last = batch.last
        while self.held > limit:
            oldest, excess = self.batches[0], self.held - limit
            if excess >= len(oldest):
                self.batches.popleft()
                self.floor, self.held = oldest.last, self.held - len(oldest)
            else:
                self.batches[0] = oldest.tail(len(oldest) - excess)
                self.floor, self.held = oldest.key(excess - 1), limit


class MemoryHub(Hub):
    """One process: a ring buffer per tenant. Ids start at this process's start, so older ones resync."""

    def __init__(self, buffer_size: int, queue_size: int) -> None:
        super().__init__(buffer_size, queue_size)
        self._rings: dict[str, _Ring] = {}
        self._born: Key = (time.time_ns() // 1_000_000, 0)
        self._clock = self._born  # the last id issued

    def _ring(self, tenant_id: str) -> _Ring:
        if tenant_id not in self._rings:
            self._rings[tenant_id] = _Ring(self._born, self._born)
        return self._rings[tenant_id]

    def _block(self, count: int) -> Key:
        """The first of ``count`` new consecutive ids."""
        now = time.time_ns() // 1_000_000
        ms, seq = self._clock
        first = (now, 0) if now > ms else (ms, seq + 1)
        self._clock = (first[0], first[1] + count - 1)
        return first

    async def publish(self, tenant_id: str, readings: Sequence[Reading]) -> None:
        if not readings:
            return
        batch = Batch(self._block(len(readings)), readings)
        self._ring(tenant_id).add(batch, self.buffer_size)
        self.deliver(tenant_id, batch)

    async def last_id(self, tenant_id: str) -> str:
        return id_str(self._ring(tenant_id).last)

    async def since(self, tenant_id: str, after: str) -> list[Event] | None:
        ring = self._ring(tenant_id)
        return None if is_gap(after, ring.floor, ring.last) else replay(ring.batches, after)
