"""The web session cookie and its CSRF check, for the server-rendered pages.

The cookie is HttpOnly and SameSite=Lax, and holds a ``web`` token naming a server-side session. Every
state-changing request authenticated by the cookie must also carry the session's CSRF token, in the
``X-CSRF-Token`` header or a ``csrf_token`` form field; pages render it from ``UserPrincipal.csrf_token``.
"""

from __future__ import annotations

import hmac

from argon2 import PasswordHasher
from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import security
from gateway.auth import service
from gateway.auth.principal import UserPrincipal
from gateway.config import Settings
from gateway.errors import Forbidden

SESSION_COOKIE = "gateway_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def login(
    response: Response,
    session: AsyncSession,
    hasher: PasswordHasher,
    keys: security.KeyRing,
    settings: Settings,
    *,
    username: str,
    password: str,
    address: str,
) -> None:
    """Check the password (throttled like the API login) and set the session cookie on ``response``."""
    user = await service.check_login(session, hasher, settings, username, password, address)
    token, max_age = await service.start_web_session(session, keys, settings, user)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )


def clear(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=settings.cookie_secure
    )


async def check_csrf(request: Request, user: UserPrincipal) -> None:
    """403 for a cookie-authenticated, state-changing request without the session's CSRF token."""
    if user.via != "cookie" or request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(FORM_TYPES):
        field = (await request.form()).get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if sent is None or not hmac.compare_digest(sent.encode(), user.csrf_token.encode()):
        raise Forbidden("missing or wrong CSRF token")
