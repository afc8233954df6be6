"""Fixtures of the export tests: apps with fast hashing, users per tenant, a loopback webhook receiver, a fresh
PostgreSQL database, and a worker process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiohttp import web
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from gateway.config import Settings
from gateway.users import service as users
from gateway.users.models import Role

FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1}
ADMIN = ("root", "root-password-1")
PASSWORD = "a-long-password"
FAST_JOBS = {"job_lease_s": 3, "job_heartbeat_s": 0.3, "job_sweep_s": 0.5, "job_redeliver_s": 5}
BIN = Path(sys.executable).parent


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    fields: dict[str, Any] = {
        "data_dir": data_dir,
        "admin_username": ADMIN[0],
        "admin_password": ADMIN[1],
        "webhook_allow_private": True,
        **FAST_ARGON2,
        **FAST_JOBS,
        **overrides,
    }
    return Settings(_env_file=None, **fields)  # type: ignore[call-arg]


def env_of(settings: Settings) -> dict[str, str]:
    """The settings as GATEWAY_ variables, for a worker process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    for name, value in settings.model_dump().items():
        if value is None or value == []:
            continue
        plain = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        env[f"GATEWAY_{name.upper()}"] = str(plain).lower() if isinstance(plain, bool) else str(plain)
    return env


async def user_headers(
    client: httpx.AsyncClient, app: FastAPI, username: str, role: Role = Role.operator, tenant: str = "acme"
) -> dict[str, str]:
    """Bearer headers of a new user (and tenant when new)."""
    async with app.state.sessionmaker() as session:
        await users.create(session, app.state.hasher, username=username, password=PASSWORD, role=role, tenant_id=tenant)
    return await login(client, username, PASSWORD)


async def login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    reply = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


async def wait_for(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    job_id: str,
    until: Callable[[dict[str, Any]], bool],
    within: float = 60,
) -> dict[str, Any]:
    """Poll the job until ``until(job)`` holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        reply = await client.get(f"/api/v1/exports/{job_id}", headers=headers)
        assert reply.status_code == 200, reply.text
        job: dict[str, Any] = reply.json()
        if until(job):
            return job
        assert time.monotonic() < deadline, f"job still {job}"
        await asyncio.sleep(0.1)


def finished(job: dict[str, Any]) -> bool:
    return job["status"] not in ("queued", "running")


class Webhook:
    """A loopback HTTP server recording what job webhooks post."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        return web.Response(status=204)


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    hook = Webhook()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    hook.url = f"http://127.0.0.1:{port}/hook"
    yield hook
    await runner.cleanup()


@pytest.fixture
async def pg_database(postgres_url: str) -> AsyncIterator[str]:
    """A fresh database on the shared PostgreSQL server."""
    server = make_url(postgres_url)
    name = f"exports_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        yield server.set(database=name).render_as_string(hide_password=False)
        await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await conn.close()


class Worker:
    """An ``iot-gateway worker`` process; its peak resident memory is read from /proc before it ends."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [str(BIN / "iot-gateway"), "worker"],
            env=env_of(settings),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[[Settings], Worker]]:
    started: list[Worker] = []

    def start(settings: Settings) -> Worker:
        worker = Worker(settings, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
