"""Signing keys: generated once and kept, configured and refused, rotated with the previous key still verifying."""

from __future__ import annotations

import json
import stat
import time

import jwt
import pytest
from pydantic import ValidationError

from gateway import security
from gateway.config import Settings
from gateway.errors import Unauthorized

STRONG = "s" * 16 + "0123456789abcdef0123456789abcdef"


def settings(tmp_path, **fields) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, **fields)


def token(ring, config) -> str:
    return security.issue(ring, config, kind="access", subject="u", tenant="t", ttl_s=60)[0]


def test_a_generated_key_is_made_once_and_kept_private(tmp_path):
    config = settings(tmp_path)
    first, second = security.load_keyring(config), security.load_keyring(config)
    assert first.current.kid == second.current.kid and first.current.signing == second.current.signing
    assert len(first.current.signing) >= 64
    path = tmp_path / security.KEYS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_configured_secret_signs_and_previous_ones_still_verify(tmp_path):
    old = settings(tmp_path, jwt_secret=STRONG)
    old_token = token(security.load_keyring(old), old)
    new = settings(tmp_path, jwt_secret=STRONG[::-1], jwt_previous_secrets=[STRONG])
    ring = security.load_keyring(new)
    assert security.verify(ring, new, old_token, kind="access")["sub"] == "u"
    assert ring.current.kid != security.load_keyring(old).current.kid
    assert not (tmp_path / security.KEYS_FILE).exists()
    without_previous = settings(tmp_path, jwt_secret=STRONG[::-1])
    with pytest.raises(Unauthorized, match="unknown key"):
        security.verify(security.load_keyring(without_previous), without_previous, old_token, kind="access")


@pytest.mark.parametrize("weak", ["changeme", "secret", "short-but-random-x7"])
def test_a_weak_or_default_configured_key_is_refused(tmp_path, weak):
    with pytest.raises(ValidationError, match="GATEWAY_JWT_SECRET is weak"):
        settings(tmp_path, jwt_secret=weak)
    with pytest.raises(ValueError, match="GATEWAY_JWT_PREVIOUS_SECRETS"):
        security.load_keyring(settings(tmp_path, jwt_secret=STRONG, jwt_previous_secrets=[weak]))


def test_a_secret_with_an_asymmetric_algorithm_is_refused(tmp_path):
    with pytest.raises(ValueError, match="HS256"):
        security.load_keyring(settings(tmp_path, jwt_secret=STRONG, jwt_algorithm="EdDSA"))
    with pytest.raises(ValueError, match="GATEWAY_JWT_SECRET"):
        security.rotate_keys(settings(tmp_path, jwt_secret=STRONG))


def test_rotation_keeps_the_previous_key_until_its_tokens_expire(tmp_path):
    config = settings(tmp_path, refresh_token_ttl_s=3600, device_token_max_ttl_s=3600)
    before = security.load_keyring(config)
    old_token = token(before, config)
    after = security.rotate_keys(config)
    assert after.current.kid != before.current.kid
    assert security.verify(after, config, old_token, kind="access")["sub"] == "u"
    assert security.load_keyring(config).current.kid == after.current.kid

    # once the newer key has signed for longer than any token lives, the old key is dropped
    path = tmp_path / security.KEYS_FILE
    records = json.loads(path.read_text())
    records["keys"][0]["created_at"] = time.time() - 3601
    path.write_text(json.dumps(records))
    pruned = security.load_keyring(config)
    assert [k.kid for k in pruned.keys] == [after.current.kid]
    with pytest.raises(Unauthorized):
        security.verify(pruned, config, old_token, kind="access")


def test_switching_algorithm_adds_a_key_and_keeps_the_old_one_verifying(tmp_path):
    hs = settings(tmp_path)
    old_token = token(security.load_keyring(hs), hs)
    ed = settings(tmp_path, jwt_algorithm="EdDSA")
    ring = security.load_keyring(ed)
    assert [k.alg for k in ring.keys] == ["EdDSA", "HS256"]
    assert security.verify(ring, ed, old_token, kind="access")["sub"] == "u"
    assert [k["alg"] for k in ring.jwks()["keys"]] == ["EdDSA"]  # the shared secret is never published


async def test_tokens_survive_a_key_rotation_across_restarts(start):
    async with start() as first:
        tokens = await first.login("root", "root-password-1")
        old_kid = first.app.state.keyring.current.kid
        security.rotate_keys(first.app.state.settings)
    async with start() as second:
        assert second.app.state.keyring.current.kid != old_kid
        assert (await second.client.get("/api/v1/auth/me", headers=second.bearer(tokens["access_token"]))).status_code == 200
        refreshed = await second.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 200
        assert jwt.get_unverified_header(refreshed.json()["access_token"])["kid"] == second.app.state.keyring.current.kid
