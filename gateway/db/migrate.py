"""Alembic, configured in code (no alembic.ini), so ``upgrade head`` works from an installed package.

Concurrent starts (several workers) take a lock first: a PostgreSQL advisory lock, or a file lock beside the
SQLite database.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")
ADVISORY_LOCK_ID = 0x10767A7E  # arbitrary, constant: "iot-gateway migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)


def _upgrade(connection: Connection, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": ADVISORY_LOCK_ID})
        command.upgrade(alembic_config(connection), revision)
        return
    database = connection.engine.url.database
    lock = Path(f"{database}.lock") if database and database != ":memory:" else None
    if lock is None:
        command.upgrade(alembic_config(connection), revision)
        return
    with lock.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        command.upgrade(alembic_config(connection), revision)
