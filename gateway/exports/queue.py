"""The task queue: taskiq, with an in-process broker by default and a Redis Streams broker when Redis is set.

Why taskiq: it is asyncio-native like the rest of the gateway, its InMemoryBroker runs the very same task inside
the gateway for ``make run`` (arq and saq need Redis or PostgreSQL even on one machine, procrastinate needs
PostgreSQL, dramatiq's actors are threads), and taskiq-redis's stream broker reads with a consumer group and
acknowledges a message only after the task returned, so a message a dead worker held stays pending and is
claimed again (XAUTOCLAIM) after ``job_redeliver_s``: at-least-once delivery.

That alone is not enough (taskiq-redis reclaims only when a new message arrives, and a live job's message looks
just as idle), so the queue carries only job ids and the registry's job row is the truth: a worker claims it
with a conditional update and keeps a lease, a duplicate delivery does nothing, and the sweeper re-queues what a
crash left behind (see tasks.py).
"""

from __future__ import annotations

from typing import Any

from taskiq import AsyncBroker, InMemoryBroker
from taskiq.kicker import AsyncKicker
from taskiq_redis import RedisStreamBroker

from gateway.config import Settings

TASK_NAME = "gateway.exports.run_job"
STREAM = "iot-gateway:jobs"
GROUP = "iot-gateway-workers"


def make_broker(settings: Settings) -> AsyncBroker:
    if not settings.redis_url:
        return InMemoryBroker(max_async_tasks=settings.worker_concurrency)
    return RedisStreamBroker(
        settings.redis_url,
        queue_name=STREAM,
        consumer_group_name=GROUP,
        consumer_id="0",  # a group created after a job was queued still delivers it
        xread_count=1,  # take one job at a time, leave the rest to idle workers
        idle_timeout=int(settings.job_redeliver_s * 1000),
        unacknowledged_lock_timeout=30,
        maxlen=100_000,
    )


class JobQueue:
    """Hands job ids to the broker; the task itself is registered only where jobs run."""

    def __init__(self, broker: AsyncBroker) -> None:
        self.broker = broker
        self._kicker: AsyncKicker[Any, Any] = AsyncKicker(TASK_NAME, broker, {})

    async def kick(self, job_id: str) -> None:
        await self._kicker.kiq(job_id)
