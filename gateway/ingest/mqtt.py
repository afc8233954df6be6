"""The MQTT front door: one message on ``devices/<id>/readings`` in, the reply for ``devices/<id>/acks`` out.

Brokers differ in how (and whether) they authenticate devices, so every message carries the device JWT itself:
the payload is the ingestion document plus ``"token"`` and an optional correlation id ``"cid"``. The token must
name the device of the topic. Refusals (bad JSON, bad token, foreign topic) get an error reply and count under
their reason; the caller acks them too, since redelivering them can never help. ``SpoolFull`` and other
transient faults propagate, so the caller holds the messages (no ack) and retries. Messages come in batches (those
read in one wake-up): one spool commit and one set of counts for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from gateway.devices.auth import DeviceAuthenticator
from gateway.errors import Unauthorized
from gateway.ingest import fast, metrics
from gateway.ingest.accept import check, check_batch, spool
from gateway.ingest.pipeline import Pipeline
from gateway.ingest.validate import Limits, ValidationResult

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


Refusal = tuple[str, str]  # (reason, detail): the whole message is refused
Outcome = tuple[str | None, object, ValidationResult | Refusal]  # (device id, correlation id, result)


@dataclass(frozen=True, slots=True)
class MqttIngest:
    device_auth: DeviceAuthenticator
    pipeline: Pipeline
    limits: Limits
    max_bytes: int

    async def __call__(self, messages: list[tuple[str, bytes]]) -> list[tuple[str, bytes] | None]:
        """The reply (topic, payload) to each (topic, payload); the valid readings of all are spooled at once.
        Raises only transient faults (then the caller holds every message and offers them again)."""
        outcomes = [await self._check(topic, payload) for topic, payload in messages]
        await spool(self.pipeline, [result for _, _, result in outcomes if not isinstance(result, tuple)], TRANSPORT)
        await self.pipeline.keep_pace()  # the broker keeps what we do not take yet
        replies: list[tuple[str, bytes] | None] = []
        for device_id, cid, result in outcomes:
            if isinstance(result, tuple):
                metrics.READINGS_REJECTED.labels(TRANSPORT, result[0]).inc()
                body = {"cid": cid, "error": result[1], "reason": result[0]}
            else:
                body = {"cid": cid, **result.to_json()}
            replies.append(None if device_id is None else (ack_topic(device_id), orjson.dumps(body)))
        return replies

    async def _check(self, topic: str, payload: bytes) -> Outcome:
        device_id = device_of(topic)
        if device_id is None:  # e.g. ``devices//readings``: nobody to answer
            return None, None, ("topic", "the topic names no device")
        if len(payload) > self.max_bytes:
            return device_id, None, ("too_large", f"the message exceeds {self.max_bytes} bytes")
        batch, document = fast.decode(payload), None
        if batch is not None and batch.token:
            cid, token = batch.cid, batch.token
        else:
            batch = None
            try:
                document = orjson.loads(payload)
            except orjson.JSONDecodeError as exc:
                return device_id, None, ("malformed", f"the message is not valid JSON: {exc}")
            if not isinstance(document, dict):
                return device_id, None, ("shape", "the message must be a JSON object with a token")
            cid, token = document.pop("cid", None), document.pop("token", None)
            if not isinstance(token, str) or not token:
                return device_id, cid, ("token_missing", "the message carries no device token")
        try:
            device = self.device_auth.remembered(token) or await self.device_auth.authenticate(token)
        except Unauthorized as exc:
            reason = next((code for text, code in _AUTH_REASONS if exc.detail.startswith(text)), "token_invalid")
            return device_id, cid, (reason, exc.detail)
        if device.device_id != device_id:
            return device_id, cid, ("topic_mismatch", "the token belongs to another device than the topic names")
        if batch is not None:
            if (result := check_batch(device, batch, limits=self.limits)) is not None:
                return device_id, cid, result
            document = orjson.loads(payload)  # something in it needs the validator's reasons
            del document["token"]
            document.pop("cid", None)
        return device_id, cid, check(device, document, kind="native", limits=self.limits)
