"""Local fan-out of live events to SSE clients, and the in-process hub (one gateway replica).

Every event has an id ``<ms>-<seq>`` (the shape of a Redis stream id) that only grows, so a client that
reconnects with ``Last-Event-ID`` gets what it missed from a short per-tenant buffer. When the buffer no longer
holds everything after that id, the client is told to resync instead. Each client has a bounded queue: one that
falls behind is dropped (its stream ends) and resumes from the buffer when its browser reconnects.
"""

from __future__ import annotations

import asyncio
import re
import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field

_ID = re.compile(r"^(\d{1,20})-(\d{1,20})$")
ZERO = "0-0"


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    device_id: str
    data: str  # JSON: {"device_id", "ts", "values"}


def id_key(event_id: str) -> tuple[int, int] | None:
    """The id as a comparable pair; None when it is not an event id."""
    match = _ID.match(event_id)
    return (int(match[1]), int(match[2])) if match else None


def is_gap(after: str, floor: str, last: str) -> bool:
    """Whether a client that saw ``after`` may have missed events: ones after it were trimmed (it is below the
    buffer's floor), or it comes from a buffer that is gone (it is beyond the last id)."""
    key = id_key(after)
    return key is None or key < (id_key(floor) or (0, 0)) or key > (id_key(last) or (0, 0))


class Subscriber:
    """One SSE client's bounded queue; ``None`` in it means the client fell behind and was dropped."""

    def __init__(self, tenant_id: str, device_id: str | None, size: int) -> None:
        self.tenant_id = tenant_id
        self.device_id = device_id
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(size + 1)  # room for the drop mark
        self._size = size

    def offer(self, events: list[Event]) -> None:
        for event in events:
            if self.device_id is not None and event.device_id != self.device_id:
                continue
            if self.queue.qsize() >= self._size:
                self.drop()
                return
            self.queue.put_nowait(event)

    def drop(self) -> None:
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

    def deliver(self, tenant_id: str, events: list[Event]) -> None:
        for subscriber in list(self._subscribers.get(tenant_id, ())):
            subscriber.offer(events)

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
    async def publish(self, tenant_id: str, items: list[tuple[str, str]]) -> None:
        """Buffer ``(device_id, data)`` items under new ids and deliver them to every replica's clients."""

    @abstractmethod
    async def last_id(self, tenant_id: str) -> str:
        """The id to resume from for a view rendered now (nothing after it has happened yet)."""

    @abstractmethod
    async def since(self, tenant_id: str, after: str) -> list[Event] | None:
        """The buffered events after ``after``; None when some of them are no longer buffered (resync)."""


@dataclass
class _Ring:
    last: str
    floor: str  # the newest id evicted (or this process's start): clients that saw less missed some
    events: deque[Event] = field(default_factory=deque)


class MemoryHub(Hub):
    """One process: a ring buffer per tenant. Ids start at this process's start, so older ones resync."""

    def __init__(self, buffer_size: int, queue_size: int) -> None:
        super().__init__(buffer_size, queue_size)
        self._rings: dict[str, _Ring] = {}
        self._born = f"{time.time_ns() // 1_000_000}-0"
        self._clock = id_key(self._born) or (0, 0)

    def _ring(self, tenant_id: str) -> _Ring:
        if tenant_id not in self._rings:
            self._rings[tenant_id] = _Ring(self._born, self._born, deque(maxlen=self.buffer_size))
        return self._rings[tenant_id]

    def _next_id(self) -> str:
        now = time.time_ns() // 1_000_000
        ms, seq = self._clock
        self._clock = (now, 0) if now > ms else (ms, seq + 1)
        return f"{self._clock[0]}-{self._clock[1]}"

    async def publish(self, tenant_id: str, items: list[tuple[str, str]]) -> None:
        ring = self._ring(tenant_id)
        events = [Event(self._next_id(), device_id, data) for device_id, data in items]
        for event in events:
            if len(ring.events) == ring.events.maxlen:
                ring.floor = ring.events[0].id
            ring.events.append(event)
        if events:
            ring.last = events[-1].id
        self.deliver(tenant_id, events)

    async def last_id(self, tenant_id: str) -> str:
        return self._ring(tenant_id).last

    async def since(self, tenant_id: str, after: str) -> list[Event] | None:
        ring = self._ring(tenant_id)
        if is_gap(after, ring.floor, ring.last):
            return None
        key = id_key(after)
        return [e for e in ring.events if (id_key(e.id) or (0, 0)) > (key or (0, 0))]
