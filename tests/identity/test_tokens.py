"""Login, refresh, logout, device tokens, and every kind of token that must be refused (401, nothing changes)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from gateway.users.models import Role

LOGIN, REFRESH, LOGOUT, ME = "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout", "/api/v1/auth/me"
DEVICE_TOKEN = "/api/v1/auth/device-token"
CLAIMS = {"iss", "aud", "sub", "exp", "iat", "nbf", "jti", "tenant", "type"}


def unverified(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed(header: dict, claims: dict, key: bytes | None) -> str:
    """A JWT built by hand, for what PyJWT refuses to produce (``alg: none``, HMAC keyed with a public key)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest()) if key else ""
    return f"{signing_input}.{signature}"


async def test_login_returns_the_token_pair_with_pinned_claims(api):
    await api.add_user("alice", Role.viewer, "acme")
    response = await api.client.post(LOGIN, json={"username": "alice", "password": "a-long-password"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert (body["token_type"], body["expires_in"]) == ("bearer", 900)
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "HS256" and header["kid"] == api.app.state.keyring.current.kid
    claims = unverified(body["access_token"])
    assert CLAIMS <= set(claims)
    assert (claims["iss"], claims["aud"], claims["tenant"], claims["type"]) == (
        "iot-gateway",
        "iot-gateway",
        "acme",
        "access",
    )
    assert claims["exp"] - claims["iat"] == 900
    assert unverified(body["refresh_token"])["type"] == "refresh"
    me = await api.client.get(ME, headers=api.bearer(body["access_token"]))
    assert me.json() == {"user_id": claims["sub"], "username": "alice", "tenant_id": "acme", "role": "viewer"}


async def test_login_accepts_the_oauth2_password_form(api):
    await api.add_user("alice")
    form = {"grant_type": "password", "username": "alice", "password": "a-long-password"}
    response = await api.client.post(LOGIN, data=form)
    assert response.status_code == 200
    assert (await api.client.get(ME, headers=api.bearer(response.json()["access_token"]))).status_code == 200


async def test_wrong_credentials_are_401_and_missing_fields_422(api):
    await api.add_user("alice")
    wrong = await api.client.post(LOGIN, json={"username": "alice", "password": "not-the-password"})
    unknown = await api.client.post(LOGIN, json={"username": "nobody", "password": "a-long-password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]  # no hint which part was wrong
    assert (await api.client.post(LOGIN, json={"username": "alice"})).status_code == 422
    assert (await api.client.post(LOGIN, data={"username": "alice"})).status_code == 422
    assert (
        await api.client.post(LOGIN, content=b"{not json", headers={"content-type": "application/json"})
    ).status_code == 422


async def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(api):
    await api.add_user("alice")
    first = await api.login("alice")
    second = (await api.client.post(REFRESH, json={"refresh_token": first["refresh_token"]})).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await api.client.get(ME, headers=api.bearer(second["access_token"]))).status_code == 200

    reused = await api.client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    # the whole family is gone: the newest refresh token and the access tokens of the session too
    assert (await api.client.post(REFRESH, json={"refresh_token": second["refresh_token"]})).status_code == 401
    assert (await api.client.get(ME, headers=api.bearer(second["access_token"]))).status_code == 401
    assert (await api.client.get(ME, headers=api.bearer(first["access_token"]))).status_code == 401
    # other sessions of the same user live on
    other = await api.login("alice")
    assert (await api.client.get(ME, headers=api.bearer(other["access_token"]))).status_code == 200


async def test_an_access_token_is_not_a_refresh_token(api):
    await api.add_user("alice")
    tokens = await api.login("alice")
    assert (await api.client.post(REFRESH, json={"refresh_token": tokens["access_token"]})).status_code == 401
    assert (await api.client.get(ME, headers=api.bearer(tokens["refresh_token"]))).status_code == 401
    assert (await api.client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})).status_code == 200


async def test_logout_ends_the_session_at_once(api):
    await api.add_user("alice")
    tokens = await api.login("alice")
    headers = api.bearer(tokens["access_token"])
    assert (await api.client.post(LOGOUT, headers=headers)).status_code == 204
    assert (await api.client.get(ME, headers=headers)).status_code == 401
    assert (await api.client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})).status_code == 401
    assert (await api.client.post(LOGOUT)).status_code == 401


async def test_device_token_defaults_to_an_hour_and_is_scoped_to_its_device(api, device):
    response = await api.client.post(DEVICE_TOKEN, json={"device_id": "dev-1", "secret": device["secret"]})
    assert response.status_code == 200
    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("bearer", 3600)
    claims = unverified(body["access_token"])
    assert CLAIMS <= set(claims)
    assert (claims["sub"], claims["tenant"], claims["type"], claims["scope"], claims["ver"]) == (
        "dev-1",
        "default",
        "device",
        "readings:write",
        1,
    )
    assert claims["exp"] - claims["iat"] == 3600
    whoami = await api.as_device(body["access_token"])
    assert whoami.status_code == 200
    assert whoami.json() == {"device_id": "dev-1", "tenant_id": "default"}


async def test_device_token_ttl_is_bounded(api, device):
    short = await api.device_token("dev-1", device["secret"], ttl_s=60)
    claims = unverified(short)
    assert claims["exp"] - claims["iat"] == 60
    longest = await api.device_token("dev-1", device["secret"], ttl_s=86400)
    assert unverified(longest)["exp"] - unverified(longest)["iat"] == 86400
    for ttl in (86401, 0, -5):
        body = {"device_id": "dev-1", "secret": device["secret"], "ttl_s": ttl}
        assert (await api.client.post(DEVICE_TOKEN, json=body)).status_code == 422


async def test_device_token_needs_the_right_secret_of_an_enabled_device(api, admin, device):
    wrong = await api.client.post(DEVICE_TOKEN, json={"device_id": "dev-1", "secret": "guess"})
    unknown = await api.client.post(DEVICE_TOKEN, json={"device_id": "ghost", "secret": device["secret"]})
    assert wrong.status_code == unknown.status_code == 401
    await api.client.patch("/api/v1/devices/dev-1", json={"enabled": False}, headers=admin)
    disabled = await api.client.post(DEVICE_TOKEN, json={"device_id": "dev-1", "secret": device["secret"]})
    assert disabled.status_code == 401
    await api.client.patch("/api/v1/devices/dev-1", json={"enabled": True}, headers=admin)
    assert await api.device_token("dev-1", device["secret"])


# --- rejected user tokens: each gets 401 and changes nothing ------------------------------------------------


def _forgeries(api, token: str) -> dict[str, str]:
    ring, claims = api.app.state.keyring, unverified(token)
    kid, secret = ring.current.kid, ring.current.signing
    now = int(time.time())

    def signed(key=secret, alg="HS256", header_kid=kid, **changes):
        return jwt.encode(
            {**claims, **changes}, key, algorithm=alg, headers={"kid": header_kid} if header_kid else None
        )

    head, payload, signature = token.split(".")
    tampered = {**claims, "tenant": "acme"}
    return {
        "alg none": hand_signed({"alg": "none", "kid": kid, "typ": "JWT"}, claims, None),
        "another key": signed(key=b"k" * 64),
        "another algorithm (HS512)": signed(alg="HS512"),
        "no kid": signed(header_kid=None),
        "unknown kid": signed(header_kid="not-a-key"),
        "expired": signed(exp=now - 60, iat=now - 1000, nbf=now - 1000),
        "not yet valid (nbf)": signed(nbf=now + 600),
        "issued in the future (iat)": signed(nbf=now + 600, iat=now + 600, exp=now + 1200),
        "wrong aud": signed(aud="someone-else"),
        "wrong iss": signed(iss="evil"),
        "missing jti": jwt.encode({k: v for k, v in claims.items() if k != "jti"}, secret, headers={"kid": kid}),
        "tampered payload": f"{head}.{b64(json.dumps(tampered).encode())}.{signature}",
        "truncated signature": f"{head}.{payload}.{signature[:-4]}",
        "refresh token": None,  # filled in below
        "garbage": "not.a.token",
    }


async def test_rejected_user_tokens_get_401_and_change_nothing(api, admin, device):
    tokens = await api.login("root", "root-password-1")
    forged = _forgeries(api, tokens["access_token"])
    forged["refresh token"] = tokens["refresh_token"]
    forged["device token"] = await api.device_token("dev-1", device["secret"])
    assert len(forged) == 16
    for case, token in forged.items():
        headers = api.bearer(token)
        responses = [
            await api.client.delete("/api/v1/devices/dev-1", headers=headers),
            await api.client.post("/api/v1/devices", json={"name": "x"}, headers=headers),
            await api.client.get(ME, headers=headers),
        ]
        assert [r.status_code for r in responses] == [401, 401, 401], case
    assert (await api.client.get("/api/v1/devices", headers=admin)).json()["total"] == 1
    assert (await api.client.get("/api/v1/devices/dev-1", headers=admin)).json()["name"] == "boiler"


async def test_hs256_signed_with_the_public_key_is_refused(start, device):
    async with start(jwt_algorithm="EdDSA") as api:
        ring = api.app.state.keyring
        assert ring.current.alg == "EdDSA"
        public = ring.current.verifying
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        tokens = await api.login("root", "root-password-1")
        claims = unverified(tokens["access_token"])
        assert jwt.get_unverified_header(tokens["access_token"])["alg"] == "EdDSA"
        for key in (pem, pem.strip(), raw):
            token = hand_signed({"alg": "HS256", "kid": ring.current.kid, "typ": "JWT"}, claims, key)
            response = await api.client.delete("/api/v1/devices/dev-1", headers=api.bearer(token))
            assert response.status_code == 401
        assert (
            await api.client.get("/api/v1/devices/dev-1", headers=api.bearer(tokens["access_token"]))
        ).status_code == 200


# --- rejected device tokens ---------------------------------------------------------------------------------


async def test_device_tokens_of_deleted_disabled_or_rotated_devices_stop_at_once(api, admin):
    async def new_device(device_id: str) -> str:
        created = await api.client.post("/api/v1/devices", json={"device_id": device_id, "name": "x"}, headers=admin)
        token = await api.device_token(device_id, created.json()["secret"])
        assert (await api.as_device(token)).status_code == 200  # now cached in the authenticator
        return token

    deleted, disabled, rotated = await new_device("d1"), await new_device("d2"), await new_device("d3")
    await api.client.delete("/api/v1/devices/d1", headers=admin)
    await api.client.patch("/api/v1/devices/d2", json={"enabled": False}, headers=admin)
    await api.client.post("/api/v1/devices/d3/secret", headers=admin)
    for token in (deleted, disabled, rotated):
        response = await api.as_device(token)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    await api.client.patch("/api/v1/devices/d2", json={"enabled": True}, headers=admin)
    assert (await api.as_device(disabled)).status_code == 200  # blocked, not deleted


async def test_device_tokens_and_user_tokens_do_not_cross(api, admin, device):
    device_token = await api.device_token("dev-1", device["secret"])
    for method, path in [("get", "/api/v1/devices"), ("get", ME), ("get", "/api/v1/device-types"), ("post", LOGOUT)]:
        assert (await api.client.request(method, path, headers=api.bearer(device_token))).status_code == 401
    assert (await api.as_device(admin["Authorization"].removeprefix("Bearer "))).status_code == 401
    assert (await api.client.post("/test/device-whoami")).status_code == 401


async def test_forged_device_tokens_are_refused(api, device):
    token = await api.device_token("dev-1", device["secret"])
    ring, claims = api.app.state.keyring, unverified(token)
    now = int(time.time())

    def signed(**changes):
        return jwt.encode({**claims, **changes}, ring.current.signing, headers={"kid": ring.current.kid})

    forged = [
        hand_signed({"alg": "none", "kid": ring.current.kid}, claims, None),
        signed(exp=now - 60),
        signed(aud="other"),
        signed(ver=2),  # a secret version the device never had
        signed(tenant="acme"),
        signed(scope="admin"),
        jwt.encode(claims, b"x" * 64, headers={"kid": ring.current.kid}),
    ]
    assert [(await api.as_device(t)).status_code for t in forged] == [401] * len(forged)
    assert (await api.as_device(token)).status_code == 200


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
async def test_asymmetric_keys_publish_a_jwks_that_verifies_tokens(start, alg):
    async with start(jwt_algorithm=alg) as api:
        jwks = (await api.client.get("/.well-known/jwks.json")).json()
        token = (await api.login("root", "root-password-1"))["access_token"]
    kid = jwt.get_unverified_header(token)["kid"]
    published = {k["kid"]: k for k in jwks["keys"]}
    assert published[kid]["alg"] == alg and "d" not in published[kid]  # public half only
    key = jwt.PyJWK(published[kid]).key
    claims = jwt.decode(token, key, algorithms=[alg], audience="iot-gateway", issuer="iot-gateway")
    assert claims["type"] == "access"


async def test_hs256_publishes_no_key(api):
    assert (await api.client.get("/.well-known/jwks.json")).json() == {"keys": []}
