"""Routes of /api/v1/devices."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response, status

from gateway.deps import CurrentUser, DeviceAuthDep, DeviceHooksDep, HasherDep, RequireOperator, SessionDep
from gateway.devices import service
from gateway.devices.schemas import DeviceFields, DeviceOut, DevicePage, DeviceWithSecret, Status
from gateway.errors import Unprocessable

router = APIRouter(prefix="/devices", tags=["devices"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_device(
    body: DeviceFields,
    user: RequireOperator,
    session: SessionDep,
    hasher: HasherDep,
    device_auth: DeviceAuthDep,
    hooks: DeviceHooksDep,
    request: Request,
    response: Response,
) -> DeviceWithSecret:
    """Register a device; the reply holds its secret, shown only once. ``device_id`` defaults to a uuid."""
    device = await service.create(session, hasher, user.tenant_id, body, device_auth.invalidate, hooks)
    response.headers["Location"] = str(request.url_for("get_device", device_id=device.device_id))
    return device


@router.get("")
async def list_devices(
    user: CurrentUser,
    session: SessionDep,
    type: str | None = None,
    status: Status | None = None,
    tag: Annotated[list[str], Query(description="key:value, repeatable (all must match)")] = [],  # noqa: B006
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DevicePage:
    tags = dict(t.split(":", 1) for t in tag if ":" in t)
    if len(tags) != len(tag):
        raise Unprocessable(
            "each tag filter must be key:value", errors=[{"loc": ["query", "tag"], "msg": "key:value"}]
        )
    return await service.list_page(
        session, user, type=type, status=status, tags=tags, limit=limit, offset=offset
    )


@router.get("/{device_id}")
async def get_device(device_id: str, user: CurrentUser, session: SessionDep) -> DeviceOut:
    return service.to_out(await service.get_visible(session, user, device_id))


@router.put("/{device_id}")
async def replace_device(
    device_id: str,
    body: DeviceFields,
    user: RequireOperator,
    session: SessionDep,
    device_auth: DeviceAuthDep,
    hooks: DeviceHooksDep,
) -> DeviceOut:
    """Replace the document: optional fields left out are reset to their defaults."""
    return await service.replace(session, user, device_id, body, device_auth.invalidate, hooks)


@router.patch("/{device_id}")
async def patch_device(
    device_id: str,
    patch: Annotated[dict[str, Any], Body(media_type="application/merge-patch+json")],
    user: RequireOperator,
    session: SessionDep,
    device_auth: DeviceAuthDep,
    hooks: DeviceHooksDep,
) -> DeviceOut:
    """JSON merge patch (RFC 7396): only the fields sent change; ``null`` resets one."""
    return await service.patch(session, user, device_id, patch, device_auth.invalidate, hooks)


@router.delete("/{device_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_device(
    device_id: str, user: RequireOperator, session: SessionDep, device_auth: DeviceAuthDep, hooks: DeviceHooksDep
) -> None:
    """Delete the device; its tokens (and its broker login, when the gateway manages them) stop working at once."""
    await service.delete(session, user, device_id, device_auth.invalidate, hooks)


@router.post("/{device_id}/secret")
async def rotate_secret(
    device_id: str,
    user: RequireOperator,
    session: SessionDep,
    hasher: HasherDep,
    device_auth: DeviceAuthDep,
    hooks: DeviceHooksDep,
) -> DeviceWithSecret:
    """A new secret, shown this once; the old secret and its tokens stop working."""
    return await service.rotate_secret(session, hasher, user, device_id, device_auth.invalidate, hooks)
