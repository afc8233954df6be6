"""Device-token authentication for every transport (HTTP via ``CurrentDevice``, the MQTT consumer directly).

It sits on the ingestion hot path, so it caches twice: a verified signature until the token expires (keyed by
the token string), and the device's state (exists, enabled, secret version, type rules) for
``device_state_cache_ttl_s``. A token that passed both is remembered with its principal until the first of the two
expires, so a repeat costs one dict lookup. Device changes in this process drop the state at once; other processes
see them when their entry expires.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from cachetools import TLRUCache, TTLCache
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import security
from gateway.config import Settings
from gateway.device_types.schemas import MetricSchema
from gateway.devices import repository
from gateway.errors import Unauthorized

CACHE_SIZE = 100_000
SCOPE = "readings:write"


@dataclass(frozen=True, slots=True)
class DevicePrincipal:
    device_id: str
    tenant_id: str
    type: str | None
    tags: dict[str, str]
    schema: MetricSchema | None  # the metric rules of the device's type; None when it has no type


@dataclass(frozen=True, slots=True)
class _State:
    principal: DevicePrincipal
    enabled: bool
    secret_version: int
    expires: float  # epoch seconds, when the state cache drops it


class DeviceAuthenticator:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], keys: security.KeyRing, settings: Settings
    ) -> None:
        self._sessions = sessions
        self._keys = keys
        self._settings = settings
        self._verified: TLRUCache[str, dict[str, Any]] = TLRUCache(
            CACHE_SIZE, ttu=lambda _token, claims, _now: float(claims["exp"]), timer=time.time
        )
        self._states: TTLCache[str, _State | None] = TTLCache(
            CACHE_SIZE, ttl=settings.device_state_cache_ttl_s
        )
        self._generation = 0  # bumped by every invalidation, so a load that raced one is not cached
        self._accepted: dict[str, tuple[int, float, DevicePrincipal]] = {}  # token -> (generation, until, principal)
        self._loading: dict[str, asyncio.Task[_State | None]] = {}

    def remembered(self, token: str) -> DevicePrincipal | None:
        """The device of a token accepted before and still good, without awaiting (the MQTT hot path)."""
        hit = self._accepted.get(token)
        if hit is not None and hit[0] == self._generation and time.time() < hit[1]:
            return hit[2]
        return None

    async def authenticate(self, token: str) -> DevicePrincipal:
        """The device a valid token belongs to; Unauthorized (with the reason) otherwise."""
        if (principal := self.remembered(token)) is not None:
            return principal
        generation = self._generation
        claims = self._verified.get(token)
        if claims is None:
            claims = security.verify(self._keys, self._settings, token, kind="device")
            if claims.get("scope") != SCOPE:
                raise Unauthorized("token lacks the readings:write scope")
            self._verified[token] = claims
        state = await self._state(claims["sub"])
        if state is None:
            raise Unauthorized("device no longer exists")
        if not state.enabled:
            raise Unauthorized("device is disabled")
        if claims.get("ver") != state.secret_version or claims["tenant"] != state.principal.tenant_id:
            raise Unauthorized("token issued for a rotated secret")
        if len(self._accepted) >= CACHE_SIZE:
            self._accepted.clear()
        self._accepted[token] = (generation, min(float(claims["exp"]), state.expires), state.principal)
        return state.principal

    def invalidate(self, device_id: str) -> None:
        """The device changed: load its state afresh on next use."""
        self._generation += 1
        self._states.pop(device_id, None)

    def invalidate_all(self) -> None:
        """A device type changed: every device's rules may have."""
        self._generation += 1
        self._states.clear()

    async def _state(self, device_id: str) -> _State | None:
        try:
            return self._states[device_id]
        except KeyError:
            pass
        load = self._loading.get(device_id)
        if load is None:  # one query however many requests wait for it (MQTT has hundreds in flight)
            load = self._loading[device_id] = asyncio.ensure_future(self._load(device_id))
            load.add_done_callback(lambda _: self._loading.pop(device_id, None))
        return await asyncio.shield(load)

    async def _load(self, device_id: str) -> _State | None:
        generation = self._generation
        async with self._sessions() as session:
            row = await repository.with_type(session, device_id)
        state = None
        if row is not None:
            device, device_type = row
            schema = None
            if device_type is not None:
                rules = {
                    "metrics": device_type.metrics,
                    "allow_unknown_metrics": device_type.allow_unknown_metrics,
                }
                schema = MetricSchema.model_validate(rules)
            principal = DevicePrincipal(
                device.device_id, device.tenant_id, device.type, dict(device.tags), schema
            )
            state = _State(
                principal, device.enabled, device.secret_version, time.time() + self._settings.device_state_cache_ttl_s
            )
        if generation == self._generation:
            self._states[device_id] = state
        return state
