"""``iot-gateway worker``: runs export and report jobs from the Redis task queue, and the job sweeper.

Run as many as needed, beside any number of gateways: they share the registry, the store, Redis and the export
directory. SIGTERM or SIGINT stops taking jobs, puts the running ones back in the queue and exits; SIGKILL
loses nothing either (see gateway/exports/tasks.py). ``iot-gateway worker --check`` is the container health
check: the sweeper touches a file every ``job_sweep_s``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import tempfile
import time
from pathlib import Path

from taskiq.acks import AcknowledgeType
from taskiq.receiver import Receiver

from gateway.config import Settings
from gateway.db.lifespan import open_registry
from gateway.exports.queue import JobQueue, make_broker
from gateway.exports.tasks import Runner
from gateway.storage.lifespan import open_store

log = logging.getLogger(__name__)
HEARTBEAT_FILE = Path(tempfile.gettempdir()) / "iot-gateway-worker.alive"


async def run(settings: Settings, stop: asyncio.Event) -> None:
    async with open_registry(settings) as (_, sessions):
        store = open_store(settings)
        broker = make_broker(settings)
        broker.is_worker_process = True
        runner = Runner(settings, sessions, store, JobQueue(broker), requeue_at_once=True)
        runner.register(broker)
        receiver = Receiver(
            broker,
            max_async_tasks=settings.worker_concurrency,
            max_prefetch=0,
            ack_type=AcknowledgeType.WHEN_SAVED,  # a message is acknowledged only once its task returned
        )
        finished = asyncio.Event()
        listening = asyncio.create_task(receiver.listen(finished))
        sweeping = asyncio.create_task(runner.sweep_forever(HEARTBEAT_FILE))
        log.info("worker %s taking jobs (%d at a time)", runner.owner, settings.worker_concurrency)
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({listening, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            finished.set()
            sweeping.cancel()
            stopping.cancel()
            while not listening.done():  # a job that arrived while stopping is stopped too
                await runner.close()
                await asyncio.wait({listening}, timeout=0.5)
            await broker.shutdown()
            await store.close()
            HEARTBEAT_FILE.unlink(missing_ok=True)
        listening.result()  # a broker failure ends the worker with its error


def main(settings: Settings) -> int:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop)

    asyncio.run(serve())
    return 0


def healthy(settings: Settings) -> bool:
    """The sweeper of a worker on this host ran recently."""
    try:
        age = time.time() - HEARTBEAT_FILE.stat().st_mtime
    except FileNotFoundError:
        return False
    return age < 3 * settings.job_sweep_s + 10
