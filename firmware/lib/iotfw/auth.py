# Device authentication: device id + secret -> short-lived device token (JWT), renewed before it
# expires, fetched again when the gateway refuses it. A refused secret is reported once and retried
# only after a long pause, so a rotated secret never makes the fleet hammer the gateway.
import json

from .rt import ticks_add, ticks_diff, ticks_ms

TOKEN_PATH = "/api/v1/auth/device-token"


class AuthUnavailable(Exception):
    """No token now; wait_ms says when to try again (rejected: the secret itself was refused)."""

    def __init__(self, wait_ms: int, rejected: bool = False) -> None:
        super().__init__(wait_ms)
        self.wait_ms = wait_ms
        self.rejected = rejected


class Auth:
    def __init__(self, http, device_id: str, secret: str, log, renew_margin_s: int = 300,
                 rejected_backoff_s: int = 900) -> None:
        self.http = http
        self.log = log
        self.device_id = device_id
        self.renew_margin_s = int(renew_margin_s)
        self.rejected_backoff_ms = int(rejected_backoff_s * 1000)
        self._body = json.dumps({"device_id": device_id, "secret": secret}).encode()
        self._token = ""
        self._renew_at = 0
        self._expires_at = 0
        self._rejected_until = -1
        self.fetches = 0

    def invalidate(self) -> None:
        self._token = ""

    def reject_secret(self, why: str) -> AuthUnavailable:
        self._token = ""
        self._rejected_until = ticks_add(ticks_ms(), self.rejected_backoff_ms)
        self.log.error("secret rejected: rotate config (device %s: %s); next try in %d s",
                       self.device_id, why, self.rejected_backoff_ms // 1000)
        return AuthUnavailable(self.rejected_backoff_ms, True)

    async def token(self) -> str:
        now = ticks_ms()
        if self._token and ticks_diff(self._renew_at, now) > 0:
            return self._token
        if self._rejected_until >= 0:
            left = ticks_diff(self._rejected_until, now)
            if left > 0:
                raise AuthUnavailable(left, True)
            self._rejected_until = -1
        try:
            return await self._fetch()
        except (OSError, EOFError, ValueError, AuthUnavailable) as e:
            # Renewal failed but the current token is still good: keep using it for now.
            if self._token and ticks_diff(self._expires_at, ticks_ms()) > 0 and not getattr(e, "rejected", False):
                return self._token
            raise

    async def _fetch(self) -> str:
        self.fetches += 1
        resp = await self.http.post(TOKEN_PATH, (self._body,))
        if resp.status == 200:
            doc = json.loads(resp.body)
            token = doc["access_token"]
            expires_s = int(doc.get("expires_in", 3600))
            margin = min(self.renew_margin_s, expires_s // 2)
            now = ticks_ms()
            self._token = token
            self._renew_at = ticks_add(now, (expires_s - margin) * 1000)
            self._expires_at = ticks_add(now, expires_s * 1000)
            self.log.info("device token valid for %d s", expires_s)
            return token
        if resp.status in (401, 403):
            raise self.reject_secret("HTTP %d" % resp.status)
        self.log.warning("token endpoint answered %d", resp.status)
        raise AuthUnavailable(resp.retry_after_s * 1000)
