"""Every job query. State changes are conditional updates, so two workers (or a worker and a user cancelling)
never both win: a worker only changes a job it still owns, a user only cancels a job still active."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.devices.models import Device
from gateway.exports.models import ACTIVE, Job, Kind, Status
from gateway.tenants.models import Tenant


async def get(session: AsyncSession, job_id: str) -> Job | None:
    return await session.get(Job, job_id, populate_existing=True)


async def get_in_tenant(session: AsyncSession, tenant_id: str, job_id: str) -> Job | None:
    query = select(Job).where(Job.id == job_id, Job.tenant_id == tenant_id)
    return await session.scalar(query.execution_options(populate_existing=True))


async def page(session: AsyncSession, tenant_id: str, kind: Kind | None, *, limit: int, offset: int) -> Sequence[Job]:
    query = select(Job).where(Job.tenant_id == tenant_id)
    if kind is not None:
        query = query.where(Job.kind == kind)
    query = query.order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)
    return (await session.scalars(query)).all()


async def count_active(session: AsyncSession, tenant_id: str) -> int:
    query = select(func.count()).where(Job.tenant_id == tenant_id, Job.status.in_(ACTIVE))
    return await session.scalar(query) or 0


async def devices_in_tenant(session: AsyncSession, tenant_id: str, device_ids: Sequence[str]) -> set[str]:
    query = select(Device.device_id).where(Device.tenant_id == tenant_id, Device.device_id.in_(device_ids))
    return set((await session.scalars(query)).all())


async def devices_tagged(session: AsyncSession, tenant_id: str, tags: dict[str, str], limit: int) -> list[str]:
    query = select(Device.device_id).where(Device.tenant_id == tenant_id)
    for key, value in tags.items():
        query = query.where(Device.tags[key].as_string() == value)
    return list((await session.scalars(query.order_by(Device.device_id).limit(limit))).all())


async def device_ids_after(session: AsyncSession, tenant_id: str, after: str, limit: int) -> list[str]:
    query = select(Device.device_id).where(Device.tenant_id == tenant_id, Device.device_id > after)
    return list((await session.scalars(query.order_by(Device.device_id).limit(limit))).all())


async def count_devices(session: AsyncSession, tenant_id: str) -> int:
    return await session.scalar(select(func.count()).where(Device.tenant_id == tenant_id)) or 0


async def tenant_ids(session: AsyncSession) -> list[str]:
    return list((await session.scalars(select(Tenant.id).order_by(Tenant.id))).all())


async def tenants_without(session: AsyncSession, dedupe_key: str) -> list[str]:
    """Tenants that have no job with this dedupe key (the scheduled report of a day)."""
    done = select(Job.tenant_id).where(Job.dedupe_key == dedupe_key)
    return list((await session.scalars(select(Tenant.id).where(Tenant.id.not_in(done)))).all())


async def claim(session: AsyncSession, job_id: str, owner: str, now: datetime, lease_until: datetime) -> Job | None:
    """Take a queued job, or a running one whose worker stopped renewing its lease; None if neither."""
    takeable = or_(Job.status == Status.queued, (Job.status == Status.running) & (Job.lease_until < now))
    values = {"status": Status.running, "lease_owner": owner, "lease_until": lease_until, "started_at": now}
    if not await _update(session, (Job.id == job_id, takeable), values, attempts=Job.attempts + 1):
        return None
    return await get(session, job_id)


async def renew(
    session: AsyncSession, job_id: str, owner: str, lease_until: datetime, progress: float, rows: int
) -> bool:
    """Extend the lease and record progress; False once the job was cancelled or taken over."""
    values = {"lease_until": lease_until, "progress": progress, "rows_written": rows}
    return await _update(session, _owned(job_id, owner), values)


async def finish(session: AsyncSession, job_id: str, owner: str, status: Status, **values: Any) -> bool:
    """Done, failed or back to queued (a stopping worker), if the job is still this owner's."""
    return await _update(session, _owned(job_id, owner), {"status": status, "lease_owner": None, **values})


async def cancel(session: AsyncSession, job_id: str, now: datetime) -> bool:
    values = {"status": Status.cancelled, "finished_at": now, "lease_owner": None}
    return await _update(session, (Job.id == job_id, Job.status.in_(ACTIVE)), values)


async def expire(session: AsyncSession, now: datetime) -> None:
    """Done jobs past their expiry become expired (the file sweep then deletes their files)."""
    await _update(session, (Job.status == Status.done, Job.expires_at < now), {"status": Status.expired})


async def requeue_lost(session: AsyncSession, now: datetime) -> None:
    """Running jobs whose worker stopped renewing the lease go back to the queue (the next run counts on)."""
    lost = (Job.status == Status.running, Job.lease_until < now)
    await _update(session, lost, {"status": Status.queued, "lease_owner": None, "queued_at": None})


async def forget_queue(session: AsyncSession) -> None:
    """An in-process queue died with its process: every queued job needs handing over again."""
    await _update(session, (Job.status == Status.queued,), {"queued_at": None})


async def needing_kick(session: AsyncSession, requeue_before: datetime, limit: int = 1000) -> list[str]:
    """Queued jobs never handed to the queue, or handed over long ago and still not claimed."""
    waiting = or_(Job.queued_at.is_(None), Job.queued_at < requeue_before)
    query = select(Job.id).where(Job.status == Status.queued, waiting).order_by(Job.created_at).limit(limit)
    return list((await session.scalars(query)).all())


async def mark_queued(session: AsyncSession, job_ids: Sequence[str], now: datetime) -> None:
    await _update(session, (Job.id.in_(job_ids), Job.status == Status.queued), {"queued_at": now})


async def by_ids(session: AsyncSession, job_ids: Sequence[str]) -> dict[str, Job]:
    return {j.id: j for j in (await session.scalars(select(Job).where(Job.id.in_(job_ids)))).all()}


def _owned(job_id: str, owner: str) -> tuple[Any, ...]:
    return (Job.id == job_id, Job.lease_owner == owner, Job.status == Status.running)


async def _update(session: AsyncSession, where: Any, values: dict[str, Any], **extra: Any) -> bool:
    result = await session.execute(
        update(Job).where(*where).values(**values, **extra).execution_options(synchronize_session=False)
    )
    await session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]
