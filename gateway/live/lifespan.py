"""Start the live hub (Redis when ``redis_url`` is set, else in-process) and feed it from the pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gateway.config import Settings
from gateway.live.hub import Hub, MemoryHub
from gateway.live.publisher import Publisher
from gateway.live.redis_hub import RedisHub

log = logging.getLogger(__name__)


def open_hub(settings: Settings) -> Hub:
    if settings.redis_url:
        return RedisHub(settings.redis_url, settings.live_buffer_size, settings.live_client_queue)
    if settings.workers > 1:
        log.warning("live streams without GATEWAY_REDIS_URL only see readings that reach their own worker")
    return MemoryHub(settings.live_buffer_size, settings.live_client_queue)


@asynccontextmanager
async def live_component(app: FastAPI) -> AsyncIterator[Hub]:
    settings: Settings = app.state.settings
    hub = open_hub(settings)
    await hub.start()
    publisher = Publisher(hub, app.state.sessionmaker, settings.device_state_cache_ttl_s)
    task = asyncio.create_task(publisher.run(), name="live-publisher")
    app.state.live = hub
    app.state.pipeline.listeners.append(publisher)
    try:
        yield hub
    finally:
        app.state.pipeline.listeners.remove(publisher)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await hub.close()
