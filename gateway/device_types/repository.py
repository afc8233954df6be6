"""Every device-type query; each is scoped to one tenant."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.device_types.models import DeviceType
from gateway.devices.models import Device


async def get(session: AsyncSession, tenant_id: str, name: str) -> DeviceType | None:
    return await session.get(DeviceType, (tenant_id, name))


async def list_all(session: AsyncSession, tenant_id: str) -> Sequence[DeviceType]:
    query = select(DeviceType).where(DeviceType.tenant_id == tenant_id).order_by(DeviceType.name)
    return (await session.scalars(query)).all()


async def in_use(session: AsyncSession, tenant_id: str, name: str) -> bool:
    query = select(exists().where(Device.tenant_id == tenant_id, Device.type == name))
    return bool(await session.scalar(query))
