# The gateway's v1 ingestion contract as a small model, in the Python both interpreters share: the
# MicroPython fakes (fakes.py) and the CPython test server (test_send_loop_cpython.py) put it behind
# a fake stream or a real socket. It mirrors the contract the firmware is written to:
#   POST /api/v1/auth/device-token -> 200 token | 401 problem
#   POST /api/v1/readings -> 202 ack | 422 none valid | 400 malformed | 401 bad token | 413 | 429/503
#   MQTT devices/<id>/readings -> ack {"cid", "accepted", "rejected"} or {"cid", "error"}
import json

from ticks import ticks_add, ticks_diff, ticks_ms

LIMIT = 100000.0  # values above this are "out of range" (a validation rule to exercise rejections)


def problem(status: int, title: str, errors=None) -> bytes:
    doc = {"type": "about:blank", "title": title, "status": status, "detail": title}
    if errors is not None:
        doc["errors"] = errors
    return json.dumps(doc).encode()


class GatewayModel:
    def __init__(self, devices=None, token_ttl_s: int = 3600, max_readings: int = 0, keep: bool = True) -> None:
        self.devices = devices if devices is not None else {"dev-1": "s3cret"}
        self.token_ttl_s = token_ttl_s
        self.max_readings = max_readings  # > 0: larger batches get 413
        self.keep = keep  # False: count readings without parsing them (heap measurements)
        self.tokens = {}  # token -> (device_id, expiry ticks)
        self.issued = 0
        self.script = []  # statuses forced on the next readings requests: 503, 429, 500, ...
        self.retry_after = 1
        self.received = []  # accepted readings' ts, in arrival order
        self.accepted = 0
        self.statuses = []  # status of every readings request
        self.token_requests = 0

    def issue(self, device_id: str) -> str:
        self.issued += 1
        token = "tok-%s-%d" % (device_id, self.issued)
        self.tokens[token] = (device_id, ticks_add(ticks_ms(), self.token_ttl_s * 1000))
        return token

    def token_ok(self, token: str) -> bool:
        entry = self.tokens.get(token)
        return entry is not None and ticks_diff(entry[1], ticks_ms()) > 0

    def revoke_tokens(self) -> None:
        self.tokens = {}

    def handle(self, method: str, path: str, headers: dict, body) -> tuple:
        """-> (status, extra header lines, body bytes)"""
        if method != "POST":
            return 405, (), problem(405, "method not allowed")
        if path == "/api/v1/auth/device-token":
            self.token_requests += 1
            try:
                doc = json.loads(body)
                device_id, secret = doc["device_id"], doc["secret"]
            except (ValueError, KeyError, TypeError):
                return 400, (), problem(400, "malformed")
            if self.devices.get(device_id) != secret:
                return 401, (), problem(401, "bad device credentials")
            token = self.issue(device_id)
            return (
                200,
                (),
                json.dumps({"access_token": token, "token_type": "bearer", "expires_in": self.token_ttl_s}).encode(),
            )
        if path == "/api/v1/readings":
            status, extra, out = self._readings(headers, body)
            self.statuses.append(status)
            return status, extra, out
        return 404, (), problem(404, "not found")

    def _readings(self, headers: dict, body) -> tuple:
        if self.script:
            status = self.script.pop(0)
            extra = ("Retry-After: %d" % self.retry_after,) if status in (429, 503) else ()
            return status, extra, problem(status, "unavailable")
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not self.token_ok(auth[7:]):
            return 401, (), problem(401, "invalid or expired token")
        if not self.keep:
            n = body.count(b"\n") + 1
            if self.max_readings and n > self.max_readings:
                return 413, (), problem(413, "too many readings")
            self.accepted += n
            return 202, (), ('{"accepted": %d, "rejected": []}' % n).encode()
        return self._ingest(body)

    def _ingest(self, body) -> tuple:
        try:
            readings = json.loads(body)["readings"]
            if not isinstance(readings, list):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return 400, (), problem(400, "malformed document")
        if self.max_readings and len(readings) > self.max_readings:
            return 413, (), problem(413, "too many readings")
        accepted, rejected = self.validate(readings)
        if not accepted:
            return 422, (), problem(422, "no valid reading", rejected)
        return 202, (), json.dumps({"accepted": len(accepted), "rejected": rejected}).encode()

    def validate(self, readings: list) -> tuple:
        accepted = []
        rejected = []
        for i in range(len(readings)):
            r = readings[i]
            errors = []
            if not isinstance(r, dict) or not isinstance(r.get("ts"), int):
                errors.append("ts: must be epoch milliseconds")
            else:
                values = r.get("values")
                if not isinstance(values, dict) or not values:
                    errors.append("values: required")
                else:
                    for k in values:
                        v = values[k]
                        if not isinstance(v, (int, float)):
                            errors.append("%s: not a number" % k)
                        elif v > LIMIT:
                            errors.append("%s: out of range" % k)
            if errors:
                rejected.append({"index": i, "errors": errors})
            else:
                accepted.append(r["ts"])
        self.received.extend(accepted)
        self.accepted += len(accepted)
        return accepted, rejected

    def handle_mqtt(self, device_id: str, payload) -> dict:
        """The gateway's MQTT consumer: the ack document for one message on devices/<id>/readings."""
        if not self.keep:
            return self._count_mqtt(device_id, bytes(payload))
        try:
            doc = json.loads(payload)
        except ValueError:
            return {"cid": None, "error": "malformed"}
        cid = doc.get("cid")
        if self.script:
            self.script.pop(0)
            return {}  # the gateway is down: the broker took the message, nobody acks it
        token = doc.get("token", "")
        if not self.token_ok(token) or self.tokens[token][0] != device_id:
            return {"cid": cid, "error": "invalid or expired token"}
        accepted, rejected = self.validate(doc.get("readings", []))
        return {"cid": cid, "accepted": len(accepted), "rejected": rejected}

    def _count_mqtt(self, device_id: str, payload: bytes) -> dict:
        """keep=False: read cid and token from the head of the document the firmware writes
        ({"cid":N,"token":"...","readings":[...]}) and count the readings, without parsing them all."""
        i = payload.find(b'"cid":') + 6
        cid = int(payload[i : payload.find(b",", i)])
        j = payload.find(b'"token":"') + 9
        token = payload[j : payload.find(b'"', j)].decode()
        if not self.token_ok(token):
            return {"cid": cid, "error": "invalid or expired token"}
        n = payload.count(b"\n") + 1
        self.accepted += n
        return {"cid": cid, "accepted": n, "rejected": []}
