"""The gateway as a real uvicorn server on a free loopback port, in a thread with its own event loop.

Browsers and SSE clients need a real socket (httpx's ASGI transport buffers whole responses). ``run`` executes a
coroutine on the server's loop, for test setup that goes through ``app.state`` (adding users of other roles).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI

from gateway.app import create_app
from gateway.config import Settings
from gateway.users import service as users
from gateway.users.models import Role
from tests.conftest import InfluxInfo

T = TypeVar("T")
FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1}
ADMIN = ("admin", "admin-password-1")
PASSWORD = "a-long-password"
START_TIMEOUT_S = 30.0


def gateway_settings(data_dir: Path, influx: InfluxInfo, measurement: str, **overrides: Any) -> Settings:
    fields: dict[str, Any] = {
        "data_dir": data_dir,
        "admin_username": ADMIN[0],
        "admin_password": ADMIN[1],
        "batch_interval_s": 0.05,
        "influx_url": influx.url,
        "influx_token": influx.token,
        "influx_org": influx.org,
        "influx_bucket": influx.bucket,
        "influx_measurement": measurement,
        **FAST_ARGON2,
    }
    return Settings(_env_file=None, **(fields | overrides))  # type: ignore[call-arg]


def new_measurement() -> str:
    return f"dash_{uuid.uuid4().hex[:10]}"


@dataclass
class LiveServer:
    url: str
    app: FastAPI
    loop: asyncio.AbstractEventLoop

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    async def add_user(self, username: str, role: Role, tenant: str = "default") -> None:
        async def create() -> None:
            async with self.app.state.sessionmaker() as session:
                await users.create(
                    session, self.app.state.hasher, username=username, password=PASSWORD, role=role, tenant_id=tenant
                )

        await self.run(create())


@contextmanager
def serve(settings: Settings) -> Iterator[LiveServer]:
    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1, lifespan="on")
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()

    async def run() -> None:
        await server.serve([sock])
        leftovers = asyncio.all_tasks() - {asyncio.current_task()}  # e.g. sse-starlette's shutdown watcher
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app, loop)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        loop.close()
        sock.close()
