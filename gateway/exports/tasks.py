"""Running jobs: the one task the queue carries, and the sweeper that recovers what crashes leave behind.

Crash semantics. A worker claims a job in the registry (a conditional update: queued, or running under an
expired lease), renews its lease every ``job_heartbeat_s`` and writes ``{id}.{attempt}.{ext}.part``. The complete
file is renamed to ``{id}.{attempt}.{ext}`` and the job marked done pointing at it, only if the worker still owns
the job. Hence:

- a worker killed mid-job stops renewing; after ``job_lease_s`` a sweeper (of any worker, or of the gateway with
  the in-process queue) queues the job again and the next worker runs it from the start, at most
  ``job_max_attempts`` times before it fails with the reason (the Redis stream also redelivers the message the
  dead worker never acknowledged);
- a duplicate or late delivery finds the job finished, or running under a live lease, and does nothing;
- two runs never both complete: a run that lost the job deletes its own file, and a file no job points at
  (a killed run's ``.part``) is deleted by the sweeper, so a finished job has exactly one complete file;
- a worker stopping cleanly (SIGTERM) puts its jobs back in the queue at once; users' cancellations reach the
  running worker at its next heartbeat;
- the webhook is posted by the run that finished the job, so at most once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from taskiq import AsyncBroker

from gateway.config import Settings
from gateway.db.base import utcnow
from gateway.exports import notify, repository, service
from gateway.exports.models import Job, Kind, Status
from gateway.exports.queue import TASK_NAME, JobQueue
from gateway.exports.reports import write_report
from gateway.exports.writers import open_writer
from gateway.storage.base import Reader

log = logging.getLogger(__name__)
CHUNK_ROWS = 10_000
_FILE = re.compile(r"^(?P<id>[0-9a-f]{32})\.(?P<attempt>\d+)\.\w+(?P<part>\.part)?$")


@dataclass(eq=False)
class Run:
    """A job being run here, and how far it got."""

    job: Job
    rows: int = 0
    done: float = 0.0


class Runner:
    """Runs jobs in this process, a worker or (with the in-process queue) the gateway itself."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        store: Reader,
        queue: JobQueue,
        *,
        requeue_at_once: bool,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._store = store
        self._queue = queue
        self._requeue_at_once = requeue_at_once  # on a clean stop; the in-process queue stops with us instead
        self._dir = settings.exports_path
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(settings.worker_concurrency)  # the in-process broker has no limit
        self._closing = False
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"

    def register(self, broker: AsyncBroker) -> None:
        async def run_job(job_id: str) -> None:  # taskiq takes functions, not bound methods
            await self.run(job_id)

        broker.register_task(run_job, task_name=TASK_NAME)

    async def run(self, job_id: str) -> None:
        """The task: run the job if this delivery can claim it."""
        if self._closing:  # a message that arrived as the worker stops: leave it to another
            with contextlib.suppress(Exception):
                await self._queue.kick(job_id)
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            async with self._slots:
                await self._run(job_id)
        finally:
            self._tasks.discard(task)

    async def close(self) -> None:
        """Stop every job running here; each goes back to the queue."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, job_id: str) -> None:
        now = utcnow()
        async with self._sessions() as session:
            job = await repository.claim(session, job_id, self.owner, now, now + self._lease)
        if job is None:
            return
        if job.attempts > self._settings.job_max_attempts:
            reason = f"its worker stopped {job.attempts - 1} times before finishing it"
            await self._end(job, Status.failed, error=reason, finished_at=now)
            return
        log.info("running %s job %s (attempt %d)", job.kind, job.id, job.attempts)
        await asyncio.to_thread(self._dir.mkdir, parents=True, exist_ok=True)
        run = Run(job)
        part = self._dir / f"{job.id}.{job.attempts}.{job.format}.part"
        work = asyncio.create_task(self._write(run, part))
        keeper = asyncio.create_task(self._keep(run, work))
        try:
            await work
            final = part.with_suffix("")
            size, sha256 = await asyncio.to_thread(_seal, part, final)
            now = utcnow()
            values = {"progress": 1.0, "rows_written": run.rows, "file_name": final.name, "size_bytes": size}
            expires = now + timedelta(seconds=self._settings.export_ttl_s)
            if not await self._end(job, Status.done, sha256=sha256, finished_at=now, expires_at=expires, **values):
                await asyncio.to_thread(final.unlink, missing_ok=True)  # another run owns the job now
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is None or not current.cancelling():
                return  # the keeper stopped the work: the job was cancelled, or another worker took it
            await asyncio.shield(self._release(job))
            raise
        except Exception as exc:
            log.exception("job %s failed", job.id)
            await self._end(job, Status.failed, error=str(exc)[:1000] or type(exc).__name__, finished_at=utcnow())
        finally:
            keeper.cancel()
            await asyncio.to_thread(part.unlink, missing_ok=True)

    async def _write(self, run: Run, path: Path) -> None:
        job = run.job
        if job.kind == Kind.report:
            await write_report(self._sessions, self._store, job, path, run)
            return
        p = job.params
        writer = await asyncio.to_thread(open_writer, job.format, path, p["metrics"])
        try:
            rows = self._store.iter_rows(
                p["device_ids"], p["metrics"], p["start_ms"], p["end_ms"], p["every_ms"], p["agg"] or "mean",
                chunk=CHUNK_ROWS,
            )  # fmt: skip
            async for chunk in rows:
                if chunk.rows:
                    await asyncio.to_thread(writer.write, chunk.rows)
                run.rows += len(chunk.rows)
                run.done = chunk.done
        finally:
            await asyncio.to_thread(writer.close)

    async def _keep(self, run: Run, work: asyncio.Task[None]) -> None:
        """Renew the lease and record progress; stop the work once the job is no longer ours."""
        while not work.done():
            await asyncio.sleep(self._settings.job_heartbeat_s)
            try:
                async with self._sessions() as session:
                    lease_until = utcnow() + self._lease
                    ours = await repository.renew(session, run.job.id, self.owner, lease_until, run.done, run.rows)
            except Exception:
                log.warning("could not renew the lease of job %s", run.job.id, exc_info=True)
                continue
            if not ours:
                log.info("job %s was cancelled or taken over; stopping it here", run.job.id)
                work.cancel()
                return

    async def _end(self, job: Job, status: Status, **values: object) -> bool:
        async with self._sessions() as session:
            if not await repository.finish(session, job.id, self.owner, status, **values):
                return False
            finished = await repository.get(session, job.id)
        log.info("job %s %s", job.id, status)
        if finished is not None and finished.webhook_url:
            document = service.to_out(finished).model_dump(mode="json")
            await notify.post_job(
                finished.webhook_url,
                document,
                attempts=self._settings.webhook_attempts,
                allow_private=self._settings.webhook_allow_private,
            )
        return True

    async def _release(self, job: Job) -> None:
        async with self._sessions() as session:
            released = await repository.finish(session, job.id, self.owner, Status.queued, queued_at=None)
            if released and self._requeue_at_once:
                with contextlib.suppress(Exception):
                    await self._queue.kick(job.id)
                    await repository.mark_queued(session, [job.id], utcnow())

    @property
    def _lease(self) -> timedelta:
        return timedelta(seconds=self._settings.job_lease_s)

    # The sweeper: every process that runs jobs runs it; doing it twice at once is harmless.

    async def sweep_forever(self, heartbeat_file: Path | None = None) -> None:
        while True:  # until cancelled with the process
            try:
                await self.sweep()
                if heartbeat_file is not None:
                    await asyncio.to_thread(heartbeat_file.touch)
            except Exception:
                log.exception("job sweep failed")
            await asyncio.sleep(self._settings.job_sweep_s)

    async def sweep(self) -> None:
        now = utcnow()
        async with self._sessions() as session:
            await repository.expire(session, now)
            await repository.requeue_lost(session, now)
            ids = await repository.needing_kick(session, now - timedelta(seconds=self._settings.job_redeliver_s))
            kicked = []
            for job_id in ids:
                try:
                    await self._queue.kick(job_id)
                except Exception:
                    log.warning("cannot reach the task queue", exc_info=True)
                    break
                kicked.append(job_id)
            if kicked:
                await repository.mark_queued(session, kicked, now)
        await self.schedule_reports(now)
        await self._delete_stray_files()

    async def schedule_reports(self, now: datetime) -> None:
        """Queue yesterday's report of every tenant that has none yet, once ``report_hour_utc`` has come."""
        hour = self._settings.report_hour_utc
        if hour is None or now.hour < hour:
            return
        day = now.date() - timedelta(days=1)
        key = f"daily:{day.isoformat()}"
        async with self._sessions() as session:
            for tenant_id in await repository.tenants_without(session, key):
                try:
                    await service.enqueue(session, self._queue, service.report_job(tenant_id, day, dedupe_key=key))
                except IntegrityError:  # another worker scheduled it first
                    await session.rollback()

    async def _delete_stray_files(self) -> None:
        """Delete files no job points at (a dead run's part, a file of an expired or deleted job)."""
        found = await asyncio.to_thread(_job_files, self._dir)
        if not found:
            return
        async with self._sessions() as session:
            jobs = await repository.by_ids(session, list({m["id"] for _, m, _ in found}))
        grace = time.time() - 2 * self._settings.job_lease_s  # a run between rename and marking its job done
        for path, match, mtime in found:
            job = jobs.get(match["id"])
            if job is not None and (
                (job.status == Status.done and job.file_name == path.name)
                or (match["part"] and job.status == Status.running and job.attempts == int(match["attempt"]))
            ):
                continue
            if mtime < grace:
                await asyncio.to_thread(path.unlink, missing_ok=True)


def _seal(part: Path, final: Path) -> tuple[int, str]:
    """Flush the finished file to disk, hash it, and give it its final name."""
    digest = hashlib.sha256()
    size = 0
    with part.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            size += len(block)
        os.fsync(f.fileno())
    os.replace(part, final)
    return size, digest.hexdigest()


def _job_files(directory: Path) -> list[tuple[Path, re.Match[str], float]]:
    if not directory.is_dir():
        return []
    return [
        (path, match, path.stat().st_mtime)
        for path in directory.iterdir()
        if (match := _FILE.match(path.name)) is not None
    ]
