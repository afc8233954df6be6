"""The registry: migrations that keep data, the first admin, readiness, the URL rules and the CLI."""

from __future__ import annotations

import asyncio

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from gateway import cli, security
from gateway.db import migrate
from gateway.db.engine import async_url

FAST_ENV = {"GATEWAY_ARGON2_TIME_COST": "1", "GATEWAY_ARGON2_MEMORY_KIB": "8", "GATEWAY_ARGON2_PARALLELISM": "1"}


async def test_migrations_reach_head_and_a_restart_keeps_the_data(start):
    async with start() as first:
        admin = first.bearer((await first.login("root", "root-password-1"))["access_token"])
        created = await first.client.post("/api/v1/devices", json={"device_id": "keep", "name": "k"}, headers=admin)
        async with first.app.state.sessionmaker() as session:
            head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
            assert await session.scalar(text("SELECT version_num FROM alembic_version")) == head
    async with start(admin_password="another-password") as second:  # migrations run again: a no-op
        tokens = await second.login("root", "root-password-1")  # the bootstrap did not reset the admin
        got = await second.client.get("/api/v1/devices/keep", headers=second.bearer(tokens["access_token"]))
        assert got.status_code == 200 and got.json()["name"] == "k"
        assert await second.device_token("keep", created.json()["secret"])


async def test_the_first_admin_is_made_only_when_configured(start):
    async with start(admin_username="", admin_password="") as api:
        response = await api.client.post("/api/v1/auth/login", json={"username": "root", "password": "root-password-1"})
        assert response.status_code == 401
    async with start() as api:
        tokens = await api.login("root", "root-password-1")
        me = (await api.client.get("/api/v1/auth/me", headers=api.bearer(tokens["access_token"]))).json()
        assert (me["tenant_id"], me["role"]) == ("default", "admin")


async def test_readiness_checks_the_database(api):
    response = await api.client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


def test_postgresql_urls_get_the_asyncpg_driver():
    assert async_url("postgresql://u:p@db:5432/gw").drivername == "postgresql+asyncpg"
    assert async_url("postgres://u@db/gw").drivername == "postgresql+asyncpg"
    assert async_url("postgresql+asyncpg://u@db/gw").drivername == "postgresql+asyncpg"
    assert async_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"


@pytest.fixture
def cli_env(monkeypatch, make_settings):
    settings = make_settings()
    monkeypatch.chdir(settings.data_dir.parent)  # no stray .env
    for name, value in {
        **FAST_ENV,
        "GATEWAY_DATA_DIR": str(settings.data_dir),
        "GATEWAY_DATABASE_URL": settings.database_url,
    }.items():
        monkeypatch.setenv(name, value)


async def run_cli(*argv: str) -> int:
    return await asyncio.to_thread(cli.main, list(argv))


async def test_cli_creates_users_devices_and_rotates_keys(cli_env, start, capsys):
    create = ("users", "create", "--username", "ops", "--password", "ops-password", "--role", "operator")
    assert await run_cli(*create, "--tenant", "plant-2") == 0  # on a fresh data directory, before any serve
    assert "created operator 'ops' in tenant 'plant-2'" in capsys.readouterr().out
    assert await run_cli(*create, "--tenant", "plant-2") == 1
    assert "already exists" in capsys.readouterr().err
    assert await run_cli("users", "create", "--username", "x", "--password", "short", "--role", "viewer") == 1
    assert "password" in capsys.readouterr().err
    assert await run_cli("devices", "create", "--name", "pump", "--tenant", "plant-2", "--device-id", "pump-1") == 0
    printed = dict(line.split("=", 1) for line in capsys.readouterr().out.split())
    assert printed["device_id"] == "pump-1"

    async with start() as api:
        tokens = await api.login("ops", "ops-password")
        me = (await api.client.get("/api/v1/auth/me", headers=api.bearer(tokens["access_token"]))).json()
        assert (me["tenant_id"], me["role"]) == ("plant-2", "operator")
        assert await api.device_token("pump-1", printed["secret"])
        listed = (await api.client.get("/api/v1/devices", headers=api.bearer(tokens["access_token"]))).json()
        assert [d["device_id"] for d in listed["items"]] == ["pump-1"]

        assert await run_cli("keys", "rotate") == 0
        new_kid = capsys.readouterr().out.split()[3]
        assert new_kid != api.app.state.keyring.current.kid
        assert security.load_keyring(api.app.state.settings).current.kid == new_kid


async def test_cli_refuses_a_weak_configured_key(cli_env, monkeypatch, capsys):
    monkeypatch.setenv("GATEWAY_JWT_SECRET", "changeme")
    assert await run_cli("users", "create", "--username", "a", "--password", "a-long-password", "--role", "admin") == 2
    assert "GATEWAY_JWT_SECRET is weak or a known default" in capsys.readouterr().err
