"""The HTTP hooks EMQX and mosquitto-go-auth call: who may connect, and which topics each login may use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ingest.conftest import ADMIN, app_settings
from tests.support.app import running_app
from tests.support.fleet import create_device, device_headers, login

GATEWAY = ("gateway", "gateway-password-1")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = app_settings(tmp_path, mqtt_username=GATEWAY[0], mqtt_password=GATEWAY[1])  # no broker needed
    async with running_app(settings) as client:
        yield client


async def verdict(client: httpx.AsyncClient, hook: str, mode: str = "emqx", form: bool = False, **body: Any) -> Any:
    params = {"mode": mode}
    reply = await client.post(f"/api/v1/mqtt/{hook}", params=params, **({"data": body} if form else {"json": body}))
    return reply.status_code, reply.json()["result"]


async def test_auth_accepts_a_device_token_or_secret_and_the_gateway_login(client: httpx.AsyncClient) -> None:
    admin = await login(client, *ADMIN)
    alice, secret = await create_device(client, admin)
    bob, _ = await create_device(client, admin)
    token = (await device_headers(client, alice, secret))["Authorization"].removeprefix("Bearer ")

    assert await verdict(client, "auth", username=alice, password=token) == (200, "allow")
    assert await verdict(client, "auth", form=True, username=alice, password=secret) == (200, "allow")  # go-auth form
    assert await verdict(client, "auth", username=bob, password=token) == (200, "deny")  # another device's token
    assert await verdict(client, "auth", username=alice, password="wrong") == (200, "deny")
    assert await verdict(client, "auth", username=alice, password="a.b.c") == (200, "deny")
    assert await verdict(client, "auth", mode="status", username=alice, password="wrong") == (403, "deny")
    reply = await client.post("/api/v1/mqtt/auth", json={"username": GATEWAY[0], "password": GATEWAY[1]})
    assert reply.json() == {"result": "allow", "ok": True, "is_superuser": True}
    assert await verdict(client, "auth", username=GATEWAY[0], password="wrong") == (200, "deny")

    await client.patch(
        f"/api/v1/devices/{alice}",
        content=b'{"enabled": false}',
        headers={**admin, "Content-Type": "application/merge-patch+json"},
    )
    assert await verdict(client, "auth", username=alice, password=secret) == (200, "deny")


async def test_acl_lets_a_device_use_only_its_own_topics(client: httpx.AsyncClient) -> None:
    def check(action: str, topic: str, **extra: Any) -> Any:
        return verdict(client, "acl", username="dev-1", topic=topic, **({"action": action} | extra))

    assert await check("publish", "devices/dev-1/readings") == (200, "allow")
    assert await check("publish", "devices/dev-2/readings") == (200, "deny")
    assert await check("publish", "devices/dev-1/acks") == (200, "deny")
    assert await check("subscribe", "devices/dev-1/acks") == (200, "allow")
    assert await check("subscribe", "devices/dev-1/commands") == (200, "allow")
    assert await check("subscribe", "devices/+/acks") == (200, "deny")
    assert await check("subscribe", "devices/dev-1/readings") == (200, "deny")
    # mosquitto-go-auth: acc 1 read, 2 write, 4 subscribe; in status mode a refusal is a 403
    assert await check("", "devices/dev-1/readings", acc=2, mode="status") == (200, "allow")
    assert await check("", "devices/dev-1/commands", acc=4, mode="status") == (200, "allow")
    assert await check("", "devices/dev-2/acks", acc=1, mode="status") == (403, "deny")
    assert await verdict(
        client, "acl", username=GATEWAY[0], topic="$share/g/devices/+/readings", action="subscribe"
    ) == (
        200,
        "allow",
    )
