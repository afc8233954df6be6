# Readings over HTTP: POST /api/v1/readings with the device token, the status mapped to an outcome.
import asyncio

from . import ack
from .auth import AuthUnavailable

READINGS_PATH = "/api/v1/readings"
PREFIX = b'{"readings":['
SUFFIX = b"]}"


class HttpTransport:
    def __init__(self, http, auth, stats, log) -> None:
        self.http = http
        self.auth = auth
        self.stats = stats
        self.log = log
        self.retry_after_ms = 0

    async def send(self, batch, start: int, end: int) -> int:
        self.retry_after_ms = 0
        try:
            token = await self.auth.token()
            resp = await self.http.post(READINGS_PATH, (PREFIX, batch.payload(start, end), SUFFIX), token)
        except AuthUnavailable as e:
            self.retry_after_ms = e.wait_ms
            return ack.RETRY
        except (OSError, EOFError, ValueError, asyncio.TimeoutError) as e:
            self.log.warning("gateway unreachable: %r", e)
            return ack.RETRY
        status = resp.status
        if 200 <= status < 300:
            return ack.apply(ack.parse(resp.body), batch, start, end, self.stats, self.log)
        if status == 401:
            self.auth.invalidate()
            return ack.REAUTH
        if status == 413:
            return ack.SPLIT
        if status == 422 or status == 400:
            return ack.log_refused(ack.parse(resp.body), batch.records(start, end), status, self.stats, self.log)
        self.retry_after_ms = resp.retry_after_s * 1000
        self.log.warning("gateway answered %d, will retry", status)
        return ack.RETRY

    async def close(self) -> None:
        pass
