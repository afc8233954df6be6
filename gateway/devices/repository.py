"""Every device query. Reads on behalf of a user are scoped to the user's tenant here, not in the caller."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.device_types.models import DeviceType
from gateway.devices.models import Device


async def get(session: AsyncSession, device_id: str) -> Device | None:
    """Any tenant's device: for device authentication, where the id is all there is."""
    return await session.get(Device, device_id)


async def get_in_tenant(session: AsyncSession, tenant_id: str, device_id: str) -> Device | None:
    return await session.scalar(
        select(Device).where(Device.device_id == device_id, Device.tenant_id == tenant_id)
    )


async def page(
    session: AsyncSession,
    tenant_id: str,
    *,
    type: str | None = None,
    enabled: bool | None = None,
    tags: dict[str, str] | None = None,
    limit: int,
    offset: int,
) -> tuple[Sequence[Device], int]:
    query = _filtered(select(Device), tenant_id, type, enabled, tags or {})
    total = await session.scalar(query.with_only_columns(func.count()).order_by(None))
    rows = await session.scalars(query.order_by(Device.device_id).limit(limit).offset(offset))
    return rows.all(), total or 0


async def ids(session: AsyncSession, tenant_id: str, *, limit: int, offset: int) -> Sequence[str]:
    query = select(Device.device_id).where(Device.tenant_id == tenant_id)
    return (await session.scalars(query.order_by(Device.device_id).limit(limit).offset(offset))).all()


async def with_type(session: AsyncSession, device_id: str) -> tuple[Device, DeviceType | None] | None:
    """The device and its device type (for the metric rules), in one round trip."""
    join = and_(DeviceType.tenant_id == Device.tenant_id, DeviceType.name == Device.type)
    query = select(Device, DeviceType).outerjoin(DeviceType, join).where(Device.device_id == device_id)
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row else None


def _filtered(
    query: Select[Device], tenant_id: str, type: str | None, enabled: bool | None, tags: dict[str, str]
) -> Select[Device]:
    query = query.where(Device.tenant_id == tenant_id)
    if type is not None:
        query = query.where(Device.type == type)
    if enabled is not None:
        query = query.where(Device.enabled == enabled)
    for key, value in tags.items():
        query = query.where(Device.tags[key].as_string() == value)
    return query
