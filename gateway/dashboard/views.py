"""Routes of the server-rendered dashboard. Routes only: the views are built in service.py."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.auth import cookies
from gateway.auth import service as auth
from gateway.auth.principal import UserPrincipal
from gateway.dashboard import device_page, overview
from gateway.dashboard.forms import DeviceForm, firmware_config
from gateway.dashboard.pages import (
    LOGIN_CSRF_COOKIE,
    STATIC_DIR,
    MaybeUser,
    PageRoute,
    login_form,
    login_token_ok,
    render,
    safe_next,
)
from gateway.deps import (
    ClientAddress,
    CurrentUser,
    DeviceAuthDep,
    HasherDep,
    KeyRingDep,
    RequireOperator,
    SessionDep,
    SettingsDep,
)
from gateway.device_types import service as device_types
from gateway.devices import service as devices
from gateway.devices.schemas import DeviceWithSecret
from gateway.errors import Conflict, TooManyRequests, Unauthorized, Unprocessable
from gateway.live.hub import Hub
from gateway.readings.service import QueryCache
from gateway.storage.base import Reader

router = APIRouter(route_class=PageRoute, include_in_schema=False)
RangeKey = Literal["1h", "24h", "7d"]


def _state(request: Request) -> tuple[Reader, QueryCache, Hub]:
    return request.app.state.store, request.app.state.query_cache, request.app.state.live


ReadSide = Annotated[tuple[Reader, QueryCache, Hub], Depends(_state)]


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# session ---------------------------------------------------------------------------------------------------
@router.get("/login")
async def login_page(request: Request, user: MaybeUser, next: str | None = None) -> Response:
    if user is not None:
        return _see_other(safe_next(next))
    return login_form(request, next=safe_next(next), username="", error="")


@router.post("/login")
async def login(
    request: Request,
    session: SessionDep,
    hasher: HasherDep,
    keys: KeyRingDep,
    settings: SettingsDep,
    address: ClientAddress,
) -> Response:
    form = await request.form()
    username, password, token, target = (str(form.get(k) or "") for k in ("username", "password", "csrf_token", "next"))
    status, error = 400, ""
    if not login_token_ok(request, token):
        error = "This sign-in form expired. Please try again."
    elif not username.strip() or not password:
        error, status = "Enter your username and password.", 422
    else:
        response = _see_other(safe_next(target))
        try:
            await cookies.login(
                response, session, hasher, keys, settings, username=username, password=password, address=address
            )
        except TooManyRequests as exc:
            wait = exc.headers.get("Retry-After", "a few")
            error, status = f"Too many failed attempts. Try again in {wait} seconds.", 429
        except Unauthorized:
            error, status = "Wrong username or password.", 401
        else:
            response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
            return response
    return login_form(request, status=status, next=safe_next(target), username=username, error=error)


@router.post("/logout")
async def logout(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> Response:
    await auth.logout(session, user)
    response = _see_other("/login")
    cookies.clear(response, settings)
    return response


# viewing ---------------------------------------------------------------------------------------------------
@router.get("/")
async def fleet(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    read: ReadSide,
    q: Annotated[str, Query(max_length=100)] = "",
    type: Annotated[str, Query(max_length=64)] = "",
    tag: Annotated[str, Query(max_length=330)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    deleted: Annotated[str, Query(max_length=128)] = "",
) -> Response:
    view = await overview.overview(session, user, *read, settings, text=q, type=type, tag=tag, page=page)
    return render(request, "overview.html", user=user, current="overview", view=view, deleted=deleted)


@router.get("/devices/new")
async def new_device(request: Request, user: RequireOperator, session: SessionDep) -> Response:
    return await _device_form(request, user, session, DeviceForm(), creating=True)


@router.post("/devices/new")
async def create_device(
    request: Request, user: RequireOperator, session: SessionDep, hasher: HasherDep, device_auth: DeviceAuthDep
) -> Response:
    form = DeviceForm.read(await request.form())
    body = form.validate()
    if body is not None:
        try:
            created = await devices.create(session, hasher, user.tenant_id, body, device_auth.invalidate)
        except Conflict:
            form.errors["device_id"] = "a device with this id already exists"
        except Unprocessable as exc:
            form.errors["type"] = exc.detail
        else:
            return _secret_page(request, user, created, rotated=False)
    return await _device_form(request, user, session, form, creating=True, status=422)


@router.get("/devices/{device_id}")
async def device(
    request: Request,
    device_id: str,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    read: ReadSide,
    range: RangeKey = "1h",
) -> Response:
    view = await device_page.device_page(session, user, *read, settings, device_id, range)
    return render(request, "device.html", user=user, current="overview", view=view, ranges=device_page.RANGES)


@router.get("/devices/{device_id}/charts")
async def device_charts(
    request: Request,
    device_id: str,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    read: ReadSide,
    range: RangeKey = "1h",
) -> Response:
    """The charts alone, for the device page to refresh them in place as readings arrive."""
    store, cache, _ = read
    charts = await device_page.metric_charts(session, user, store, cache, settings, device_id, range)
    return render(request, "_charts.html", user=user, charts=charts, range=range, ranges=device_page.RANGES)


# managing --------------------------------------------------------------------------------------------------
@router.get("/devices/{device_id}/edit")
async def edit_device(request: Request, device_id: str, user: RequireOperator, session: SessionDep) -> Response:
    device = devices.to_out(await devices.get_visible(session, user, device_id))
    return await _device_form(request, user, session, DeviceForm.of(device), creating=False)


@router.post("/devices/{device_id}/edit")
async def save_device(
    request: Request, device_id: str, user: RequireOperator, session: SessionDep, device_auth: DeviceAuthDep
) -> Response:
    current = await devices.get_visible(session, user, device_id)
    form = DeviceForm.read(await request.form())
    form.device_id = device_id
    body = form.validate(metadata=dict(current.meta or {}))
    if body is not None:
        try:
            await devices.replace(session, user, device_id, body, device_auth.invalidate)
        except Unprocessable as exc:
            form.errors["type"] = exc.detail
        else:
            return _see_other(f"/devices/{device_id}")
    return await _device_form(request, user, session, form, creating=False, status=422)


@router.post("/devices/{device_id}/enabled")
async def set_enabled(
    request: Request, device_id: str, user: RequireOperator, session: SessionDep, device_auth: DeviceAuthDep
) -> Response:
    enabled = (await request.form()).get("enabled") == "true"
    await devices.patch(session, user, device_id, {"enabled": enabled}, device_auth.invalidate)
    return _see_other(f"/devices/{device_id}")


@router.get("/devices/{device_id}/rotate")
async def confirm_rotate(request: Request, device_id: str, user: RequireOperator, session: SessionDep) -> Response:
    device = devices.to_out(await devices.get_visible(session, user, device_id))
    return render(request, "confirm.html", user=user, device=device, action="rotate")


@router.post("/devices/{device_id}/rotate")
async def rotate(
    request: Request,
    device_id: str,
    user: RequireOperator,
    session: SessionDep,
    hasher: HasherDep,
    device_auth: DeviceAuthDep,
) -> Response:
    rotated = await devices.rotate_secret(session, hasher, user, device_id, device_auth.invalidate)
    return _secret_page(request, user, rotated, rotated=True)


@router.get("/devices/{device_id}/delete")
async def confirm_delete(request: Request, device_id: str, user: RequireOperator, session: SessionDep) -> Response:
    device = devices.to_out(await devices.get_visible(session, user, device_id))
    return render(request, "confirm.html", user=user, device=device, action="delete")


@router.post("/devices/{device_id}/delete")
async def delete(device_id: str, user: RequireOperator, session: SessionDep, device_auth: DeviceAuthDep) -> Response:
    name = (await devices.get_visible(session, user, device_id)).name
    await devices.delete(session, user, device_id, device_auth.invalidate)
    return _see_other(f"/?{urlencode({'deleted': name})}")


async def _device_form(
    request: Request, user: UserPrincipal, session: AsyncSession, form: DeviceForm, *, creating: bool, status: int = 200
) -> Response:
    types = [t.name for t in await device_types.list_all(session, user)]
    return render(request, "device_form.html", user=user, form=form, types=types, creating=creating, status=status)


def _secret_page(request: Request, user: UserPrincipal, device: DeviceWithSecret, *, rotated: bool) -> Response:
    settings = request.app.state.settings
    url = settings.public_url or f"{request.url.scheme}://{request.url.netloc}"
    config = firmware_config(device.device_id, device.secret, url.rstrip("/"))
    return render(request, "secret.html", user=user, device=device, config=config, rotated=rotated, no_store=True)
