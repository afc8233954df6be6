"""The simulated fleet's identities, through the gateway's own API: log in, then create each device by name, or reuse
the device of that name (its secret is rotated, since the gateway keeps only a hash of the old one)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

API = "/api/v1"
PAGE = 500
CONCURRENCY = 4  # the gateway hashes each new secret (argon2): a few at a time


class RegistrationError(RuntimeError):
    """The gateway refused to log in or to register a device."""


@dataclass(frozen=True)
class Identity:
    name: str
    device_id: str
    secret: str
    reused: bool


def _problem(reply: httpx.Response) -> str:
    try:
        body: Any = reply.json()
    except ValueError:
        return f"{reply.status_code} {reply.text[:200]}"
    detail = body.get("detail") or body.get("title") if isinstance(body, dict) else body
    return f"{reply.status_code} {detail}"


async def login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    reply = await client.post(f"{API}/auth/login", json={"username": username, "password": password})
    if reply.status_code != 200:
        raise RegistrationError(f"login as {username!r} refused: {_problem(reply)}")
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


async def existing(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, str]:
    """name -> device_id of the caller's devices (the first one of each name)."""
    found: dict[str, str] = {}
    offset = 0
    while True:
        reply = await client.get(f"{API}/devices", params={"limit": PAGE, "offset": offset}, headers=headers)
        if reply.status_code != 200:
            raise RegistrationError(f"cannot list the devices: {_problem(reply)}")
        page = reply.json()
        for item in page["items"]:
            found.setdefault(item["name"], item["device_id"])
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return found


async def _one(client: httpx.AsyncClient, headers: dict[str, str], name: str, known: str | None) -> Identity:
    if known is not None:
        reply = await client.post(f"{API}/devices/{known}/secret", headers=headers)
        if reply.status_code != 200:
            raise RegistrationError(f"cannot rotate the secret of {known!r}: {_problem(reply)}")
        return Identity(name, known, reply.json()["secret"], True)
    body: dict[str, Any] = {"name": name, "device_id": name, "metadata": {"simulated": True}}
    reply = await client.post(f"{API}/devices", json=body, headers=headers)
    if reply.status_code == 409:  # the id is taken (another tenant's device): let the gateway pick one
        del body["device_id"]
        reply = await client.post(f"{API}/devices", json=body, headers=headers)
    if reply.status_code != 201:
        raise RegistrationError(f"cannot create device {name!r}: {_problem(reply)}")
    created = reply.json()
    return Identity(name, created["device_id"], created["secret"], False)


async def provision(base_url: str, username: str, password: str, names: list[str]) -> list[Identity]:
    """One identity per name, in order."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        try:
            headers = await login(client, username, password)
            known = await existing(client, headers)
            gate = asyncio.Semaphore(CONCURRENCY)

            async def one(name: str) -> Identity:
                async with gate:
                    return await _one(client, headers, name, known.get(name))

            return list(await asyncio.gather(*(one(name) for name in names)))
        except httpx.TransportError as exc:
            raise RegistrationError(f"cannot reach the gateway at {base_url}: {exc!r}") from None
