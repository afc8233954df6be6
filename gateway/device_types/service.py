"""Device-type logic. A change alters how readings validate, so cached device state is dropped at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.auth.principal import UserPrincipal
from gateway.device_types import repository
from gateway.device_types.models import DeviceType
from gateway.device_types.schemas import DeviceTypeIn, DeviceTypeOut
from gateway.errors import Conflict, NotFound, Unprocessable


async def get(session: AsyncSession, user: UserPrincipal, name: str) -> DeviceType:
    device_type = await repository.get(session, user.tenant_id, name)
    if device_type is None:
        raise NotFound(f"no device type {name!r}")
    return device_type


async def list_all(session: AsyncSession, user: UserPrincipal) -> Sequence[DeviceType]:
    return await repository.list_all(session, user.tenant_id)


async def create(session: AsyncSession, user: UserPrincipal, body: DeviceTypeIn) -> DeviceType:
    device_type = DeviceType(tenant_id=user.tenant_id, **_fields(body), name=body.name)
    session.add(device_type)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"device type {body.name!r} already exists") from None
    return device_type


async def replace(
    session: AsyncSession, user: UserPrincipal, name: str, body: DeviceTypeIn, changed: Callable[[], None]
) -> DeviceType:
    device_type = await get(session, user, name)
    if body.name != name:
        raise Unprocessable("the name in the body must match the path (device types cannot be renamed)")
    for field, value in _fields(body).items():
        setattr(device_type, field, value)
    await session.commit()
    changed()
    return device_type


async def delete(session: AsyncSession, user: UserPrincipal, name: str, changed: Callable[[], None]) -> None:
    device_type = await get(session, user, name)
    if await repository.in_use(session, user.tenant_id, name):
        raise Conflict(f"device type {name!r} is used by devices; change their type first")
    await session.delete(device_type)
    try:
        await session.commit()
    except IntegrityError:  # a device took this type meanwhile
        await session.rollback()
        raise Conflict(f"device type {name!r} is used by devices; change their type first") from None
    changed()


def _fields(body: DeviceTypeIn) -> dict[str, object]:
    metrics = body.model_dump(mode="json", exclude_none=True)["metrics"]
    return {"metrics": metrics, "allow_unknown_metrics": body.allow_unknown_metrics}


def to_out(device_type: DeviceType) -> DeviceTypeOut:
    return DeviceTypeOut.model_validate(device_type, from_attributes=True)
