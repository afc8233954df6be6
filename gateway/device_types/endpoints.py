"""Routes of /api/v1/device-types."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from gateway.deps import CurrentUser, DeviceAuthDep, RequireOperator, SessionDep
from gateway.device_types import service
from gateway.device_types.schemas import DeviceTypeIn, DeviceTypeOut

router = APIRouter(prefix="/device-types", tags=["device types"])


@router.get("")
async def list_device_types(user: CurrentUser, session: SessionDep) -> list[DeviceTypeOut]:
    return [service.to_out(t) for t in await service.list_all(session, user)]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_device_type(
    body: DeviceTypeIn, user: RequireOperator, session: SessionDep, request: Request, response: Response
) -> DeviceTypeOut:
    device_type = await service.create(session, user, body)
    response.headers["Location"] = str(request.url_for("get_device_type", name=device_type.name))
    return service.to_out(device_type)


@router.get("/{name}")
async def get_device_type(name: str, user: CurrentUser, session: SessionDep) -> DeviceTypeOut:
    return service.to_out(await service.get(session, user, name))


@router.put("/{name}")
async def replace_device_type(
    name: str, body: DeviceTypeIn, user: RequireOperator, session: SessionDep, device_auth: DeviceAuthDep
) -> DeviceTypeOut:
    """Replace the metric rules; devices of this type are validated by the new rules at once."""
    return service.to_out(await service.replace(session, user, name, body, device_auth.invalidate_all))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_device_type(
    name: str, user: RequireOperator, session: SessionDep, device_auth: DeviceAuthDep
) -> None:
    """Delete an unused device type (409 while devices have it)."""
    await service.delete(session, user, name, device_auth.invalidate_all)
