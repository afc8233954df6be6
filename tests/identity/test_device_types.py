"""Device types: CRUD of the metric schema, its validation, roles and tenant isolation."""

from __future__ import annotations

import pytest

from gateway.users.models import Role

TYPES = "/api/v1/device-types"
THERMO = {
    "name": "thermo",
    "metrics": {
        "temperature": {"kind": "number", "min": -40, "max": 125, "unit": "°C"},
        "door_open": {"kind": "bool"},
        "status": {"kind": "string", "max_length": 32},
    },
    "allow_unknown_metrics": False,
}


async def test_create_get_list(api, admin):
    created = await api.client.post(TYPES, json=THERMO, headers=admin)
    assert created.status_code == 201
    assert created.headers["location"].endswith("/api/v1/device-types/thermo")
    body = created.json()
    assert body["name"] == "thermo" and body["allow_unknown_metrics"] is False
    assert body["metrics"]["temperature"] == {"kind": "number", "min": -40, "max": 125, "unit": "°C"}
    assert body["metrics"]["status"]["max_length"] == 32
    fetched = await api.client.get(f"{TYPES}/thermo", headers=admin)
    assert fetched.status_code == 200 and fetched.json()["metrics"] == body["metrics"]
    assert [t["name"] for t in (await api.client.get(TYPES, headers=admin)).json()] == ["thermo"]
    assert (await api.client.get(f"{TYPES}/nope", headers=admin)).status_code == 404


async def test_duplicate_is_409(api, admin):
    await api.client.post(TYPES, json=THERMO, headers=admin)
    assert (await api.client.post(TYPES, json=THERMO, headers=admin)).status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"name": "bad name"},
        {"name": "t", "metrics": {"x": {"kind": "colour"}}},
        {"name": "t", "metrics": {"x": {"kind": "number", "min": 5, "max": 1}}},
        {"name": "t", "metrics": {"x": {"kind": "bool", "min": 0}}},
        {"name": "t", "metrics": {"x": {"kind": "string", "max_length": 0}}},
        {"name": "t", "metrics": {"x": {}}},
        {"name": "t", "metrics": {"bad metric": {"kind": "bool"}}},
        {"name": "t", "allow_unknown_metrics": "sometimes"},
    ],
)
async def test_invalid_schema_is_422(api, admin, body):
    assert (await api.client.post(TYPES, json=body, headers=admin)).status_code == 422
    assert (await api.client.get(TYPES, headers=admin)).json() == []


async def test_put_replaces_and_delete_removes(api, admin):
    await api.client.post(TYPES, json=THERMO, headers=admin)
    replaced = await api.client.put(f"{TYPES}/thermo", json={"name": "thermo"}, headers=admin)
    assert replaced.status_code == 200
    assert (replaced.json()["metrics"], replaced.json()["allow_unknown_metrics"]) == ({}, True)
    assert (await api.client.put(f"{TYPES}/thermo", json={"name": "other"}, headers=admin)).status_code == 422
    assert (await api.client.put(f"{TYPES}/nope", json={"name": "nope"}, headers=admin)).status_code == 404
    assert (await api.client.delete(f"{TYPES}/thermo", headers=admin)).status_code == 204
    assert (await api.client.get(f"{TYPES}/thermo", headers=admin)).status_code == 404
    assert (await api.client.delete(f"{TYPES}/thermo", headers=admin)).status_code == 404


async def test_a_type_in_use_cannot_be_deleted(api, admin):
    await api.client.post(TYPES, json=THERMO, headers=admin)
    await api.client.post("/api/v1/devices", json={"device_id": "t1", "name": "x", "type": "thermo"}, headers=admin)
    assert (await api.client.delete(f"{TYPES}/thermo", headers=admin)).status_code == 409
    await api.client.patch("/api/v1/devices/t1", json={"type": None}, headers=admin)
    assert (await api.client.delete(f"{TYPES}/thermo", headers=admin)).status_code == 204


async def test_roles_and_tenants(api, admin):
    await api.client.post(TYPES, json=THERMO, headers=admin)
    viewer = await api.user("vera", Role.viewer, "default")
    assert (await api.client.get(f"{TYPES}/thermo", headers=viewer)).status_code == 200
    assert (await api.client.post(TYPES, json={"name": "v"}, headers=viewer)).status_code == 403
    assert (await api.client.put(f"{TYPES}/thermo", json={"name": "thermo"}, headers=viewer)).status_code == 403
    assert (await api.client.delete(f"{TYPES}/thermo", headers=viewer)).status_code == 403
    stranger = await api.user("sam", Role.admin, "acme")
    assert (await api.client.get(f"{TYPES}/thermo", headers=stranger)).status_code == 404
    assert (await api.client.delete(f"{TYPES}/thermo", headers=stranger)).status_code == 404
    assert (await api.client.get(TYPES, headers=stranger)).json() == []
    # the same name in another tenant is another type; a device may only name its own tenant's types
    assert (await api.client.post(TYPES, json={"name": "thermo"}, headers=stranger)).status_code == 201
    assert (await api.client.post(TYPES, json={"name": "only-mine"}, headers=admin)).status_code == 201
    elsewhere = {"name": "x", "type": "only-mine"}
    assert (await api.client.post("/api/v1/devices", json=elsewhere, headers=stranger)).status_code == 422
    assert (await api.client.get(f"{TYPES}/thermo", headers=admin)).json()["allow_unknown_metrics"] is False
    assert (await api.client.get(f"{TYPES}/thermo", headers=stranger)).json()["allow_unknown_metrics"] is True
    assert (await api.client.get(TYPES)).status_code == 401
