"""Client-side helpers shared by tests and benches: log in, register devices, get device tokens."""

from __future__ import annotations

from typing import Any

import httpx


async def login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    reply = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


async def create_device(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> tuple[str, str]:
    body = {"name": fields.pop("name", "test device"), **fields}
    reply = await client.post("/api/v1/devices", json=body, headers=headers)
    assert reply.status_code == 201, reply.text
    created = reply.json()
    return created["device_id"], created["secret"]


async def device_headers(client: httpx.AsyncClient, device_id: str, secret: str) -> dict[str, str]:
    reply = await client.post("/api/v1/auth/device-token", json={"device_id": device_id, "secret": secret})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}
