"""Alembic environment: runs on the connection `gateway.db.migrate` hands over, or a URL (autogenerate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from gateway.db.models import Base

config = context.config


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


handed_over: Connection | None = config.attributes.get("connection")
if handed_over is not None:
    run(handed_over)
else:  # ``alembic revision --autogenerate`` from a shell: a synchronous URL in sqlalchemy.url
    with create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://").connect() as conn:
        run(conn)
