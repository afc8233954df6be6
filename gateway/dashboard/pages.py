"""Rendering pages: the Jinja2 environment, security headers, and errors as pages instead of problem+json.

A page that needs a login sends the visitor to ``/login`` (and back afterwards); any other error renders a
friendly page with the same status code.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.routing import Match

from gateway import __version__
from gateway.auth import cookies
from gateway.auth import service as auth
from gateway.auth.principal import UserPrincipal
from gateway.dashboard import charts
from gateway.deps import KeyRingDep, SessionDep, SettingsDep
from gateway.errors import GatewayError, Unauthorized

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
LOGIN_CSRF_COOKIE = "gateway_login_csrf"
SECURITY_HEADERS = {
    # Nothing external may load; inline style attributes only position chart labels.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
NAV = [("overview", "Fleet", "/"), ("exports", "Exports", "/exports")]

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["value"] = charts.format_value
templates.env.globals["version"] = __version__


def _iso(ts_ms: int | None) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(timespec="seconds") if ts_ms else ""


def _ago(ts_ms: int | None) -> str:
    """'just now', '5 min ago', '3 h ago', '2 d ago' (the browser keeps it current)."""
    if not ts_ms:
        return "never"
    seconds = max(0, (datetime.now(UTC).timestamp() * 1000 - ts_ms) / 1000)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


templates.env.filters["iso"] = _iso
templates.env.filters["ago"] = _ago


def _has_page(request: Request, path: str) -> bool:
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": [], "query_string": b""}
    return any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes)


def nav(request: Request, current: str) -> list[dict[str, Any]]:
    """The nav items whose pages exist (Exports appears once a ``GET /exports`` page is installed)."""
    return [
        {"key": key, "label": label, "href": href, "current": key == current}
        for key, label, href in NAV
        if _has_page(request, href)
    ]


def render(
    request: Request,
    template: str,
    *,
    user: UserPrincipal | None,
    status: int = 200,
    current: str = "",
    no_store: bool = False,
    **context: Any,
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        template,
        {"user": user, "nav": nav(request, current) if user else [], "settings": request.app.state.settings, **context},
        status_code=status,
    )
    if no_store:
        response.headers["Cache-Control"] = "no-store"
    return response


def safe_next(target: str | None) -> str:
    """A local path to return to after login; anything else (other hosts, schemes) becomes ``/``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_form(request: Request, *, status: int = 200, **context: Any) -> HTMLResponse:
    """The login page with a fresh form token, also set as a cookie (double submit: a forged login lacks it)."""
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", user=None, status=status, csrf=token, no_store=True, **context)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict", path="/login")
    return response


def login_token_ok(request: Request, sent: str) -> bool:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    return bool(sent and expected) and hmac.compare_digest(sent.encode(), expected.encode())


async def _maybe_user(
    request: Request, session: SessionDep, keys: KeyRingDep, settings: SettingsDep
) -> UserPrincipal | None:
    cookie = request.cookies.get(cookies.SESSION_COOKIE)
    if not cookie:
        return None
    try:
        return await auth.resolve_user(session, keys, settings, cookie, via="cookie")
    except Unauthorized:
        return None


MaybeUser = Annotated[UserPrincipal | None, Depends(_maybe_user)]


class PageRoute(APIRoute):
    """HTML routes: security headers; a missing login redirects to /login; other errors become pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                response = await handler(request)
            except Unauthorized:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                suffix = "" if target == "/" else f"?next={quote(target)}"
                response = RedirectResponse(f"/login{suffix}", status_code=303)
            except GatewayError as exc:
                response = error_page(request, exc.status, exc.title, exc.detail)
            except RequestValidationError:
                response = error_page(request, 400, "Bad Request", "Some part of the address is not valid.")
            response.headers.update(SECURITY_HEADERS)
            return response

        return page


def error_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    return render(request, "error.html", user=None, status=status, title=title, detail=detail, code=status)
