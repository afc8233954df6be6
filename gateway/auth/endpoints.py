"""Routes of /api/v1/auth and /.well-known/jwks.json."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from gateway.auth import cookies, service
from gateway.auth.schemas import DeviceToken, DeviceTokenIn, LoginIn, Me, RefreshIn, TokenPair
from gateway.deps import ClientAddress, CurrentUser, HasherDep, KeyRingDep, LoginForm, SessionDep, SettingsDep

router = APIRouter(prefix="/auth", tags=["auth"])
jwks_router = APIRouter(tags=["auth"])

_LOGIN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": LoginIn.model_json_schema()},
            "application/x-www-form-urlencoded": {"schema": LoginIn.model_json_schema()},
        },
    }
}


@router.post("/login", openapi_extra=_LOGIN_BODY)
async def login(
    credentials: LoginForm,
    address: ClientAddress,
    session: SessionDep,
    hasher: HasherDep,
    keys: KeyRingDep,
    settings: SettingsDep,
) -> TokenPair:
    """Access and refresh tokens for a username and password (JSON, or the OAuth2 password form)."""
    user = await service.check_login(
        session, hasher, settings, credentials.username, credentials.password, address
    )
    return await service.start_api_session(session, keys, settings, user)


@router.post("/refresh")
async def refresh(body: RefreshIn, session: SessionDep, keys: KeyRingDep, settings: SettingsDep) -> TokenPair:
    """Trade a refresh token (once) for new access and refresh tokens."""
    return await service.refresh(session, keys, settings, body.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(user: CurrentUser, session: SessionDep, settings: SettingsDep, response: Response) -> None:
    """End the session: its access, refresh and cookie tokens stop working."""
    await service.logout(session, user)
    cookies.clear(response, settings)


@router.get("/me")
async def me(user: CurrentUser) -> Me:
    return Me(user_id=user.user_id, username=user.username, tenant_id=user.tenant_id, role=user.role)


@router.post("/device-token")
async def device_token(
    body: DeviceTokenIn, session: SessionDep, hasher: HasherDep, keys: KeyRingDep, settings: SettingsDep
) -> DeviceToken:
    """A short-lived token for a device id and secret, good only for writing that device's readings."""
    return await service.device_token(session, hasher, keys, settings, body)


@jwks_router.get("/.well-known/jwks.json")
async def jwks(keys: KeyRingDep) -> dict[str, Any]:
    """The public keys that verify this gateway's tokens (empty with HS256, whose key is secret)."""
    return keys.jwks()
