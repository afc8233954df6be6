"""Export and report jobs for the API and the dashboard: submit, look up, list, cancel or delete, download.

Viewers may export: an export only reads data the user can already query. Cancelling or deleting a job is for
its creator and for operators and admins. Jobs are tenant-scoped like devices: another tenant's job is a 404.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.auth.principal import UserPrincipal
from gateway.config import Settings
from gateway.db.base import utcnow
from gateway.errors import Conflict, Forbidden, Gone, NotFound, TooManyRequests, Unprocessable
from gateway.exports import notify, repository
from gateway.exports.models import ACTIVE, Job, Kind, Status
from gateway.exports.queue import JobQueue
from gateway.exports.schemas import ExportIn, JobOut, JobPage, ReportIn
from gateway.exports.writers import MEDIA_TYPES
from gateway.readings.service import parse_every

log = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Download:
    path: Path
    filename: str
    media_type: str


def to_out(job: Job) -> JobOut:
    return JobOut(
        id=job.id,
        kind=Kind(job.kind),
        status=Status(job.status),
        format=job.format,
        progress=job.progress,
        rows_written=job.rows_written,
        error=job.error,
        attempts=job.attempts,
        request=job.params,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        expires_at=job.expires_at,
        size_bytes=job.size_bytes,
        sha256=job.sha256,
    )


async def submit_export(
    session: AsyncSession, queue: JobQueue | None, settings: Settings, user: UserPrincipal, body: ExportIn
) -> JobOut:
    start_ms, end_ms = _ms(body.start), _ms(body.end)
    if start_ms >= end_ms:
        raise Unprocessable("start must be before end")
    if end_ms - start_ms > settings.max_query_range_s * 1000:
        raise Unprocessable(f"the range may span at most {settings.max_query_range_s} seconds")
    every_ms = parse_every(body.every)
    if body.agg is not None and every_ms is None:
        raise Unprocessable("agg needs every (the window to aggregate over)")
    if every_ms:
        start_ms -= start_ms % every_ms  # windows aligned to the epoch, as in the query API
    params: dict[str, Any] = {
        "device_ids": await _devices(session, settings, user, body),
        "metrics": list(dict.fromkeys(body.metrics)),
        "start_ms": start_ms,
        "end_ms": end_ms,
        "every_ms": every_ms,
        "agg": (body.agg or "mean") if every_ms else None,
    }
    if body.tag is not None:
        params["tag"] = body.tag
    job = Job(tenant_id=user.tenant_id, created_by=user.user_id, kind=Kind.export, format=body.format, params=params)
    return to_out(await _submit(session, queue, settings, job, _url(body.webhook_url)))


async def submit_report(
    session: AsyncSession, queue: JobQueue | None, settings: Settings, user: UserPrincipal, body: ReportIn
) -> JobOut:
    day = body.day or (utcnow().date() - timedelta(days=1))
    job = report_job(user.tenant_id, day, created_by=user.user_id)
    return to_out(await _submit(session, queue, settings, job, _url(body.webhook_url)))


def report_job(tenant_id: str, day: date, *, created_by: str | None = None, dedupe_key: str | None = None) -> Job:
    """The daily summary of a tenant: min, mean and max per device and metric over one UTC day, as CSV."""
    start_ms = _ms(datetime.combine(day, time(), UTC))
    params = {"day": day.isoformat(), "start_ms": start_ms, "end_ms": start_ms + DAY_MS}
    return Job(
        tenant_id=tenant_id, created_by=created_by, kind=Kind.report, format="csv", params=params, dedupe_key=dedupe_key
    )


async def enqueue(session: AsyncSession, queue: JobQueue | None, job: Job) -> Job:
    """Record the job, then hand it to the queue. Should the queue be unreachable the job stays recorded and
    the sweeper hands it over later (without a queue, as from the CLI, the sweeper does it at once)."""
    job.status = Status.queued
    session.add(job)
    await session.commit()
    if queue is not None:
        try:
            await queue.kick(job.id)
        except Exception:
            log.warning("could not queue job %s now; the sweeper will", job.id, exc_info=True)
        else:
            await repository.mark_queued(session, [job.id], utcnow())
    return job


async def get(session: AsyncSession, user: UserPrincipal, job_id: str) -> JobOut:
    return to_out(await _visible(session, user, job_id))


async def list_jobs(
    session: AsyncSession, user: UserPrincipal, *, kind: Kind | None = None, limit: int = 50, offset: int = 0
) -> JobPage:
    """The tenant's jobs, newest first."""
    jobs = await repository.page(session, user.tenant_id, kind, limit=limit + 1, offset=offset)
    return JobPage(
        items=[to_out(j) for j in jobs[:limit]],
        limit=limit,
        offset=offset,
        next_offset=offset + limit if len(jobs) > limit else None,
    )


async def cancel_or_delete(
    session: AsyncSession, settings: Settings, user: UserPrincipal, job_id: str
) -> JobOut | None:
    """Cancel a queued or running job (its document, now cancelled), or delete a finished one and its file (None)."""
    job = await _visible(session, user, job_id)
    if job.created_by != user.user_id and not user.can_write:
        raise Forbidden("only its creator, operators and admins may cancel or delete a job")
    if job.status in ACTIVE and await repository.cancel(session, job.id, utcnow()):
        return to_out(await _visible(session, user, job_id))
    await session.delete(job)
    await session.commit()
    if job.file_name:
        await asyncio.to_thread((settings.exports_path / job.file_name).unlink, missing_ok=True)
    return None


async def download(session: AsyncSession, settings: Settings, user: UserPrincipal, job_id: str) -> Download:
    """The finished file: 409 while the job is not done, 410 once the file expired."""
    job = await _visible(session, user, job_id)
    expired = job.status == Status.expired or (job.expires_at is not None and job.expires_at <= utcnow())
    if expired:
        raise Gone(f"the file of job {job_id} expired at {job.expires_at:%Y-%m-%dT%H:%M:%SZ}")
    if job.status != Status.done or not job.file_name:
        reason = f": {job.error}" if job.error else ""
        raise Conflict(f"job {job_id} is {job.status}{reason}; its file is there once it is done")
    path = settings.exports_path / job.file_name
    if not await asyncio.to_thread(path.is_file):
        raise Gone(f"the file of job {job_id} is gone")
    name = f"{job.kind}-{job.created_at:%Y%m%d}-{job.id[:8]}.{job.format}"
    return Download(path, name, MEDIA_TYPES[job.format])


async def _visible(session: AsyncSession, user: UserPrincipal, job_id: str) -> Job:
    job = await repository.get_in_tenant(session, user.tenant_id, job_id)
    if job is None:
        raise NotFound(f"no export job {job_id!r}")
    return job


async def _devices(session: AsyncSession, settings: Settings, user: UserPrincipal, body: ExportIn) -> list[str]:
    limit = settings.export_max_devices
    if body.tag is not None:
        ids = await repository.devices_tagged(session, user.tenant_id, body.tag, limit + 1)
        if not ids:
            raise Unprocessable("no device of yours has these tags", errors=[_error("tag", "matches no device")])
    else:
        ids = list(dict.fromkeys(body.device_ids or ()))
    if len(ids) > limit:
        raise Unprocessable(f"an export may cover at most {limit} devices")
    if body.tag is None:
        known = await repository.devices_in_tenant(session, user.tenant_id, ids)
        if unknown := [d for d in ids if d not in known]:
            errors = [_error("device_ids", f"no device {d!r}") for d in unknown[:20]]
            raise Unprocessable(f"no device {unknown[0]!r}", errors=errors)
    return ids


async def _submit(
    session: AsyncSession, queue: JobQueue | None, settings: Settings, job: Job, webhook_url: str | None
) -> Job:
    if webhook_url:
        if reason := await notify.check_url(webhook_url, settings.webhook_allow_private):
            raise Unprocessable(f"webhook_url refused: {reason}", errors=[_error("webhook_url", reason)])
        job.webhook_url = webhook_url
    if await repository.count_active(session, job.tenant_id) >= settings.export_max_active:
        raise TooManyRequests(
            f"your tenant has {settings.export_max_active} jobs queued or running; wait for one to finish",
            retry_after=30,
        )
    return await enqueue(session, queue, job)


def _ms(moment: int | datetime) -> int:
    return moment if isinstance(moment, int) else (moment - _EPOCH) // timedelta(milliseconds=1)


def _url(url: object | None) -> str | None:
    return str(url) if url is not None else None


def _error(field: str, msg: str) -> dict[str, Any]:
    return {"loc": ["body", field], "msg": msg, "type": "value_error"}
