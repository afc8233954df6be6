"""The SSE endpoints on a real server: delivery, tenant checks, heartbeats, Last-Event-ID resume, two replicas."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing

import httpx
import pytest

from gateway.config import Settings
from gateway.users.models import Role
from tests.dashboard.server import PASSWORD, serve
from tests.live.conftest import Gateway, start
from tests.live.sse import events, take
from tests.support.fleet import create_device, device_headers, login


async def post(client: httpx.AsyncClient, device: dict[str, str], **values: float) -> None:
    body = {"readings": [{"ts": time.time_ns() // 1_000_000, "values": values}]}
    reply = await client.post("/api/v1/readings", json=body, headers=device)
    assert reply.status_code == 202, reply.text


async def test_device_and_fleet_streams_deliver_posted_readings(gateway: Gateway) -> None:
    url = f"/api/v1/devices/{gateway.device_id}/stream"
    async with (
        gateway.client.stream("GET", url, headers=gateway.admin) as one,
        gateway.client.stream("GET", "/api/v1/stream", headers=gateway.admin) as fleet,
    ):
        assert one.status_code == fleet.status_code == 200
        assert one.headers["content-type"].startswith("text/event-stream")
        await asyncio.sleep(0.2)  # both subscribed
        await post(gateway.client, gateway.device, temperature=21.5)
        [event] = await take(events(one), 1)
        [same] = await take(events(fleet), 1)
    assert event.event == "reading" and event.id == same.id
    data = json.loads(event.data)
    assert data["device_id"] == gateway.device_id and data["values"] == {"temperature": 21.5}


async def test_a_streamed_reading_is_already_queryable(gateway: Gateway) -> None:
    """A page rendered after an event must show it: events follow the store (and the query cache), not the spool."""
    latest = f"/api/v1/devices/{gateway.device_id}/readings/latest"
    async with gateway.client.stream("GET", "/api/v1/stream", headers=gateway.admin) as fleet:
        stream = events(fleet)
        await asyncio.sleep(0.2)
        for value in (1.5, 2.5, 3.5, 4.5, 5.5):
            before = await gateway.client.get(latest, headers=gateway.admin)  # warms the query cache
            assert before.status_code == 200
            await post(gateway.client, gateway.device, temperature=value)
            [event] = await take(stream, 1)
            assert json.loads(event.data)["values"] == {"temperature": value}
            now = await gateway.client.get(latest, headers=gateway.admin)
            assert now.json()["values"]["temperature"]["value"] == value


async def test_another_tenants_device_is_404_and_its_readings_never_reach_us(gateway: Gateway) -> None:
    await gateway.server.add_user("eve", Role.admin, tenant="other")
    eve = await login(gateway.client, "eve", PASSWORD)
    reply = await gateway.client.get(f"/api/v1/devices/{gateway.device_id}/stream", headers=eve)
    assert reply.status_code == 404 and reply.headers["content-type"] == "application/problem+json"
    assert (await gateway.client.get("/api/v1/stream")).status_code == 401
    theirs, secret = await create_device(gateway.client, eve, name="theirs")
    async with gateway.client.stream("GET", "/api/v1/stream", headers=eve) as fleet:
        await asyncio.sleep(0.2)
        await post(gateway.client, gateway.device, temperature=1.0)
        await post(gateway.client, await device_headers(gateway.client, theirs, secret), temperature=2.0)
        [event] = await take(events(fleet), 1)
    assert json.loads(event.data)["device_id"] == theirs


async def test_resume_with_last_event_id_and_resync_when_too_old(gateway: Gateway) -> None:
    url = f"/api/v1/devices/{gateway.device_id}/stream"
    async with gateway.client.stream("GET", url, headers=gateway.admin) as live:
        await asyncio.sleep(0.2)
        for n in range(3):
            await post(gateway.client, gateway.device, n=n)
        first, *rest = await take(events(live), 3)
    headers = gateway.admin | {"Last-Event-ID": first.id or ""}
    async with gateway.client.stream("GET", url, headers=headers) as resumed:
        replayed = await take(events(resumed), 2)
    assert [e.id for e in replayed] == [e.id for e in rest]
    assert [json.loads(e.data)["values"]["n"] for e in replayed] == [1, 2]
    async with gateway.client.stream("GET", url, params={"since": "1-0"}, headers=gateway.admin) as stale:
        [resync] = await take(events(stale), 1)
    assert resync.event == "resync"


async def test_heartbeats_keep_an_idle_stream_open(settings_for: Callable[..., Settings]) -> None:
    with serve(settings_for(live_heartbeat_s=0.2)) as server:
        gateway = await start(server)
        async with (
            aclosing(gateway.client),
            gateway.client.stream("GET", "/api/v1/stream", headers=gateway.admin) as idle,
        ):
            lines = idle.aiter_lines()
            comments = [line async for line in _first(lines, 4) if line.startswith(":")]
    assert len(comments) >= 2  # the opening comment and at least one ping


async def _first(lines: AsyncIterator[str], count: int) -> AsyncIterator[str]:
    for _ in range(count):
        yield await asyncio.wait_for(anext(lines), 5)


async def test_a_reading_on_one_replica_reaches_a_browser_on_another(
    settings_for: Callable[..., Settings], redis_url: str
) -> None:
    with serve(settings_for(redis_url=redis_url)) as first:
        gateway = await start(first)
        with serve(settings_for(redis_url=redis_url)) as second:
            other = httpx.AsyncClient(base_url=second.url, timeout=10)
            url = f"/api/v1/devices/{gateway.device_id}/stream"
            async with aclosing(gateway.client), other, other.stream("GET", url, headers=gateway.admin) as stream:
                await asyncio.sleep(0.2)
                await post(gateway.client, gateway.device, temperature=30.0)  # arrives at the first replica
                await post(gateway.client, gateway.device, temperature=31.0)
                event, later = await take(events(stream), 2)
                assert json.loads(event.data)["values"] == {"temperature": 30.0}
                headers = gateway.admin | {"Last-Event-ID": event.id or ""}  # and resume works on either replica
                async with gateway.client.stream("GET", url, headers=headers) as resumed:
                    [again] = await take(events(resumed), 1)
    assert again.id == later.id and again.data == later.data


@pytest.mark.parametrize("hub", ["memory", "redis"])
async def test_a_request_bigger_than_buffer_and_queue_drops_the_fleet_stream_into_a_resync(
    settings_for: Callable[..., Settings], hub: str, request: pytest.FixtureRequest
) -> None:
    """40 readings at once: more than a client queue (30) or the buffer (5) holds. The fleet stream ends and its
    Last-Event-ID resyncs (never a silent gap); a device stream still gets exactly its device's readings."""
    redis_url = request.getfixturevalue("redis_url") if hub == "redis" else ""
    with serve(settings_for(live_buffer_size=5, live_client_queue=30, redis_url=redis_url)) as server:
        gateway = await start(server)
        owner = f"big-{hub}"  # a tenant of its own: its buffer's floor must not affect other tests
        await gateway.server.add_user(owner, Role.admin, tenant=f"{owner}-{time.time_ns()}")
        admin = await login(gateway.client, owner, PASSWORD)
        client = gateway.client
        first, other = [await create_device(client, admin, name=name) for name in ("first", "other")]
        first_device, other_device = [await device_headers(client, *device) for device in (first, other)]
        url = f"/api/v1/devices/{other[0]}/stream"
        async with (
            aclosing(client),
            client.stream("GET", "/api/v1/stream", headers=admin) as fleet,
            client.stream("GET", url, headers=admin) as device,
        ):
            await asyncio.sleep(0.2)
            fleet_events, device_events = events(fleet), events(device)
            await post(client, first_device, n=0)
            [seen] = await take(fleet_events, 1)
            now = time.time_ns() // 1_000_000
            body = {"readings": [{"ts": now + n, "values": {"n": n}} for n in range(1, 41)]}
            reply = await client.post("/api/v1/readings", json=body, headers=first_device)
            assert reply.status_code == 202, reply.text
            await post(client, other_device, n=41)
            [mine] = await take(device_events, 1)  # none of the 40 of the first device
            async with asyncio.timeout(10):
                assert [e async for e in fleet_events] == []  # dropped: the stream ends
            headers = admin | {"Last-Event-ID": seen.id or ""}
            async with client.stream("GET", "/api/v1/stream", headers=headers) as resumed:
                [resync] = await take(events(resumed), 1)
    assert json.loads(mine.data) == {"device_id": other[0], "ts": json.loads(mine.data)["ts"], "values": {"n": 41}}
    assert resync.event == "resync"
