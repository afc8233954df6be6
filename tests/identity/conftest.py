"""Fixtures of the identity tests: every app-level test runs on SQLite and on a real PostgreSQL.

PostgreSQL is the shared server of ``tests/conftest.py`` (``postgres_url``); each test gets a fresh database on it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from gateway.app import create_app
from gateway.config import Settings
from gateway.deps import CurrentDevice
from gateway.users import service as users
from gateway.users.models import Role

FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1}
ADMIN = ("root", "root-password-1")
PASSWORD = "a-long-password"


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The registry URL: empty (SQLite in the data directory, the default) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield ""
        return
    server = make_url(request.getfixturevalue("postgres_url"))
    name = f"identity_{uuid.uuid4().hex[:12]}"
    admin_dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        yield server.set(database=name).render_as_string(hide_password=False)
        await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
def make_settings(tmp_path: Path, database_url: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        fields: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "admin_username": ADMIN[0],
            "admin_password": ADMIN[1],
            **FAST_ARGON2,
            **overrides,
        }
        return Settings(_env_file=None, **fields)  # type: ignore[call-arg]

    return make


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[FastAPI]:
    """The whole app with its lifespan run, plus a test-only route behind ``CurrentDevice``."""
    app = create_app(settings)

    async def whoami(device: CurrentDevice) -> dict[str, Any]:
        return {"device_id": device.device_id, "tenant_id": device.tenant_id}

    app.add_api_route("/test/device-whoami", whoami, methods=["POST"])
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def app(make_settings: Callable[..., Settings]) -> AsyncIterator[FastAPI]:
    async with running(make_settings()) as app:
        yield app


class Api:
    """A client of one running app, with the steps most tests take."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app, self.client = app, client

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def login(self, username: str, password: str = PASSWORD) -> dict[str, Any]:
        response = await self.client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens

    async def add_user(self, username: str, role: Role = Role.operator, tenant: str = "acme") -> None:
        async with self.app.state.sessionmaker() as session:
            hasher = self.app.state.hasher
            await users.create(session, hasher, username=username, password=PASSWORD, role=role, tenant_id=tenant)

    async def user(self, username: str, role: Role = Role.operator, tenant: str = "acme") -> dict[str, str]:
        """Headers of a new user with ``role`` in ``tenant`` (created when new)."""
        await self.add_user(username, role, tenant)
        return self.bearer((await self.login(username))["access_token"])

    async def device_token(self, device_id: str, secret: str, **extra: Any) -> str:
        body = {"device_id": device_id, "secret": secret, **extra}
        response = await self.client.post("/api/v1/auth/device-token", json=body)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    async def as_device(self, token: str) -> httpx.Response:
        """A request to the test-only route behind ``CurrentDevice``."""
        return await self.client.post("/test/device-whoami", headers=self.bearer(token))


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test")


@pytest.fixture
def start(make_settings: Callable[..., Settings]) -> Callable[..., contextlib.AbstractAsyncContextManager[Api]]:
    """Run another app (as another process would) on the same registry and data directory, settings overridden."""

    @contextlib.asynccontextmanager
    async def another(**overrides: Any) -> AsyncIterator[Api]:
        async with running(make_settings(**overrides)) as app, client_for(app) as client:
            yield Api(app, client)

    return another


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[Api]:
    async with client_for(app) as client:
        yield Api(app, client)


@pytest.fixture
async def admin(api: Api) -> dict[str, str]:
    """Headers of the bootstrapped first admin (tenant ``default``)."""
    return api.bearer((await api.login(*ADMIN))["access_token"])


@pytest.fixture
async def device(api: Api, admin: dict[str, str]) -> dict[str, Any]:
    """A device of tenant ``default``, as created (with its secret)."""
    response = await api.client.post("/api/v1/devices", json={"device_id": "dev-1", "name": "boiler"}, headers=admin)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
