"""From the pipeline to the hub, off the ingestion path.

The pipeline calls ``publisher(readings)`` in the event loop once the sink stored readings (so what is streamed is
already queryable); that only
queues them (bounded: when live viewers cannot keep up, live events are skipped, never the readings). A task
looks up each device's tenant (cached as long as the device authenticator caches device state) and hands the
readings, as they are, to the hub: it encodes only the few that a buffer or a viewer takes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Sequence

from cachetools import TTLCache
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.devices.models import Device
from gateway.live.hub import Hub
from gateway.storage.base import Reading

log = logging.getLogger(__name__)
QUEUE_BATCHES = 10_000
WARN_EVERY_S = 30.0


class Publisher:
    def __init__(self, hub: Hub, sessions: async_sessionmaker[AsyncSession], tenant_ttl_s: float) -> None:
        self._hub = hub
        self._sessions = sessions
        self._queue: asyncio.Queue[Sequence[Reading]] = asyncio.Queue(QUEUE_BATCHES)
        self._tenants: TTLCache[str, str | None] = TTLCache(100_000, ttl=max(tenant_ttl_s, 0.001))
        self.skipped = 0
        self._warned_at = -WARN_EVERY_S

    def __call__(self, readings: Sequence[Reading]) -> None:
        try:
            self._queue.put_nowait(readings)
        except asyncio.QueueFull:
            self.skipped += len(readings)
            now = time.monotonic()
            if now - self._warned_at >= WARN_EVERY_S:  # under sustained load, say it once in a while
                self._warned_at = now
                log.warning("live publisher is behind; %d readings were not streamed live so far", self.skipped)

    async def run(self) -> None:
        while True:
            batches = [await self._queue.get()]
            while not self._queue.empty() and len(batches) < 100:
                batches.append(self._queue.get_nowait())
            try:
                await self.publish([r for batch in batches for r in batch])
            except Exception:
                log.exception("live publishing failed; these readings were not streamed live")

    async def publish(self, readings: Sequence[Reading]) -> None:
        tenants = await self._tenants_of({r.device_id for r in readings})
        owners = set(tenants.values())
        if len(owners) == 1 and (only := owners.pop()):  # the usual chunk: one tenant's devices, passed as is
            await self._hub.publish(only, readings)
            return
        by_tenant: dict[str, list[Reading]] = defaultdict(list)
        for reading in readings:
            if tenant := tenants.get(reading.device_id):
                by_tenant[tenant].append(reading)
        for tenant, chosen in by_tenant.items():
            await self._hub.publish(tenant, chosen)

    async def _tenants_of(self, device_ids: set[str]) -> dict[str, str | None]:
        found = {d: self._tenants[d] for d in device_ids if d in self._tenants}
        missing = device_ids - found.keys()
        if missing:
            async with self._sessions() as session:
                rows = await session.execute(
                    select(Device.device_id, Device.tenant_id).where(Device.device_id.in_(missing))
                )
                loaded: dict[str, str | None] = {d: None for d in missing} | {d: t for d, t in rows}
            self._tenants.update(loaded)
            found |= loaded
        return found
