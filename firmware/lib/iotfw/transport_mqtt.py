# Readings over MQTT: publish QoS 1 to devices/<id>/readings the same document plus "token" and a
# correlation id "cid"; the gateway's ack arrives on devices/<id>/acks with that cid. No ack in time
# means "retry later" (at-least-once; the gateway's writes are idempotent, so a replay is harmless).
import asyncio
import json

from . import ack
from .auth import AuthUnavailable
from .mqtt import MqttError
from .rt import wait_event

SUFFIX = b"]}"


class MqttTransport:
    def __init__(self, client, auth, device_id: str, stats, log, timeout_ms: int = 15000,
                 ack_timeout_ms: int = 15000) -> None:
        self.client = client
        self.auth = auth
        self.stats = stats
        self.log = log
        self.timeout_ms = timeout_ms
        self.ack_timeout_ms = ack_timeout_ms
        self.topic = ("devices/%s/readings" % device_id).encode()
        self.ack_topic = "devices/%s/acks" % device_id
        self.retry_after_ms = 0
        self._cid = 0
        self._ack = {}
        self._got_ack = asyncio.Event()
        client.on_message = self._on_message

    def _on_message(self, topic, payload) -> None:
        try:
            doc = json.loads(payload)
        except ValueError:
            return
        if isinstance(doc, dict) and doc.get("cid") == self._cid:
            self._ack = doc
            self._got_ack.set()

    async def _ensure_connected(self) -> None:
        if self.client.connected and not self.client.stale():
            return
        try:
            await self.client.connect(self.timeout_ms)
        except MqttError as e:
            if e.rc in (4, 5):
                raise self.auth.reject_secret("MQTT login refused, rc %d" % e.rc)
            raise OSError("CONNACK rc %d" % e.rc)
        await self.client.subscribe(self.ack_topic, self.timeout_ms)
        self.log.info("mqtt: connected to %s:%d", self.client.host, self.client.port)

    async def send(self, batch, start: int, end: int) -> int:
        self.retry_after_ms = 0
        try:
            token = await self.auth.token()
            await self._ensure_connected()
            self._cid = self._cid % 1000000 + 1
            head = ('{"cid":%d,"token":"%s","readings":[' % (self._cid, token)).encode()
            self._ack = {}
            self._got_ack.clear()
            await self.client.publish(self.topic, (head, batch.payload(start, end), SUFFIX), self.timeout_ms)
            if not await wait_event(self._got_ack, self.ack_timeout_ms):
                self.log.warning("mqtt: no ack for cid %d, will retry", self._cid)
                return ack.RETRY
        except AuthUnavailable as e:
            self.retry_after_ms = e.wait_ms
            return ack.RETRY
        except (OSError, EOFError, ValueError, asyncio.TimeoutError) as e:
            self.log.warning("mqtt: cannot publish (%r)", e)
            await self.client.close()
            return ack.RETRY
        doc = self._ack
        if "error" in doc:
            self.log.warning("mqtt: gateway refused the token: %s", doc["error"])
            self.auth.invalidate()
            return ack.REAUTH
        return ack.apply(doc, batch, start, end, self.stats, self.log)

    async def close(self) -> None:
        await self.client.close()
