"""Device logic: tenant scoping, secrets (kept only as argon2id hashes), telling the authenticator of changes.

Every change calls ``changed(device_id)`` after it commits, so this process stops honouring the device's old
tokens at once (other processes within ``device_state_cache_ttl_s``). Then it awaits each of ``hooks`` with a
``Change``: credential stores outside the registry (the MQTT broker's device logins) follow at once, and get the
plaintext secret on create and rotate, the only moments it exists. A failing hook is logged, never raised: the
change is committed and the reply (with a secret shown once) must still go out.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import security
from gateway.auth.principal import UserPrincipal
from gateway.device_types import repository as device_types
from gateway.devices import repository
from gateway.devices.models import Device
from gateway.devices.schemas import DeviceFields, DeviceOut, DevicePage, DeviceWithSecret, Status
from gateway.errors import Conflict, NotFound, Unprocessable

Changed = Callable[[str], None]
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Change:
    """A committed change of one device, as a credential store outside the registry needs it."""

    device_id: str
    enabled: bool
    deleted: bool = False
    secret: str | None = None  # the new plaintext secret: only on create and rotate


Hook = Callable[[Change], Awaitable[None]]


async def _tell(hooks: Sequence[Hook], change: Change) -> None:
    for hook in hooks:
        try:
            await hook(change)
        except Exception:
            log.exception("device hook failed for %r; rotate its secret to retry", change.device_id)


async def get_visible(session: AsyncSession, user: UserPrincipal, device_id: str) -> Device:
    """The device if it is in the user's tenant; 404 otherwise, whether or not another tenant has it."""
    device = await repository.get_in_tenant(session, user.tenant_id, device_id)
    if device is None:
        raise NotFound(f"no device {device_id!r}")
    return device


async def list_ids(
    session: AsyncSession, user: UserPrincipal, *, limit: int = 1000, offset: int = 0
) -> list[str]:
    """The ids of the user's tenant's devices, in id order, one page at a time."""
    return list(await repository.ids(session, user.tenant_id, limit=limit, offset=offset))


async def list_page(
    session: AsyncSession,
    user: UserPrincipal,
    *,
    type: str | None,
    status: Status | None,
    tags: dict[str, str],
    limit: int,
    offset: int,
) -> DevicePage:
    enabled = None if status is None else status == "active"
    rows, total = await repository.page(
        session, user.tenant_id, type=type, enabled=enabled, tags=tags, limit=limit, offset=offset
    )
    return DevicePage(items=[to_out(d) for d in rows], total=total, limit=limit, offset=offset)


async def create(
    session: AsyncSession,
    hasher: PasswordHasher,
    tenant_id: str,
    body: DeviceFields,
    changed: Changed,
    hooks: Sequence[Hook] = (),
) -> DeviceWithSecret:
    """A new device in ``tenant_id`` (the caller's, or the CLI's ``--tenant``) with a fresh secret."""
    await _check_type(session, tenant_id, body.type)
    secret = security.new_secret()
    device = Device(
        device_id=body.device_id or uuid.uuid4().hex,
        tenant_id=tenant_id,
        secret_hash=await security.hash_secret(hasher, secret),
        **_fields(body),
    )
    session.add(device)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"device {device.device_id!r} already exists") from None
    changed(device.device_id)
    await _tell(hooks, Change(device.device_id, device.enabled, secret=secret))
    return DeviceWithSecret(**to_out(device).model_dump(), secret=secret)


async def replace(
    session: AsyncSession,
    user: UserPrincipal,
    device_id: str,
    body: DeviceFields,
    changed: Changed,
    hooks: Sequence[Hook] = (),
) -> DeviceOut:
    device = await get_visible(session, user, device_id)
    if body.device_id not in (None, device_id):
        raise Unprocessable(
            "device_id cannot change", errors=[_error(("device_id",), "does not match the path")]
        )
    await _check_type(session, user.tenant_id, body.type)
    for field, value in _fields(body).items():
        setattr(device, field, value)
    await session.commit()
    changed(device_id)
    await _tell(hooks, Change(device_id, device.enabled))
    return to_out(device)


async def patch(
    session: AsyncSession,
    user: UserPrincipal,
    device_id: str,
    patch: dict[str, Any],
    changed: Changed,
    hooks: Sequence[Hook] = (),
) -> DeviceOut:
    """Apply a JSON merge patch (RFC 7396): sent fields change, ``null`` removes, the rest stays."""
    device = await get_visible(session, user, device_id)
    document = to_out(device).model_dump(mode="json", include=set(DeviceFields.model_fields))
    try:
        body = DeviceFields.model_validate(merge_patch(document, patch))
    except ValidationError as exc:
        errors = [_error(e["loc"], e["msg"], e["type"]) for e in exc.errors()]
        raise Unprocessable("The request has invalid fields", errors=errors) from None
    return await replace(session, user, device_id, body, changed, hooks)


async def delete(
    session: AsyncSession, user: UserPrincipal, device_id: str, changed: Changed, hooks: Sequence[Hook] = ()
) -> None:
    await session.delete(await get_visible(session, user, device_id))
    await session.commit()
    changed(device_id)
    await _tell(hooks, Change(device_id, enabled=False, deleted=True))


async def rotate_secret(
    session: AsyncSession,
    hasher: PasswordHasher,
    user: UserPrincipal,
    device_id: str,
    changed: Changed,
    hooks: Sequence[Hook] = (),
) -> DeviceWithSecret:
    """A new secret; the old one and every token issued with it stop working (``secret_version`` goes up)."""
    device = await get_visible(session, user, device_id)
    secret = security.new_secret()
    device.secret_hash = await security.hash_secret(hasher, secret)
    device.secret_version += 1
    await session.commit()
    changed(device_id)
    await _tell(hooks, Change(device_id, device.enabled, secret=secret))
    return DeviceWithSecret(**to_out(device).model_dump(), secret=secret)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def to_out(device: Device) -> DeviceOut:
    return DeviceOut(
        device_id=device.device_id,
        name=device.name,
        type=device.type,
        tags=device.tags,
        metadata=device.meta,
        enabled=device.enabled,
        status="active" if device.enabled else "disabled",
        secret_version=device.secret_version,
        created_at=device.created_at,
        updated_at=device.updated_at,
    )


def _fields(body: DeviceFields) -> dict[str, Any]:
    return {
        "name": body.name,
        "type": body.type,
        "tags": body.tags,
        "meta": body.metadata,
        "enabled": body.enabled,
    }


async def _check_type(session: AsyncSession, tenant_id: str, type: str | None) -> None:
    if type is not None and await device_types.get(session, tenant_id, type) is None:
        raise Unprocessable(f"no device type {type!r}", errors=[_error(("type",), "names no device type")])


def _error(loc: Sequence[int | str], msg: str, type: str = "value_error") -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": type}
