"""The exports component: the task queue's client side and, with the in-process queue, the runner itself.

With ``redis_url`` set the gateway only queues jobs (API replicas stay fast) and ``iot-gateway worker`` runs
them; without it the gateway runs them in its own process, so ``make run`` needs nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis
from taskiq_redis import RedisStreamBroker

from gateway.config import Settings
from gateway.exports import repository
from gateway.exports.queue import JobQueue, make_broker
from gateway.exports.tasks import Runner


@asynccontextmanager
async def exports_component(app: FastAPI) -> AsyncIterator[JobQueue]:
    settings: Settings = app.state.settings
    broker = make_broker(settings)
    queue = JobQueue(broker)
    runner: Runner | None = None
    sweeper: asyncio.Task[None] | None = None
    await broker.startup()
    if isinstance(broker, RedisStreamBroker):
        pool = broker.connection_pool

        async def check() -> None:
            async with Redis(connection_pool=pool) as redis:
                await redis.ping()

        app.state.checks["task-queue"] = check
    else:
        runner = Runner(settings, app.state.sessionmaker, app.state.store, queue, requeue_at_once=False)
        runner.register(broker)
        async with app.state.sessionmaker() as session:
            await repository.forget_queue(session)  # what the last process had queued died with it
        sweeper = asyncio.create_task(runner.sweep_forever())
    app.state.job_queue = queue
    try:
        yield queue
    finally:
        if sweeper is not None and runner is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await runner.close()
        await broker.shutdown()
