"""Every FastAPI dependency, named once as an ``Annotated`` alias for the endpoints to declare."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from argon2 import PasswordHasher
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import security
from gateway.auth import cookies
from gateway.auth import service as auth
from gateway.auth.principal import UserPrincipal
from gateway.auth.schemas import LoginIn
from gateway.config import Settings
from gateway.devices.auth import DeviceAuthenticator, DevicePrincipal
from gateway.devices.service import Hook
from gateway.errors import Forbidden, Unauthorized
from gateway.users.models import Role

_user_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login", auto_error=False)
_device_bearer = HTTPBearer(
    scheme_name="DeviceToken", description="a device token from /api/v1/auth/device-token", auto_error=False
)


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


async def _keys(request: Request) -> security.KeyRing:
    keys: security.KeyRing = request.app.state.keyring
    return keys


async def _hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.hasher
    return hasher


async def _device_auth(request: Request) -> DeviceAuthenticator:
    device_auth: DeviceAuthenticator = request.app.state.device_auth
    return device_auth


async def _device_hooks(request: Request) -> list[Hook]:
    """What must follow device changes besides the registry (components append to ``app.state.device_hooks``)."""
    hooks: list[Hook] = getattr(request.app.state, "device_hooks", [])
    return hooks


async def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


SettingsDep = Annotated[Settings, Depends(_settings)]
SessionDep = Annotated[AsyncSession, Depends(_session)]
KeyRingDep = Annotated[security.KeyRing, Depends(_keys)]
HasherDep = Annotated[PasswordHasher, Depends(_hasher)]
DeviceAuthDep = Annotated[DeviceAuthenticator, Depends(_device_auth)]
DeviceHooksDep = Annotated[list[Hook], Depends(_device_hooks)]
ClientAddress = Annotated[str, Depends(_client_address)]


async def _login_form(request: Request) -> LoginIn:
    """The login body as JSON or as the OAuth2 password form (what the /docs Authorize button sends)."""
    try:
        if request.headers.get("content-type", "").startswith(cookies.FORM_TYPES):
            form = await request.form()
            return LoginIn.model_validate(
                {"username": form.get("username"), "password": form.get("password")}
            )
        return LoginIn.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


LoginForm = Annotated[LoginIn, Depends(_login_form)]


async def _current_user(
    request: Request,
    session: SessionDep,
    keys: KeyRingDep,
    settings: SettingsDep,
    bearer: Annotated[str | None, Depends(_user_bearer)],
) -> UserPrincipal:
    """A Bearer access token, else the web session cookie (its unsafe requests must carry the CSRF token)."""
    if bearer:
        return await auth.resolve_user(session, keys, settings, bearer, via="bearer")
    cookie = request.cookies.get(cookies.SESSION_COOKIE)
    if not cookie:
        raise Unauthorized("log in first: no Bearer token and no session cookie")
    user = await auth.resolve_user(session, keys, settings, cookie, via="cookie")
    await cookies.check_csrf(request, user)
    return user


CurrentUser = Annotated[UserPrincipal, Depends(_current_user)]


async def _operator(user: CurrentUser) -> UserPrincipal:
    if not user.can_write:
        raise Forbidden("viewers cannot change anything")
    return user


async def _admin(user: CurrentUser) -> UserPrincipal:
    if user.role != Role.admin:
        raise Forbidden("only admins may do this")
    return user


RequireOperator = Annotated[UserPrincipal, Depends(_operator)]
RequireAdmin = Annotated[UserPrincipal, Depends(_admin)]


async def _current_device(
    device_auth: DeviceAuthDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_device_bearer)],
) -> DevicePrincipal:
    if credentials is None:
        raise Unauthorized("a device token is required")
    return await device_auth.authenticate(credentials.credentials)


CurrentDevice = Annotated[DevicePrincipal, Depends(_current_device)]
