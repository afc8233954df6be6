"""Login throttling: repeated failures for one username or one address -> 429 with Retry-After."""

from __future__ import annotations

import asyncio

import httpx

from gateway.users.models import Role

LOGIN = "/api/v1/auth/login"
GOOD = "a-long-password"


def from_address(api, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=api.app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway.test")


async def attempt(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(LOGIN, json={"username": username, "password": password})


async def test_failures_for_one_user_lock_that_user_from_any_address(start):
    async with start(login_max_failures=3, login_lockout_s=60) as api:
        await api.add_user("alice", Role.viewer)
        await api.add_user("bob", Role.viewer)
        for i in range(3):
            async with from_address(api, f"10.0.0.{i}") as client:
                assert (await attempt(client, "alice", "wrong-password")).status_code == 401
        async with from_address(api, "10.0.0.99") as client:
            locked = await attempt(client, "alice", GOOD)  # even the right password
            assert locked.status_code == 429
            assert 0 < int(locked.headers["retry-after"]) <= 60
            assert locked.headers["content-type"].startswith("application/problem+json")
            assert (await attempt(client, "bob", GOOD)).status_code == 200


async def test_failures_from_one_address_lock_that_address(start):
    async with start(login_max_failures=3, login_lockout_s=60) as api:
        await api.add_user("bob", Role.viewer)
        async with from_address(api, "192.0.2.7") as attacker, from_address(api, "192.0.2.8") as other:
            for name in ("u1", "u2", "u3"):
                assert (await attempt(attacker, name, "guess-guess")).status_code == 401
            blocked = await attempt(attacker, "bob", GOOD)
            assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
            assert (await attempt(other, "bob", GOOD)).status_code == 200


async def test_a_success_resets_the_users_count(start):
    async with start(login_max_failures=3, login_lockout_s=60) as api:
        await api.add_user("alice", Role.viewer)
        for address in ("198.51.100.1", "198.51.100.2"):
            async with from_address(api, address) as client:
                for _ in range(2):
                    assert (await attempt(client, "alice", "wrong-password")).status_code == 401
                assert (await attempt(client, "alice", GOOD)).status_code == 200
        async with from_address(api, "198.51.100.3") as client:
            assert (await attempt(client, "alice", "wrong-password")).status_code == 401
            assert (await attempt(client, "alice", GOOD)).status_code == 200


async def test_the_lock_ends_after_the_lockout(start):
    async with start(login_max_failures=2, login_lockout_s=1) as api:
        await api.add_user("alice", Role.viewer)
        for _ in range(2):
            assert (await attempt(api.client, "alice", "wrong-password")).status_code == 401
        assert (await attempt(api.client, "alice", GOOD)).status_code == 429
        await asyncio.sleep(1.1)
        assert (await attempt(api.client, "alice", GOOD)).status_code == 200
