"""The hubs on their own: ids, resume and its gaps, bounded client queues; the Redis hub on a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from gateway.live.endpoints import stream
from gateway.live.hub import Hub, MemoryHub, Subscriber, id_key
from gateway.live.redis_hub import RedisHub


def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


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
    fleet, device, stranger = hub.subscribe(mine), hub.subscribe(mine, "d2"), hub.subscribe(other)
    await hub.publish(mine, [("d1", '{"n":1}'), ("d2", '{"n":2}')])
    first, second = await next_event(fleet), await next_event(fleet)
    assert [first.device_id, second.device_id] == ["d1", "d2"]  # type: ignore[attr-defined]
    assert (await next_event(device)).data == '{"n":2}'  # type: ignore[attr-defined]
    assert id_key(first.id) < id_key(second.id)  # type: ignore[attr-defined,operator]
    await asyncio.sleep(0.05)
    assert stranger.queue.empty() and device.queue.empty()


async def test_resume_after_an_id_and_resync_when_the_buffer_lost_some(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(buffer_size=5)
    await hub.start()
    t = tenant()
    start = await hub.last_id(t)
    assert await hub.since(t, start) == []
    await hub.publish(t, [("d", f'{{"n":{n}}}') for n in range(3)])
    everything = await hub.since(t, start)
    assert everything is not None and [e.data for e in everything] == ['{"n":0}', '{"n":1}', '{"n":2}']
    assert [e.data for e in await hub.since(t, everything[0].id) or []] == ['{"n":1}', '{"n":2}']
    assert await hub.since(t, await hub.last_id(t)) == []
    await hub.publish(t, [("d", f'{{"n":{n}}}') for n in range(3, 400)])  # far beyond the buffer
    assert await hub.since(t, everything[0].id) is None  # what came after it is gone: resync
    assert await hub.since(t, "99999999999999-0") is None  # an id this buffer never issued
    assert await hub.since(t, "not-an-id") is None


def test_a_slow_subscriber_is_dropped_not_buffered_without_bound() -> None:
    hub = MemoryHub(buffer_size=100, queue_size=3)
    subscriber = hub.subscribe("t")
    asyncio.run(hub.publish("t", [("d", str(n)) for n in range(10)]))
    assert subscriber.queue.qsize() == 1 and subscriber.queue.get_nowait() is None


async def test_redis_hubs_fan_out_across_replicas(redis_url: str) -> None:
    one, two = RedisHub(redis_url, 100, 10), RedisHub(redis_url, 100, 10)
    await one.start()
    await two.start()
    try:
        t = tenant()
        listener = two.subscribe(t)
        await one.publish(t, [("d", '{"x":1}')])
        event = await next_event(listener)
        assert event.data == '{"x":1}'  # type: ignore[attr-defined]
        assert [e.id for e in await two.since(t, "0-0") or []] == [event.id]  # type: ignore[attr-defined]
    finally:
        await one.close()
        await two.close()


async def test_a_stream_that_falls_behind_ends_and_resumes_from_the_buffer() -> None:
    hub = MemoryHub(buffer_size=100, queue_size=3)
    start = await hub.last_id("t")
    live = stream(hub, "t", None, None)
    assert (await anext(live)).comment == "live"  # subscribed
    await hub.publish("t", [("d", str(n)) for n in range(10)])  # more than its queue holds, unread
    with pytest.raises(StopAsyncIteration):
        await anext(live)  # dropped: the browser reconnects with its Last-Event-ID
    first = (await hub.since("t", start) or [])[0]
    resumed = stream(hub, "t", None, first.id)
    await anext(resumed)
    assert [(await anext(resumed)).data for _ in range(9)] == [str(n) for n in range(1, 10)]
    await resumed.aclose()
