"""Start the pipeline in front of the app's store; on shutdown it flushes what it can and keeps the rest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gateway.config import Settings
from gateway.ingest.accept import limits_from
from gateway.ingest.pipeline import Pipeline
from gateway.readings.service import QueryCache


def build_pipeline(app: FastAPI) -> Pipeline:
    settings: Settings = app.state.settings
    return Pipeline(
        app.state.store,
        settings.data_dir / "spool",
        batch_size=settings.batch_size,
        batch_interval_s=settings.batch_interval_s,
        quota_bytes=settings.spool_quota_bytes,
        segment_bytes=settings.spool_segment_bytes,
        max_backoff_s=settings.retry_max_backoff_s,
    )


@asynccontextmanager
async def pipeline_component(app: FastAPI) -> AsyncIterator[Pipeline]:
    pipeline = build_pipeline(app)
    await pipeline.start()
    app.state.pipeline = pipeline
    app.state.limits = limits_from(app.state.settings)
    app.state.query_cache = cache = QueryCache(app.state.settings.query_cache_ttl_s)
    pipeline.listeners.append(cache.invalidate)
    try:
        yield pipeline
    finally:
        await pipeline.close()
