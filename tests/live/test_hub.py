"""The hubs on their own: ids, resume and its gaps, bounded client queues; the Redis hub on a real Redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from itertools import pairwise
from typing import Any

import pytest

from gateway.live.endpoints import stream
from gateway.live.hub import Hub, MemoryHub, Subscriber, id_key
from gateway.live.redis_hub import RedisHub
from gateway.storage.base import Reading


def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def readings(count: int, start: int = 0, devices: int = 1) -> list[Reading]:
    """Readings ``n`` = start.. of devices ``d0``.. in turn (value ``n``, timestamp ``n``)."""
    return [Reading(f"d{n % devices}", n, {"n": n}, {"site": "x"}) for n in range(start, start + count)]


def ns(events: list[Any] | None) -> list[int]:
    """The ``n`` of each event (hub events or SSE events)."""
    return [json.loads(e.data)["values"]["n"] for e in events or ()]


@pytest.fixture(params=["memory", "redis"])
async def make_hub(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Hub]]:
    hubs: list[Hub] = []
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""

    def make(buffer_size: int = 100, queue_size: int = 10) -> Hub:
        hub: Hub = RedisHub(url, buffer_size, queue_size) if url else MemoryHub(buffer_size, queue_size)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        await hub.close()


async def next_event(subscriber: Subscriber) -> object:
    return await asyncio.wait_for(subscriber.queue.get(), 5)


async def test_published_events_reach_subscribers_of_their_tenant_only(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub()
    await hub.start()
    mine, other = tenant(), tenant()
    fleet, device, stranger = hub.subscribe(mine), hub.subscribe(mine, "d0"), hub.subscribe(other)
    await hub.publish(mine, readings(2, start=1, devices=2))
    first, second = await next_event(fleet), await next_event(fleet)
    assert [first.device_id, second.device_id] == ["d1", "d0"]  # type: ignore[attr-defined]
    assert (await next_event(device)).data == '{"device_id":"d0","ts":2,"values":{"n":2}}'  # type: ignore[attr-defined]
    assert id_key(first.id) < id_key(second.id)  # type: ignore[attr-defined,operator]
    await asyncio.sleep(0.05)
    assert stranger.queue.empty() and device.queue.empty()


async def test_resume_after_an_id_and_resync_when_the_buffer_lost_some(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(buffer_size=5)
    await hub.start()
    t = tenant()
    start = await hub.last_id(t)
    assert await hub.since(t, start) == []
    await hub.publish(t, readings(3))
    everything = await hub.since(t, start)
    assert everything is not None and ns(everything) == [0, 1, 2]
    assert ns(await hub.since(t, everything[0].id)) == [1, 2]
    assert await hub.since(t, await hub.last_id(t)) == []
    for n in range(3, 400, 7):
        await hub.publish(t, readings(7, start=n))  # far beyond the buffer
    assert await hub.since(t, everything[0].id) is None  # what came after it is gone: resync
    assert await hub.since(t, "99999999999999-0") is None  # an id this buffer never issued
    assert await hub.since(t, "not-an-id") is None


def test_a_slow_subscriber_is_dropped_not_buffered_without_bound() -> None:
    hub = MemoryHub(buffer_size=100, queue_size=3)
    subscriber = hub.subscribe("t")
    asyncio.run(hub.publish("t", readings(10)))
    asyncio.run(hub.publish("t", readings(1, start=10)))
    assert subscriber.queue.qsize() == 1 and subscriber.queue.get_nowait() is None


async def test_redis_hubs_fan_out_across_replicas(redis_url: str) -> None:
    one, two = RedisHub(redis_url, 100, 10), RedisHub(redis_url, 100, 10)
    await one.start()
    await two.start()
    try:
        t = tenant()
        listener = two.subscribe(t)
        await one.publish(t, readings(1))
        event = await next_event(listener)
        assert event.data == '{"device_id":"d0","ts":0,"values":{"n":0}}'  # type: ignore[attr-defined]
        assert [e.id for e in await two.since(t, "0-0") or []] == [event.id]  # type: ignore[attr-defined]
    finally:
        await one.close()
        await two.close()


async def test_a_stream_that_falls_behind_ends_and_resumes_from_the_buffer() -> None:
    hub = MemoryHub(buffer_size=100, queue_size=3)
    start = await hub.last_id("t")
    live = stream(hub, "t", None, None)
    assert (await anext(live)).comment == "live"  # subscribed
    await hub.publish("t", readings(10))  # more than its queue holds, unread
    with pytest.raises(StopAsyncIteration):
        await anext(live)  # dropped: the browser reconnects with its Last-Event-ID
    first = (await hub.since("t", start) or [])[0]
    resumed = stream(hub, "t", None, first.id)
    await anext(resumed)
    assert ns([await anext(resumed) for _ in range(9)]) == list(range(1, 10))
    await resumed.aclose()


async def drain(subscriber: Subscriber, count: int) -> list[Any]:
    return [await next_event(subscriber) for _ in range(count)]


async def test_a_publish_bigger_than_the_buffer_makes_older_ids_resync(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(buffer_size=5, queue_size=20)
    await hub.start()
    t = tenant()
    fleet = hub.subscribe(t)
    await hub.publish(t, readings(3))
    await hub.publish(t, readings(12, start=3))  # the buffer keeps 10..14 only
    seen = await drain(fleet, 15)
    assert ns(seen) == list(range(15))  # a client that keeps up gets every one, in order
    keys = [id_key(e.id) for e in seen]
    assert keys == sorted(keys) and len(set(keys)) == 15 and await hub.last_id(t) == seen[-1].id
    assert await hub.since(t, seen[2].id) is None  # 3..9 were never buffered: resync, not a silent gap
    assert await hub.since(t, seen[8].id) is None  # 9 was skipped too
    assert ns(await hub.since(t, seen[9].id)) == [10, 11, 12, 13, 14]
    assert ns(await hub.since(t, seen[12].id)) == [13, 14]


async def test_a_fleet_client_that_cannot_take_a_big_publish_is_dropped_and_resyncs(
    make_hub: Callable[..., Hub],
) -> None:
    hub = make_hub(buffer_size=20, queue_size=10)
    await hub.start()
    t = tenant()
    live = stream(hub, t, None, None)
    assert (await anext(live)).comment == "live"  # subscribed
    await hub.publish(t, readings(2))
    first, second = await anext(live), await anext(live)
    await hub.publish(t, readings(15, start=2))  # more than its queue takes: dropped, nothing queued
    await hub.publish(t, readings(1, start=17))
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(live), 5)
    resumed = stream(hub, t, None, second.id)  # the buffer still holds 2..17: replayed
    await anext(resumed)
    assert ns([await anext(resumed) for _ in range(16)]) == list(range(2, 18))
    await resumed.aclose()
    await hub.publish(t, readings(30, start=18))  # beyond the buffer as well
    resynced = stream(hub, t, None, first.id)
    await anext(resynced)
    assert (await anext(resynced)).event == "resync"
    await resynced.aclose()


async def test_a_device_client_gets_exactly_its_readings_of_a_big_mixed_publish(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(buffer_size=5, queue_size=10)
    await hub.start()
    t = tenant()
    device, fleet = hub.subscribe(t, "d7"), hub.subscribe(t)
    await hub.publish(t, readings(400, devices=40))
    mine = await drain(device, 10)
    assert ns(mine) == list(range(7, 400, 40))
    assert [e.data for e in mine[:1]] == ['{"device_id":"d7","ts":7,"values":{"n":7}}']
    keys = [id_key(e.id) or (0, 0) for e in mine]
    assert all(b == (a[0], a[1] + 40) for a, b in pairwise(keys))  # their ids in the whole block's
    assert await next_event(fleet) is None  # 400 do not fit its queue
    await hub.publish(t, readings(1, start=407, devices=40))
    assert ns([await next_event(device)]) == [407]


async def test_redis_replicas_drop_and_filter_a_big_publish_like_one_process(redis_url: str) -> None:
    one, two = RedisHub(redis_url, 5, 10), RedisHub(redis_url, 5, 10)
    await one.start()
    await two.start()
    try:
        t = tenant()
        fleet, device = two.subscribe(t), two.subscribe(t, "d3")
        await one.publish(t, readings(2, devices=20))
        before = await drain(fleet, 2)
        await one.publish(t, readings(100, start=2, devices=20))
        assert ns(await drain(device, 5)) == list(range(3, 102, 20))
        assert await next_event(fleet) is None and fleet.queue.empty()
        assert await two.since(t, before[1].id) is None
        tail = await two.since(t, await one.last_id(t))
        assert tail == [] and await two.last_id(t) == await one.last_id(t)
    finally:
        await one.close()
        await two.close()
