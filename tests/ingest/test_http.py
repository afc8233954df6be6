"""POST /api/v1/readings and the query API, against the embedded store and a real InfluxDB."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from gateway.users import service as users
from gateway.users.models import Role
from tests.ingest.conftest import Gateway
from tests.support.fleet import create_device, device_headers, login

NOW = lambda: time.time_ns() // 1_000_000  # noqa: E731


async def post(
    gw: Gateway, body: Any, *, headers: dict[str, str] | None = None, content_type: str = "application/json"
) -> Any:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return await gw.client.post(
        "/api/v1/readings",
        content=raw,
        headers={**(gw.device if headers is None else headers), "Content-Type": content_type},
    )


async def series(gw: Gateway, metric: str, **params: Any) -> dict[str, Any]:
    reply = await gw.client.get(
        f"/api/v1/devices/{gw.device_id}/readings", params={"metric": metric, **params}, headers=gw.admin
    )
    assert reply.status_code == 200, reply.text
    return reply.json()  # type: ignore[no-any-return]


async def eventually_points(gw: Gateway, metric: str, count: int, **params: Any) -> list[dict[str, Any]]:
    """Poll until the store holds ``count`` points (the batcher writes within its interval)."""
    async with asyncio.timeout(10):
        while True:
            points = (await series(gw, metric, **params))["points"]
            if len(points) >= count:
                return points  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)


async def test_single_reading_is_accepted_and_queryable(gateway: Gateway) -> None:
    ts = NOW() - 1000
    reply = await post(gateway, {"ts": ts, "values": {"temperature": 21.5, "door": True, "state": "ok"}})
    assert reply.status_code == 202
    assert reply.json() == {"accepted": 1, "rejected": []}
    assert await eventually_points(gateway, "temperature", 1) == [{"ts": ts, "value": 21.5}]
    latest = await gateway.client.get(f"/api/v1/devices/{gateway.device_id}/readings/latest", headers=gateway.admin)
    assert latest.json() == {
        "device_id": gateway.device_id,
        "values": {
            "door": {"ts": ts, "value": True},
            "state": {"ts": ts, "value": "ok"},
            "temperature": {"ts": ts, "value": 21.5},
        },
    }


async def test_aggregations_over_windows(gateway: Gateway) -> None:
    base = (NOW() // 60_000 - 30) * 60_000  # a minute boundary half an hour ago
    readings = [{"ts": base + i * 10_000, "values": {"t": float(i)}} for i in range(12)]  # two minutes
    assert (await post(gateway, {"readings": readings})).json()["accepted"] == 12
    await eventually_points(gateway, "t", 12, start=base, end=base + 120_000)
    expected = {"mean": [2.5, 8.5], "min": [0.0, 6.0], "max": [5.0, 11.0], "count": [6, 6], "last": [5.0, 11.0]}
    for agg, values in expected.items():
        got = await series(gateway, "t", start=base, end=base + 120_000, every="1m", agg=agg)
        assert [p["ts"] for p in got["points"]] == [base, base + 60_000], agg
        assert [p["value"] for p in got["points"]] == values, agg
        assert got["every_ms"] == 60_000 and got["agg"] == agg


async def test_too_fine_window_is_coarsened(gateway: Gateway) -> None:
    got = await series(gateway, "t", start=0, end=86_400_000 * 30, every="1s", agg="mean")
    assert got["coarsened"] is True and got["every_ms"] >= 86_400_000 * 30 // 2000


async def test_mixed_batch_stores_exactly_the_valid_part(gateway: Gateway) -> None:
    now = NOW()
    batch = {
        "readings": [
            {"ts": now - 3000, "values": {"t": 1.0}},
            {"ts": now - 2000, "values": {"t": "NaN-ish", "bad name!": 3}},
            {"ts": now + 3_600_000, "values": {"t": 2.0}},  # an hour in the future
            {"ts": now - 1000, "values": {"t": 3.0}},
            {"ts": now - 1000, "values": {"t": 4.0}},  # duplicate timestamp
        ]
    }
    reply = await post(gateway, batch)
    assert reply.status_code == 202
    body = reply.json()
    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 2, 4]
    assert all(r["errors"] for r in body["rejected"])
    points = await eventually_points(gateway, "t", 2, start=now - 10_000)
    await asyncio.sleep(0.2)
    assert [p["value"] for p in (await series(gateway, "t", start=now - 10_000))["points"]] == [1.0, 3.0]
    assert points[0]["ts"] == now - 3000


async def test_bad_input_is_refused_and_stores_nothing(gateway: Gateway) -> None:
    malformed = await post(gateway, b'{"values": {"t": 1.0}')
    assert malformed.status_code == 400
    assert malformed.headers["content-type"] == "application/problem+json"
    wrong_type = await post(gateway, b"t=1", content_type="text/plain")
    assert wrong_type.status_code == 415
    too_big = await post(gateway, {"readings": [{"values": {"t": 1.0}, "ts": NOW()}] * 40_000})
    assert too_big.status_code == 413
    none_valid = await post(gateway, {"readings": [{"values": {"t": float("inf")}}, {"values": {}}]})
    assert none_valid.status_code == 422
    problem = none_valid.json()
    assert problem["status"] == 422 and [e["index"] for e in problem["errors"]] == [0, 1]
    too_many = await post(gateway, {"readings": [{"values": {"t": 1.0}, "ts": NOW() - i} for i in range(1001)]})
    assert too_many.status_code == 422 and "1000" in too_many.json()["detail"]
    await asyncio.sleep(0.3)
    assert (await series(gateway, "t", start=NOW() - 8 * 86_400_000))["points"] == []
    latest = await gateway.client.get(f"/api/v1/devices/{gateway.device_id}/readings/latest", headers=gateway.admin)
    assert latest.json()["values"] == {}


async def test_awkward_strings_round_trip_and_never_add_points(gateway: Gateway) -> None:
    awkward = ['a,b c=d "q" \\ slash', "ünïcödé ✓ 温度", "tab-free but 'quoted'", "x" * 256]
    now = NOW()
    readings = [{"ts": now - 1000 * (i + 1), "values": {"label": s}} for i, s in enumerate(awkward)]
    readings.append({"ts": now - 9000, "values": {"label": "line\nbreak"}})  # control characters are refused
    reply = (await post(gateway, {"readings": readings})).json()
    assert reply["accepted"] == 4 and [r["index"] for r in reply["rejected"]] == [4]
    points = await eventually_points(gateway, "label", 4, start=now - 60_000)
    await asyncio.sleep(0.2)
    points = (await series(gateway, "label", start=now - 60_000))["points"]
    assert sorted(p["value"] for p in points) == sorted(awkward)
    # The device's tag value has a comma, a space, quotes and an equals sign: no extra series or point.
    latest = (
        await gateway.client.get(f"/api/v1/devices/{gateway.device_id}/readings/latest", headers=gateway.admin)
    ).json()
    assert set(latest["values"]) == {"label"}


async def test_senml_is_accepted(gateway: Gateway) -> None:
    now_s = NOW() / 1000
    pack = [
        {"bn": f"{gateway.device_id}:", "bt": now_s - 5, "n": "temp", "u": "Cel", "v": 22.5},
        {"n": "temp", "t": 1, "v": 23.0},
    ]
    reply = await post(gateway, pack, content_type="application/senml+json")
    assert reply.status_code == 202 and reply.json()["accepted"] == 2
    points = await eventually_points(gateway, "temp", 2, start=int(now_s * 1000) - 60_000)
    assert [p["value"] for p in points] == [22.5, 23.0]


async def test_tokens_and_tenants_are_checked(gateway: Gateway) -> None:
    gw = gateway
    assert (await post(gw, {"values": {"t": 1.0}}, headers={})).status_code == 401
    assert (await post(gw, {"values": {"t": 1.0}}, headers=gw.admin)).status_code == 401  # a user token
    as_device = await gw.client.get(f"/api/v1/devices/{gw.device_id}/readings/latest", headers=gw.device)
    assert as_device.status_code == 401
    assert (await gw.client.get(f"/api/v1/devices/{gw.device_id}/readings/latest")).status_code == 401
    # A user of another tenant cannot tell the device exists.
    app = gw.client.app  # type: ignore[attr-defined]
    async with app.state.sessionmaker() as session:
        await users.create(
            session, app.state.hasher, username="other", password="other-password-1", role=Role.admin, tenant_id="other"
        )
        await session.commit()
    other = await login(gw.client, "other", "other-password-1")
    for path in (
        f"/api/v1/devices/{gw.device_id}/readings/latest",
        f"/api/v1/devices/{gw.device_id}/readings?metric=t",
    ):
        assert (await gw.client.get(path, headers=other)).status_code == 404
    fleet = (await gw.client.get("/api/v1/readings/latest", headers=other)).json()
    assert fleet["devices"] == []


async def test_fleet_overview_is_paginated(gateway: Gateway) -> None:
    gw = gateway
    ids = [gw.device_id]
    now = NOW()
    for i in range(4):
        device_id, secret = await create_device(gw.client, gw.admin, name=f"d{i}")
        ids.append(device_id)
        headers = await device_headers(gw.client, device_id, secret)
        assert (await post(gw, {"ts": now - 100, "values": {"n": float(i)}}, headers=headers)).status_code == 202
    await asyncio.sleep(0.3)
    seen: dict[str, Any] = {}
    offset: int | None = 0
    while offset is not None:
        page = (
            await gw.client.get("/api/v1/readings/latest", params={"limit": 2, "offset": offset}, headers=gw.admin)
        ).json()
        assert len(page["devices"]) <= 2
        seen.update({d["device_id"]: d["values"] for d in page["devices"]})
        offset = page["next_offset"]
    assert set(seen) == set(ids)
    assert sorted(v["n"]["value"] for v in seen.values() if v) == [0.0, 1.0, 2.0, 3.0]
