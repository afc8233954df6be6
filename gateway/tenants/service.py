"""Tenants are created on first use (by the CLI or the first-admin bootstrap), never through the API."""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.errors import Unprocessable
from gateway.tenants import repository
from gateway.tenants.models import Tenant

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


async def ensure(session: AsyncSession, tenant_id: str) -> Tenant:
    """The tenant, added to the session when new (the caller commits)."""
    if not TENANT_ID.fullmatch(tenant_id):
        raise Unprocessable(f"tenant {tenant_id!r} must be 1-64 lowercase letters, digits, '-' or '_'")
    return await repository.get(session, tenant_id) or repository.add(session, tenant_id)
