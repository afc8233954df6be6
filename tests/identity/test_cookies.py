"""The web session: the login helper's cookie, ``CurrentUser`` reading it, and the CSRF check on form posts."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import Form, Response

from gateway.auth import cookies
from gateway.deps import ClientAddress, CurrentUser, HasherDep, KeyRingDep, SessionDep, SettingsDep
from gateway.users.models import Role


def add_pages(app) -> None:
    """Stand-ins for the dashboard's login form and a form post."""

    async def web_login(
        username: Annotated[str, Form()],
        password: Annotated[str, Form()],
        response: Response,
        session: SessionDep,
        hasher: HasherDep,
        keys: KeyRingDep,
        settings: SettingsDep,
        address: ClientAddress,
    ) -> dict[str, Any]:
        await cookies.login(
            response, session, hasher, keys, settings, username=username, password=password, address=address
        )
        return {}

    async def csrf(user: CurrentUser) -> dict[str, Any]:
        return {"csrf_token": user.csrf_token, "via": user.via}

    async def form_post(note: Annotated[str, Form()], user: CurrentUser) -> dict[str, Any]:
        return {"note": note, "user": user.username}

    app.add_api_route("/test/login", web_login, methods=["POST"])
    app.add_api_route("/test/csrf", csrf, methods=["GET"])
    app.add_api_route("/test/form", form_post, methods=["POST"])


@pytest.fixture
async def web(api):
    """A client holding the session cookie of ``alice`` (operator), and her CSRF token."""
    add_pages(api.app)
    await api.add_user("alice", Role.operator, "acme")
    response = await api.client.post("/test/login", data={"username": "alice", "password": "a-long-password"})
    assert response.status_code == 200
    csrf = (await api.client.get("/test/csrf")).json()
    assert csrf["via"] == "cookie"
    return api, response, csrf["csrf_token"]


async def test_login_helper_sets_an_httponly_samesite_cookie(web):
    api, response, _ = web
    header = response.headers["set-cookie"].lower()
    assert header.startswith(f"{cookies.SESSION_COOKIE}=")
    assert "httponly" in header and "samesite=lax" in header and "path=/" in header and "max-age=" in header
    assert "secure" not in header  # cookie_secure defaults to off for plain-HTTP `make run`
    me = await api.client.get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["username"] == "alice"


async def test_cookie_is_secure_when_configured(start):
    async with start(cookie_secure=True) as api:
        add_pages(api.app)
        await api.add_user("alice")
        response = await api.client.post("/test/login", data={"username": "alice", "password": "a-long-password"})
        assert "secure" in response.headers["set-cookie"].lower()


async def test_wrong_password_sets_no_cookie(api):
    add_pages(api.app)
    await api.add_user("alice")
    response = await api.client.post("/test/login", data={"username": "alice", "password": "wrong-password"})
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert (await api.client.get("/api/v1/auth/me")).status_code == 401


async def test_form_posts_need_the_csrf_token(web):
    api, _, token = web
    assert (await api.client.post("/test/form", data={"note": "hi"})).status_code == 403
    assert (await api.client.post("/test/form", data={"note": "hi", "csrf_token": "forged"})).status_code == 403
    ok = await api.client.post("/test/form", data={"note": "hi", "csrf_token": token})
    assert ok.status_code == 200 and ok.json() == {"note": "hi", "user": "alice"}


async def test_cookie_writes_to_the_api_need_the_csrf_header(web):
    api, _, token = web
    refused = await api.client.post("/api/v1/devices", json={"name": "x"})
    assert refused.status_code == 403
    assert (await api.client.get("/api/v1/devices")).json()["total"] == 0
    created = await api.client.post("/api/v1/devices", json={"name": "x"}, headers={cookies.CSRF_HEADER: token})
    assert created.status_code == 201


async def test_bearer_requests_need_no_csrf_token(api, admin):
    add_pages(api.app)
    assert (await api.client.post("/test/form", data={"note": "hi"}, headers=admin)).status_code == 200


async def test_cookie_and_bearer_tokens_are_not_interchangeable(web):
    api, _, _ = web
    cookie = api.client.cookies[cookies.SESSION_COOKIE]
    api.client.cookies.clear()
    assert (await api.client.get("/api/v1/auth/me", headers=api.bearer(cookie))).status_code == 401
    access = (await api.login("alice"))["access_token"]
    api.client.cookies.set(cookies.SESSION_COOKIE, access)
    assert (await api.client.get("/api/v1/auth/me")).status_code == 401


async def test_logout_clears_the_cookie_and_ends_the_session(web):
    api, _, token = web
    cookie = api.client.cookies[cookies.SESSION_COOKIE]
    assert (await api.client.post("/api/v1/auth/logout")).status_code == 403  # CSRF applies to logout too
    response = await api.client.post("/api/v1/auth/logout", headers={cookies.CSRF_HEADER: token})
    assert response.status_code == 204
    assert "max-age=0" in response.headers["set-cookie"].lower()
    api.client.cookies.set(cookies.SESSION_COOKIE, cookie)  # a copy kept by an attacker
    assert (await api.client.get("/api/v1/auth/me")).status_code == 401
