"""Open the configured store for the app's lifetime: InfluxDB when a URL is set, else the embedded file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gateway.config import Settings
from gateway.storage.base import Store
from gateway.storage.embedded import EmbeddedStore
from gateway.storage.influx import InfluxStore


def open_store(settings: Settings) -> Store:
    if settings.influx_url:
        return InfluxStore(
            url=settings.influx_url,
            token=settings.influx_token.get_secret_value(),
            org=settings.influx_org,
            bucket=settings.influx_bucket,
            measurement=settings.influx_measurement,
            timeout_s=settings.influx_timeout_s,
        )
    return EmbeddedStore(settings.data_dir / "readings.db")


@asynccontextmanager
async def store_component(app: FastAPI) -> AsyncIterator[Store]:
    settings: Settings = app.state.settings
    store = open_store(settings)
    app.state.store = store
    app.state.checks["influxdb" if settings.influx_url else "store"] = store.check
    try:
        yield store
    finally:
        await store.close()
