"""Devices REST CRUD: statuses and bodies, roles, tenant isolation, secrets."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gateway.auth import service as auth
from gateway.devices import service
from gateway.errors import NotFound
from gateway.users.models import Role

DEVICES = "/api/v1/devices"


async def test_create_returns_201_location_and_the_secret_once(api, admin):
    body = {"device_id": "probe-7", "name": "Probe", "tags": {"site": "lab"}, "metadata": {"fw": "1.2"}}
    response = await api.client.post(DEVICES, json=body, headers=admin)
    assert response.status_code == 201
    assert response.headers["location"].endswith("/api/v1/devices/probe-7")
    created = response.json()
    assert created["secret"] and len(created["secret"]) >= 32
    assert {k: created[k] for k in ("device_id", "name", "type", "tags", "metadata", "enabled", "status")} == {
        "device_id": "probe-7",
        "name": "Probe",
        "type": None,
        "tags": {"site": "lab"},
        "metadata": {"fw": "1.2"},
        "enabled": True,
        "status": "active",
    }
    fetched = await api.client.get(response.headers["location"], headers=admin)
    assert fetched.status_code == 200
    assert "secret" not in fetched.json() and "secret_hash" not in fetched.json()
    assert fetched.json()["name"] == "Probe"


async def test_only_an_argon2id_hash_of_the_secret_is_kept(api, admin, device):
    async with api.app.state.sessionmaker() as session:
        stored = await service.get_visible(session, await _principal(api, admin), device["device_id"])
    assert stored.secret_hash.startswith("$argon2id$")
    assert device["secret"] not in stored.secret_hash


async def test_device_id_is_generated_when_absent(api, admin):
    first = await api.client.post(DEVICES, json={"name": "a"}, headers=admin)
    second = await api.client.post(DEVICES, json={"name": "b"}, headers=admin)
    assert first.status_code == second.status_code == 201
    assert first.json()["device_id"] != second.json()["device_id"]
    assert first.headers["location"].endswith(first.json()["device_id"])


async def test_duplicate_id_is_409_even_in_another_tenant(api, admin, device):
    again = await api.client.post(DEVICES, json={"device_id": "dev-1", "name": "x"}, headers=admin)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    other = await api.user("olga", Role.operator, "acme")
    assert (await api.client.post(DEVICES, json={"device_id": "dev-1", "name": "x"}, headers=other)).status_code == 409
    assert (await api.client.get(f"{DEVICES}/dev-1", headers=admin)).json()["name"] == "boiler"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x", "device_id": "has/slash"},
        {"name": "x", "device_id": "a+b"},
        {"name": "x", "tags": {"site": 5}},
        {"name": "x", "tags": {"device_id": "y"}},
        {"name": "x", "tags": "site=lab"},
        {"name": "x", "metadata": [1]},
        {"name": "x", "enabled": "maybe"},
        {"name": "x", "type": "no-such-type"},
    ],
)
async def test_invalid_fields_are_422_and_create_nothing(api, admin, body):
    response = await api.client.post(DEVICES, json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["errors"]
    assert (await api.client.get(DEVICES, headers=admin)).json()["total"] == 0


async def test_get_unknown_is_404(api, admin):
    response = await api.client.get(f"{DEVICES}/nope", headers=admin)
    assert response.status_code == 404
    assert response.json()["status"] == 404


async def test_list_paginates_and_filters_by_type_status_and_tag(api, admin):
    await api.client.post("/api/v1/device-types", json={"name": "thermo"}, headers=admin)
    for i in range(5):
        body = {
            "device_id": f"d{i}",
            "name": f"n{i}",
            "type": "thermo" if i % 2 else None,
            "tags": {"site": "lab" if i < 3 else "roof"},
            "enabled": i != 4,
        }
        assert (await api.client.post(DEVICES, json=body, headers=admin)).status_code == 201

    async def ids(query: str) -> tuple[list[str], int]:
        page = (await api.client.get(f"{DEVICES}?{query}", headers=admin)).json()
        return [d["device_id"] for d in page["items"]], page["total"]

    assert await ids("limit=2") == (["d0", "d1"], 5)
    assert await ids("limit=2&offset=4") == (["d4"], 5)
    assert await ids("type=thermo") == (["d1", "d3"], 2)
    assert await ids("status=disabled") == (["d4"], 1)
    assert await ids("status=active&tag=site:roof") == (["d3"], 1)
    assert await ids("tag=site:lab&type=thermo") == (["d1"], 1)
    assert (await api.client.get(f"{DEVICES}?limit=0", headers=admin)).status_code == 422
    assert (await api.client.get(f"{DEVICES}?tag=nocolon", headers=admin)).status_code == 422
    assert (await api.client.get(f"{DEVICES}?status=asleep", headers=admin)).status_code == 422


async def test_put_replaces_the_document_and_resets_missing_fields(api, admin):
    body = {"device_id": "p1", "name": "old", "tags": {"a": "1"}, "metadata": {"m": 1}, "enabled": False}
    await api.client.post(DEVICES, json=body, headers=admin)
    response = await api.client.put(f"{DEVICES}/p1", json={"name": "new"}, headers=admin)
    assert response.status_code == 200
    got = response.json()
    assert (got["name"], got["tags"], got["metadata"], got["enabled"], got["status"]) == (
        "new",
        {},
        {},
        True,
        "active",
    )
    assert (await api.client.get(f"{DEVICES}/p1", headers=admin)).json()["name"] == "new"


async def test_put_cannot_change_the_id_or_send_invalid_fields(api, admin, device):
    renamed = await api.client.put(f"{DEVICES}/dev-1", json={"device_id": "other", "name": "x"}, headers=admin)
    assert renamed.status_code == 422
    invalid = await api.client.put(f"{DEVICES}/dev-1", json={"name": "x", "tags": {"k": 1}}, headers=admin)
    assert invalid.status_code == 422
    assert (await api.client.get(f"{DEVICES}/dev-1", headers=admin)).json()["name"] == "boiler"
    assert (await api.client.put(f"{DEVICES}/nope", json={"name": "x"}, headers=admin)).status_code == 404


async def test_patch_is_a_json_merge_patch(api, admin):
    body = {"device_id": "m1", "name": "n", "tags": {"a": "1", "b": "2"}, "metadata": {"x": {"y": 1, "z": 2}}}
    await api.client.post(DEVICES, json=body, headers=admin)
    patch = {"tags": {"a": None, "c": "3"}, "metadata": {"x": {"z": None}}, "enabled": False}
    headers = {**admin, "content-type": "application/merge-patch+json"}
    response = await api.client.patch(f"{DEVICES}/m1", content=json.dumps(patch), headers=headers)
    assert response.status_code == 200, response.text
    got = response.json()
    assert got["name"] == "n"
    assert got["tags"] == {"b": "2", "c": "3"}
    assert got["metadata"] == {"x": {"y": 1}}
    assert got["status"] == "disabled"


async def test_patch_with_invalid_result_is_422_and_changes_nothing(api, admin, device):
    for patch in ({"name": None}, {"tags": {"k": 5}}, {"enabled": "maybe"}, {"type": "ghost"}):
        response = await api.client.patch(f"{DEVICES}/dev-1", json=patch, headers=admin)
        assert response.status_code == 422, patch
    assert (await api.client.get(f"{DEVICES}/dev-1", headers=admin)).json()["name"] == "boiler"
    assert (await api.client.patch(f"{DEVICES}/nope", json={"name": "x"}, headers=admin)).status_code == 404


async def test_delete_is_204_then_404(api, admin, device):
    response = await api.client.delete(f"{DEVICES}/dev-1", headers=admin)
    assert response.status_code == 204
    assert response.content == b""
    assert (await api.client.get(f"{DEVICES}/dev-1", headers=admin)).status_code == 404
    assert (await api.client.delete(f"{DEVICES}/dev-1", headers=admin)).status_code == 404


async def test_rotating_the_secret_replaces_it(api, admin, device):
    response = await api.client.post(f"{DEVICES}/dev-1/secret", headers=admin)
    assert response.status_code == 200
    rotated = response.json()
    assert rotated["secret"] != device["secret"]
    assert rotated["secret_version"] == device["secret_version"] + 1
    old = await api.client.post("/api/v1/auth/device-token", json={"device_id": "dev-1", "secret": device["secret"]})
    assert old.status_code == 401
    assert await api.device_token("dev-1", rotated["secret"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", DEVICES),
        ("post", DEVICES),
        ("get", f"{DEVICES}/dev-1"),
        ("put", f"{DEVICES}/dev-1"),
        ("patch", f"{DEVICES}/dev-1"),
        ("delete", f"{DEVICES}/dev-1"),
        ("post", f"{DEVICES}/dev-1/secret"),
    ],
)
async def test_no_token_is_401(api, device, method, path):
    kwargs = {"json": {"name": "x"}} if method in ("post", "put", "patch") else {}
    response = await api.client.request(method, path, **kwargs)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", DEVICES, {"name": "x"}),
        ("put", f"{DEVICES}/dev-1", {"name": "x"}),
        ("patch", f"{DEVICES}/dev-1", {"name": "x"}),
        ("delete", f"{DEVICES}/dev-1", None),
        ("post", f"{DEVICES}/dev-1/secret", None),
    ],
)
async def test_a_viewer_writing_is_403_and_changes_nothing(api, admin, device, method, path, body):
    viewer = await api.user("vera", Role.viewer, "default")
    response = await api.client.request(method, path, json=body, headers=viewer)
    assert response.status_code == 403
    after = await api.client.get(f"{DEVICES}/dev-1", headers=viewer)
    assert after.status_code == 200
    assert (after.json()["name"], after.json()["secret_version"]) == ("boiler", 1)
    assert (await api.client.get(DEVICES, headers=viewer)).json()["total"] == 1


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", f"{DEVICES}/dev-1", None),
        ("put", f"{DEVICES}/dev-1", {"name": "x"}),
        ("patch", f"{DEVICES}/dev-1", {"name": "x"}),
        ("delete", f"{DEVICES}/dev-1", None),
        ("post", f"{DEVICES}/dev-1/secret", None),
    ],
)
async def test_another_tenants_device_is_404(api, admin, device, method, path, body):
    stranger = await api.user("sam", Role.admin, "acme")
    response = await api.client.request(method, path, json=body, headers=stranger)
    assert response.status_code == 404
    assert (await api.client.get(DEVICES, headers=stranger)).json() == {
        "items": [],
        "total": 0,
        "limit": 50,
        "offset": 0,
    }
    mine = (await api.client.get(f"{DEVICES}/dev-1", headers=admin)).json()
    assert (mine["name"], mine["secret_version"]) == ("boiler", 1)


async def test_get_visible_and_list_ids_for_the_query_side(api, admin, device):
    await api.client.post(DEVICES, json={"device_id": "dev-0", "name": "z"}, headers=admin)
    await api.user("sam", Role.viewer, "acme")
    async with api.app.state.sessionmaker() as session:
        mine = await _principal(api, admin)
        assert (await service.get_visible(session, mine, "dev-1")).name == "boiler"
        assert await service.list_ids(session, mine) == ["dev-0", "dev-1"]
        assert await service.list_ids(session, mine, limit=1, offset=1) == ["dev-1"]
        stranger = dataclasses.replace(mine, tenant_id="acme")
        assert await service.list_ids(session, stranger) == []
        with pytest.raises(NotFound):
            await service.get_visible(session, stranger, "dev-1")


async def _principal(api, headers):
    async with api.app.state.sessionmaker() as session:
        token = headers["Authorization"].removeprefix("Bearer ")
        return await auth.resolve_user(session, api.app.state.keyring, api.app.state.settings, token, via="bearer")
