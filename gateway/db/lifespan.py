"""The registry component: database (migrated to head), signing keys, first admin, device authentication."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway import security
from gateway.config import Settings
from gateway.db import migrate
from gateway.db.engine import make_engine, make_sessionmaker
from gateway.devices.auth import DeviceAuthenticator
from gateway.users import service as users


@asynccontextmanager
async def open_registry(
    settings: Settings,
) -> AsyncIterator[tuple[AsyncEngine, async_sessionmaker[AsyncSession]]]:
    """An engine on the registry, upgraded to the newest schema (keeping data), and its session factory."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # the SQLite file's home (the CLI may run first)
    engine = make_engine(settings.registry_url)
    try:
        await migrate.upgrade(engine)
        yield engine, make_sessionmaker(engine)
    finally:
        await engine.dispose()


@asynccontextmanager
async def registry_component(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    keys = await anyio.to_thread.run_sync(security.load_keyring, settings)
    async with open_registry(settings) as (engine, sessions):
        hasher = security.make_hasher(settings)
        async with sessions() as session:
            await users.bootstrap_admin(session, hasher, settings)

        async def check() -> None:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        app.state.sessionmaker = sessions
        app.state.keyring = keys
        app.state.hasher = hasher
        app.state.device_auth = DeviceAuthenticator(sessions, keys, settings)
        app.state.checks["database"] = check
        yield
