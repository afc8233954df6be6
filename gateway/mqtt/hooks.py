"""Authentication and authorization for brokers that ask over HTTP: EMQX and mosquitto-go-auth.

``POST /api/v1/mqtt/auth`` (username = device id, password = a device JWT or the device secret, which is what the
firmware sends) and ``POST /api/v1/mqtt/acl`` (a device may publish only to ``devices/<id>/readings`` and
subscribe only to ``devices/<id>/acks`` and ``devices/<id>/commands``). The gateway's own consumer login
(``GATEWAY_MQTT_USERNAME``/``_PASSWORD``) is a superuser. Bodies are JSON or a form, so both brokers' defaults work.

The reply is EMQX's: 200 with ``{"result": "allow" | "deny"}`` (plus ``is_superuser``); it also carries
mosquitto-go-auth's JSON fields ``ok`` and ``error`` (``auth_opt_http_response_mode json``). go-auth's default
``status`` mode reads only the status code, so for it add ``?mode=status``: a refusal is then 403. (EMQX must not
get 403s: it takes a non-200 as "ignore" and, for authorization, falls back to its ``no_match`` default, allow.)
"""

from __future__ import annotations

import hmac
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway import security
from gateway.deps import DeviceAuthDep, HasherDep, SessionDep, SettingsDep
from gateway.devices import repository
from gateway.errors import Unauthorized

router = APIRouter(prefix="/mqtt", tags=["mqtt"])

Mode = Literal["emqx", "status"]
_GO_AUTH_ACC = {"1": "subscribe", "2": "publish", "4": "subscribe"}  # read (delivery), write, subscribe
_DEVICE_TOPICS = {"publish": ("readings",), "subscribe": ("acks", "commands")}


async def _fields(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").startswith("application/json"):
        data: Any = await request.json()
    else:
        data = dict(await request.form())
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _verdict(allowed: bool, mode: Mode, error: str = "", superuser: bool = False) -> JSONResponse:
    body: dict[str, Any] = {"result": "allow" if allowed else "deny", "ok": allowed, "is_superuser": superuser}
    if not allowed:
        body["error"] = error
    return JSONResponse(body, status_code=200 if allowed or mode == "emqx" else 403)


def _is_gateway(settings: Any, username: str) -> bool:
    return bool(settings.mqtt_username) and hmac.compare_digest(username, settings.mqtt_username)


@router.post("/auth", summary="May this MQTT login connect? (EMQX HTTP authn, mosquitto-go-auth getuser)")
async def authenticate(
    request: Request,
    settings: SettingsDep,
    device_auth: DeviceAuthDep,
    session: SessionDep,
    hasher: HasherDep,
    mode: Mode = "emqx",
) -> JSONResponse:
    fields = await _fields(request)
    username, password = fields.get("username", ""), fields.get("password", "")
    if _is_gateway(settings, username):
        ok = bool(password) and hmac.compare_digest(password, settings.mqtt_password.get_secret_value())
        return _verdict(ok, mode, "wrong password", superuser=ok)
    if password.count(".") == 2:  # a JWT
        try:
            device = await device_auth.authenticate(password)
        except Unauthorized as exc:
            return _verdict(False, mode, exc.detail)
        return _verdict(device.device_id == username, mode, "the token belongs to another device")
    found = await repository.get(session, username)
    if not await security.verify_secret(hasher, found.secret_hash if found else None, password) or found is None:
        return _verdict(False, mode, "unknown device or wrong secret")
    return _verdict(found.enabled, mode, "device is disabled")


@router.post("/acl", summary="May this MQTT login publish or subscribe to a topic? (EMQX HTTP authz, go-auth)")
async def authorize(request: Request, settings: SettingsDep, mode: Mode = "emqx") -> JSONResponse:
    fields = await _fields(request)
    username, topic = fields.get("username", ""), fields.get("topic", "")
    if _is_gateway(settings, username):
        return _verdict(True, mode, superuser=True)
    action = fields.get("action") or _GO_AUTH_ACC.get(fields.get("acc", ""), "")
    allowed = {f"devices/{username}/{leaf}" for leaf in _DEVICE_TOPICS.get(action, ())}
    return _verdict(bool(username) and topic in allowed, mode, f"{username!r} may not {action or 'use'} {topic!r}")
