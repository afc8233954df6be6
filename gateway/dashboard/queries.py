"""The registry reads only the overview needs: a text search over devices, and the tag values to filter by."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.devices.models import Device

MAX_TAG_OPTIONS = 200


async def search(
    session: AsyncSession,
    tenant_id: str,
    *,
    text: str,
    type: str | None,
    tag: tuple[str, str] | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[Device], int]:
    """A page of the tenant's devices whose id or name contains ``text``, of ``type``, with ``tag``."""
    query = select(Device).where(Device.tenant_id == tenant_id)
    if text:
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                func.lower(Device.name).like(pattern, escape="\\"),
                func.lower(Device.device_id).like(pattern, escape="\\"),
            )
        )
    if type:
        query = query.where(Device.type == type)
    if tag:
        query = query.where(Device.tags[tag[0]].as_string() == tag[1])
    total = await session.scalar(query.with_only_columns(func.count()).order_by(None))
    rows = await session.scalars(query.order_by(Device.name, Device.device_id).limit(limit).offset(offset))
    return rows.all(), total or 0


async def tag_options(session: AsyncSession, tenant_id: str) -> list[tuple[str, str]]:
    """Distinct ``(key, value)`` tags of the tenant's devices, sorted, at most ``MAX_TAG_OPTIONS``."""
    pairs: set[tuple[str, str]] = set()
    for tags in await session.scalars(select(Device.tags).where(Device.tenant_id == tenant_id)):
        pairs.update((tags or {}).items())
    return sorted(pairs)[:MAX_TAG_OPTIONS]
