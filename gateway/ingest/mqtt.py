"""The MQTT front door: one message on ``devices/<id>/readings`` in, the reply for ``devices/<id>/acks`` out.

Brokers differ in how (and whether) they authenticate devices, so every message carries the device JWT itself:
the payload is the ingestion document plus ``"token"`` and an optional correlation id ``"cid"``. The token must
name the device of the topic. Refusals (bad JSON, bad token, foreign topic) get an error reply and count under
their reason; the caller acks them too, since redelivering them can never help. ``SpoolFull`` and other
transient faults propagate, so the caller holds the message (no ack) and retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from gateway.devices.auth import DeviceAuthenticator
from gateway.errors import Unauthorized
from gateway.ingest import metrics
from gateway.ingest.accept import accept
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.validate import Limits

TRANSPORT = "mqtt"
TOPIC_PREFIX, TOPIC_SUFFIX = "devices/", "/readings"
# The authenticator's refusals as stable metric labels (its messages are for people).
_AUTH_REASONS = (
    ("token expired", "token_expired"),
    ("device no longer exists", "device_unknown"),
    ("device is disabled", "device_disabled"),
    ("token issued for a rotated secret", "secret_rotated"),
)


def device_of(topic: str) -> str | None:
    """The device id in ``devices/<id>/readings``; None for any other topic."""
    if topic.startswith(TOPIC_PREFIX) and topic.endswith(TOPIC_SUFFIX):
        device_id = topic[len(TOPIC_PREFIX) : -len(TOPIC_SUFFIX)]
        if device_id and "/" not in device_id:
            return device_id
    return None


def ack_topic(device_id: str) -> str:
    return f"devices/{device_id}/acks"


@dataclass(frozen=True, slots=True)
class MqttIngest:
    device_auth: DeviceAuthenticator
    pipeline: Pipeline
    limits: Limits
    max_bytes: int

    async def __call__(self, topic: str, payload: bytes) -> tuple[str, bytes] | None:
        """The reply (topic, payload) to one message; raises only transient faults (then hold the message)."""
        device_id = device_of(topic)
        if device_id is None:  # e.g. ``devices//readings``: nobody to answer
            metrics.READINGS_REJECTED.labels(TRANSPORT, "topic").inc()
            return None
        return ack_topic(device_id), orjson.dumps(await self._handle(device_id, payload))

    async def _handle(self, device_id: str, payload: bytes) -> dict[str, Any]:
        if len(payload) > self.max_bytes:
            return _refuse(None, "too_large", f"the message exceeds {self.max_bytes} bytes")
        try:
            document = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            return _refuse(None, "malformed", f"the message is not valid JSON: {exc}")
        if not isinstance(document, dict):
            return _refuse(None, "shape", "the message must be a JSON object with a token")
        cid, token = document.pop("cid", None), document.pop("token", None)
        if not isinstance(token, str) or not token:
            return _refuse(cid, "token_missing", "the message carries no device token")
        try:
            device = await self.device_auth.authenticate(token)
        except Unauthorized as exc:
            reason = next((code for text, code in _AUTH_REASONS if exc.detail.startswith(text)), "token_invalid")
            return _refuse(cid, reason, exc.detail)
        if device.device_id != device_id:
            return _refuse(cid, "topic_mismatch", "the token belongs to another device than the topic names")
        result = await accept(self.pipeline, device, document, kind="native", limits=self.limits, transport=TRANSPORT)
        return {"cid": cid, **result.to_json()}


def _refuse(cid: object, reason: str, detail: str) -> dict[str, Any]:
    metrics.READINGS_REJECTED.labels(TRANSPORT, reason).inc()
    return {"cid": cid, "error": detail, "reason": reason}
