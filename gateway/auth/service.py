"""Logins, sessions and their tokens; device tokens; turning a presented token into a principal.

A login starts a server-side session (see ``auth.models``). An API login gets an access token and a refresh
token; a web login gets one cookie token (type ``web``) lasting as long as the session. Either way the session
is checked on every request, so logout and refresh-token reuse end it at once.
"""

from __future__ import annotations

import math
import secrets
from datetime import timedelta
from typing import Literal

from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import security
from gateway.auth import repository
from gateway.auth.models import AuthSession
from gateway.auth.principal import UserPrincipal
from gateway.auth.schemas import DeviceToken, DeviceTokenIn, TokenPair
from gateway.config import Settings
from gateway.db.base import utcnow
from gateway.devices import repository as devices
from gateway.devices.auth import SCOPE
from gateway.errors import TooManyRequests, Unauthorized, Unprocessable
from gateway.users import service as users
from gateway.users.models import Role, User


async def check_login(
    session: AsyncSession,
    hasher: PasswordHasher,
    settings: Settings,
    username: str,
    password: str,
    address: str,
) -> User:
    """The user for a correct password. Failures count per username and per address; too many -> 429."""
    keys = [f"user:{username}", f"addr:{address}"]
    now = utcnow()
    if until := await repository.locked_until(session, keys, now):
        retry_after = math.ceil((until - now).total_seconds())
        raise TooManyRequests("too many failed logins; try again later", retry_after=retry_after)
    user = await users.authenticate(session, hasher, username, password)
    if user is None:
        window = timedelta(seconds=settings.login_lockout_s)
        for key in keys:
            await repository.count_failure(
                session, key, now, window=window, max_failures=settings.login_max_failures
            )
        await session.commit()
        raise Unauthorized("wrong username or password")
    await repository.clear_failures(session, keys[0])
    return user


async def start_api_session(
    session: AsyncSession, keys: security.KeyRing, settings: Settings, user: User
) -> TokenPair:
    session_id = secrets.token_urlsafe(24)
    pair, refresh_jti = _pair(
        keys, settings, user.id, user.tenant_id, session_id, settings.refresh_token_ttl_s
    )
    _add_session(session, settings, user, session_id, refresh_jti)
    await session.commit()
    return pair


async def start_web_session(
    session: AsyncSession, keys: security.KeyRing, settings: Settings, user: User
) -> tuple[str, int]:
    """The cookie token and its lifetime in seconds."""
    session_id, ttl = secrets.token_urlsafe(24), settings.refresh_token_ttl_s
    token, _ = security.issue(
        keys, settings, kind="web", subject=user.id, tenant=user.tenant_id, ttl_s=ttl, sid=session_id
    )
    _add_session(session, settings, user, session_id, refresh_jti="")
    await session.commit()
    return token, ttl


async def refresh(
    session: AsyncSession, keys: security.KeyRing, settings: Settings, refresh_token: str
) -> TokenPair:
    """New access and refresh tokens. A refresh token works once: reusing one revokes its whole session."""
    claims = security.verify(keys, settings, refresh_token, kind="refresh")
    session_id, now = str(claims.get("sid")), utcnow()
    remaining = int(claims["exp"] - now.timestamp())
    pair, refresh_jti = _pair(keys, settings, claims["sub"], claims["tenant"], session_id, remaining)
    if not await repository.rotate_refresh(session, session_id, claims["jti"], refresh_jti, now):
        await repository.revoke(session, session_id, now)
        await session.commit()
        raise Unauthorized("refresh token already used or session ended; the session is now revoked")
    await session.commit()
    return pair


async def logout(session: AsyncSession, user: UserPrincipal) -> None:
    await repository.revoke(session, user.session_id, utcnow())
    await session.commit()


async def resolve_user(
    session: AsyncSession,
    keys: security.KeyRing,
    settings: Settings,
    token: str,
    via: Literal["bearer", "cookie"],
) -> UserPrincipal:
    """The principal behind an access token (Bearer) or web token (cookie) whose session is still live."""
    claims = security.verify(keys, settings, token, kind="access" if via == "bearer" else "web")
    row = await repository.live_session(session, str(claims.get("sid")), claims["sub"], utcnow())
    if row is None or row[1].tenant_id != claims["tenant"]:
        raise Unauthorized("session ended; log in again")
    auth_session, user = row
    return UserPrincipal(
        user.id, user.username, user.tenant_id, Role(user.role), auth_session.id, via, auth_session.csrf_token
    )


async def device_token(
    session: AsyncSession,
    hasher: PasswordHasher,
    keys: security.KeyRing,
    settings: Settings,
    body: DeviceTokenIn,
) -> DeviceToken:
    """A short-lived token that may only write the device's own readings; it carries the secret version."""
    ttl = body.ttl_s or settings.device_token_ttl_s
    if ttl > settings.device_token_max_ttl_s:
        raise Unprocessable(f"ttl_s must be at most {settings.device_token_max_ttl_s}")
    device = await devices.get(session, body.device_id)
    secret_ok = await security.verify_secret(hasher, device.secret_hash if device else None, body.secret)
    if device is None or not secret_ok:
        raise Unauthorized("unknown device or wrong secret")
    if not device.enabled:
        raise Unauthorized("device is disabled")
    token, _ = security.issue(
        keys,
        settings,
        kind="device",
        subject=device.device_id,
        tenant=device.tenant_id,
        ttl_s=ttl,
        ver=device.secret_version,
        scope=SCOPE,
    )
    return DeviceToken(access_token=token, expires_in=ttl)


def _add_session(
    session: AsyncSession, settings: Settings, user: User, session_id: str, refresh_jti: str
) -> None:
    expires_at = utcnow() + timedelta(seconds=settings.refresh_token_ttl_s)
    csrf_token = secrets.token_urlsafe(32)
    repository.add_session(
        session,
        AuthSession(
            id=session_id,
            user_id=user.id,
            refresh_jti=refresh_jti,
            csrf_token=csrf_token,
            expires_at=expires_at,
        ),
    )


def _pair(
    keys: security.KeyRing, settings: Settings, user_id: str, tenant: str, session_id: str, refresh_ttl_s: int
) -> tuple[TokenPair, str]:
    """Access and refresh tokens of one session, and the refresh token's id."""
    common = {"subject": user_id, "tenant": tenant, "sid": session_id}
    refresh_token, claims = security.issue(
        keys, settings, kind="refresh", ttl_s=max(1, refresh_ttl_s), **common
    )
    access_ttl = settings.access_token_ttl_s
    access_token, _ = security.issue(keys, settings, kind="access", ttl_s=access_ttl, **common)
    return TokenPair(access_token=access_token, refresh_token=refresh_token, expires_in=access_ttl), claims[
        "jti"
    ]
