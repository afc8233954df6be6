"""Every tenant query."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.tenants.models import Tenant


async def get(session: AsyncSession, tenant_id: str) -> Tenant | None:
    return await session.get(Tenant, tenant_id)


def add(session: AsyncSession, tenant_id: str) -> Tenant:
    tenant = Tenant(id=tenant_id)
    session.add(tenant)
    return tenant
