"""DeviceAuthenticator, the transport-independent check the HTTP and MQTT front doors share."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from gateway.devices import auth as device_auth
from gateway.devices.auth import DevicePrincipal
from gateway.errors import Unauthorized

THERMO = {"name": "thermo", "metrics": {"t": {"kind": "number", "max": 50}}, "allow_unknown_metrics": False}


async def test_principal_carries_tenant_type_tags_and_schema(api, admin):
    await api.client.post("/api/v1/device-types", json=THERMO, headers=admin)
    body = {"device_id": "t1", "name": "x", "type": "thermo", "tags": {"site": "lab"}}
    created = (await api.client.post("/api/v1/devices", json=body, headers=admin)).json()
    principal = await api.app.state.device_auth.authenticate(await api.device_token("t1", created["secret"]))
    assert isinstance(principal, DevicePrincipal)
    assert (principal.device_id, principal.tenant_id, principal.type, principal.tags) == ("t1", "default", "thermo", {"site": "lab"})
    assert principal.schema is not None and principal.schema.allow_unknown_metrics is False
    assert principal.schema.metrics["t"].kind == "number" and principal.schema.metrics["t"].max == 50
    with pytest.raises(dataclasses.FrozenInstanceError):
        principal.device_id = "other"  # type: ignore[misc]


async def test_a_device_without_type_has_no_schema(api, device):
    principal = await api.app.state.device_auth.authenticate(await api.device_token("dev-1", device["secret"]))
    assert (principal.type, principal.schema, principal.tags) == (None, None, {})


async def test_refusals_raise_unauthorized_with_a_reason(api, admin, device):
    authenticator = api.app.state.device_auth
    with pytest.raises(Unauthorized, match="access tokens are not accepted"):
        await authenticator.authenticate(admin["Authorization"].removeprefix("Bearer "))
    with pytest.raises(Unauthorized, match="invalid token"):
        await authenticator.authenticate("nonsense")
    token = await api.device_token("dev-1", device["secret"])
    await api.client.patch("/api/v1/devices/dev-1", json={"enabled": False}, headers=admin)
    with pytest.raises(Unauthorized, match="disabled"):
        await authenticator.authenticate(token)


async def test_a_verified_signature_is_cached_until_the_token_expires(api, device, monkeypatch):
    calls = []
    verify = device_auth.security.verify
    monkeypatch.setattr(device_auth.security, "verify", lambda *a, **kw: calls.append(1) or verify(*a, **kw))
    token = await api.device_token("dev-1", device["secret"])
    for _ in range(3):
        assert (await api.app.state.device_auth.authenticate(token)).device_id == "dev-1"
    assert len(calls) == 1


async def test_changes_apply_at_once_in_process_and_within_the_ttl_elsewhere(api, admin, device, start):
    token = await api.device_token("dev-1", device["secret"])
    async with start(device_state_cache_ttl_s=0.3) as other_process:
        assert (await other_process.as_device(token)).status_code == 200
        assert (await api.as_device(token)).status_code == 200
        await api.client.patch("/api/v1/devices/dev-1", json={"tags": {"site": "roof"}}, headers=admin)
        assert (await api.app.state.device_auth.authenticate(token)).tags == {"site": "roof"}
        await api.client.delete("/api/v1/devices/dev-1", headers=admin)
        assert (await api.as_device(token)).status_code == 401
        await asyncio.sleep(0.35)
        assert (await other_process.as_device(token)).status_code == 401


async def test_a_device_type_change_applies_at_once(api, admin):
    await api.client.post("/api/v1/device-types", json=THERMO, headers=admin)
    body = {"device_id": "t1", "name": "x", "type": "thermo"}
    created = (await api.client.post("/api/v1/devices", json=body, headers=admin)).json()
    token = await api.device_token("t1", created["secret"])
    assert (await api.app.state.device_auth.authenticate(token)).schema.allow_unknown_metrics is False
    await api.client.put("/api/v1/device-types/thermo", json={"name": "thermo"}, headers=admin)
    schema = (await api.app.state.device_auth.authenticate(token)).schema
    assert schema.allow_unknown_metrics is True and schema.metrics == {}


async def test_a_remembered_token_is_refused_once_it_expires(api, device):
    """Accepted tokens are remembered for speed, but never past their expiry (nor the signature cache's)."""
    token, _ = device_auth.security.issue(
        api.app.state.keyring,
        api.app.state.settings,
        kind="device",
        subject="dev-1",
        tenant="default",
        ttl_s=2,
        ver=1,
        scope=device_auth.SCOPE,
    )
    authenticator = api.app.state.device_auth
    assert (await authenticator.authenticate(token)).device_id == "dev-1"
    assert (await authenticator.authenticate(token)).device_id == "dev-1"
    await asyncio.sleep(2.2 + device_auth.security.LEEWAY_S)  # past exp and the clock-skew leeway
    with pytest.raises(Unauthorized, match="expired"):
        await authenticator.authenticate(token)
