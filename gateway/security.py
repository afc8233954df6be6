"""JWT issue/verify, the signing keys and secret hashing: the only module that touches keys.

Every key carries a ``kid`` and one pinned algorithm: a token is verified only with the key its ``kid`` names
and only with that key's algorithm, so ``alg: none``, another algorithm or HS256 signed with a public key
never pass.
Keys rotate: the newest signs, older ones keep verifying until every token they signed has expired.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import functools
import hashlib
import itertools
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

from gateway.config import KNOWN_WEAK_SECRETS, MIN_SECRET_BYTES, Settings
from gateway.errors import Unauthorized

KEYS_FILE = "jwt-keys.json"
LEEWAY_S = 5
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "nbf", "jti", "tenant", "type"]

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: str
    signing: bytes | PrivateKey
    verifying: bytes | PublicKey
    created_at: float

    def jwk(self) -> dict[str, Any] | None:
        """The public JWK, or None for a shared (HS256) secret that must never be published."""
        if isinstance(self.verifying, bytes):
            return None
        if isinstance(self.verifying, ed25519.Ed25519PublicKey):
            jwk = OKPAlgorithm.to_jwk(self.verifying, as_dict=True)
        else:
            jwk = ECAlgorithm.to_jwk(self.verifying, as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}


@dataclass(frozen=True, slots=True)
class KeyRing:
    keys: tuple[SigningKey, ...]  # newest (the signing one) first

    @property
    def current(self) -> SigningKey:
        return self.keys[0]

    def get(self, kid: object) -> SigningKey | None:
        return next((k for k in self.keys if k.kid == kid), None)

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [jwk for k in self.keys if (jwk := k.jwk()) is not None]}


def load_keyring(settings: Settings) -> KeyRing:
    """The configured HS256 secret (and previous ones), else the keys kept in the data directory (made once).

    Raises ValueError with a clear message for a configuration that must not start.
    """
    secret = settings.jwt_secret.get_secret_value()
    if not secret:
        return _update_keys_file(settings, rotate=False)
    if settings.jwt_algorithm != "HS256":
        raise ValueError(
            "GATEWAY_JWT_SECRET is for HS256; leave it unset for EdDSA/ES256 (keys are generated)"
        )
    previous = [s.get_secret_value() for s in settings.jwt_previous_secrets]
    if any(p.lower() in KNOWN_WEAK_SECRETS or len(p.encode()) < MIN_SECRET_BYTES for p in previous):
        raise ValueError(
            f"GATEWAY_JWT_PREVIOUS_SECRETS holds a weak key; each needs {MIN_SECRET_BYTES}+ random bytes"
        )
    return KeyRing(tuple(_hmac_key(s.encode()) for s in [secret, *previous]))


def rotate_keys(settings: Settings) -> KeyRing:
    """A new signing key in the data directory; the previous ones keep verifying until their tokens expire."""
    if settings.jwt_secret.get_secret_value():
        raise ValueError(
            "the signing key is configured: set a new GATEWAY_JWT_SECRET and move the old one to "
            "GATEWAY_JWT_PREVIOUS_SECRETS"
        )
    return _update_keys_file(settings, rotate=True)


def sign(ring: KeyRing, claims: dict[str, Any]) -> str:
    key = ring.current
    return jwt.encode(claims, key.signing, algorithm=key.alg, headers={"kid": key.kid})


def issue(
    ring: KeyRing, settings: Settings, *, kind: str, subject: str, tenant: str, ttl_s: int, **extra: Any
) -> tuple[str, dict[str, Any]]:
    """A signed token and its claims."""
    now = int(time.time())
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
        "jti": secrets.token_urlsafe(16),
        "tenant": tenant,
        "type": kind,
        **extra,
    }
    return sign(ring, claims), claims


def verify(ring: KeyRing, settings: Settings, token: str, *, kind: str) -> dict[str, Any]:
    """The claims of a valid token of ``kind``; Unauthorized (with the reason) for anything else."""
    try:
        key = ring.get(jwt.get_unverified_header(token).get("kid"))
        if key is None:
            raise Unauthorized("token signed with an unknown key")
        claims: dict[str, Any] = jwt.decode(
            token,
            key.verifying,
            algorithms=[key.alg],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=LEEWAY_S,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired") from None
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid token: {exc}") from None
    if claims["type"] != kind:
        raise Unauthorized(f"{claims['type']} tokens are not accepted here (need a {kind} token)")
    return claims


def make_hasher(settings: Settings) -> PasswordHasher:
    """argon2id with the configured cost (argon2-cffi's defaults unless lowered for tests)."""
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )


async def hash_secret(hasher: PasswordHasher, secret: str) -> str:
    return await anyio.to_thread.run_sync(hasher.hash, secret)


async def verify_secret(hasher: PasswordHasher, hashed: str | None, secret: str) -> bool:
    """Whether ``secret`` matches; with no hash it checks a dummy, so an unknown name costs the same time."""

    def check() -> bool:
        try:
            return hasher.verify(hashed or _dummy_hash(hasher), secret) and hashed is not None
        except (VerificationError, InvalidHashError):
            return False

    return await anyio.to_thread.run_sync(check)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash(secrets.token_urlsafe(16))


def _hmac_key(secret: bytes, created_at: float = 0.0) -> SigningKey:
    kid = hashlib.sha256(b"kid:" + secret).hexdigest()[:16]
    return SigningKey(kid, "HS256", secret, secret, created_at)


def _update_keys_file(settings: Settings, *, rotate: bool) -> KeyRing:
    """Under a lock: read the keys file, add a key when asked or needed, drop keys whose tokens expired."""
    path = settings.data_dir / KEYS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_suffix(".lock")):
        records: list[dict[str, Any]] = json.loads(path.read_text())["keys"] if path.exists() else []
        if rotate or not records or records[0]["alg"] != settings.jwt_algorithm:
            records.insert(0, _generate(settings.jwt_algorithm))
        longest = max(
            settings.refresh_token_ttl_s, settings.access_token_ttl_s, settings.device_token_max_ttl_s
        )
        now = time.time()
        kept = records[:1] + [
            r for newer, r in itertools.pairwise(records) if now - newer["created_at"] < longest
        ]
        if kept != records or not path.exists() or rotate:
            _write_private(path, json.dumps({"keys": kept}, indent=1))
    return KeyRing(tuple(_from_record(r) for r in kept))


def _generate(alg: str) -> dict[str, Any]:
    record: dict[str, Any] = {"kid": secrets.token_hex(8), "alg": alg, "created_at": time.time()}
    if alg == "HS256":
        record["secret"] = base64.urlsafe_b64encode(secrets.token_bytes(64)).decode()
        return record
    private: PrivateKey = (
        ed25519.Ed25519PrivateKey.generate() if alg == "EdDSA" else ec.generate_private_key(ec.SECP256R1())
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    record["private_key"] = pem.decode()
    return record


def _from_record(record: dict[str, Any]) -> SigningKey:
    if record["alg"] == "HS256":
        secret = base64.urlsafe_b64decode(record["secret"])
        return SigningKey(record["kid"], "HS256", secret, secret, record["created_at"])
    private = serialization.load_pem_private_key(record["private_key"].encode(), password=None)
    if not isinstance(private, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"unsupported key type in {KEYS_FILE}: {type(private).__name__}")
    return SigningKey(record["kid"], record["alg"], private, private.public_key(), record["created_at"])


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock between the processes that share the data directory."""
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
