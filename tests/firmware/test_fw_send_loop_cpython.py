"""The firmware's send loop on CPython (hardware modules from gateway/simulate/shims) against a tiny HTTP
server on 127.0.0.1 that speaks the gateway's contract (the same GatewayModel the MicroPython fakes use):
the device is built by board.build() from a config, as main.py builds it, and runs all its tasks.
  401 (tokens revoked)  -> the token is fetched again and the batch re-sent
  503 with Retry-After  -> the batch is kept and sent later, nothing lost
  422 (none valid)      -> the batch is dropped and logged, not retried
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

DEVICE = "dev-cpython"
SECRET = "s3cret-cpython"


async def until(cond: Callable[[], bool], seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while not cond():
            await asyncio.sleep(0.01)


def serve(model: Any) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path, _ = (await reader.readline()).decode().split(" ", 2)
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, value = line.decode().split(":", 1)
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            status, extra, out = model.handle(method, path, headers, body)
            ctype = "application/json" if status < 300 else "application/problem+json"
            head = f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(out)}\r\n"
            head += "".join(f"{h}\r\n" for h in extra) + "Connection: close\r\n\r\n"
            writer.write(head.encode() + out)
            await writer.drain()
        finally:
            writer.close()
            await writer.wait_closed()

    return handle


class OutOfRange:
    """A sensor gone mad: every value above the gateway's limit (so a whole batch is invalid)."""

    name = "mad"

    async def read(self, out: dict[str, float]) -> None:
        out["temperature"] = 1e9


@pytest.mark.usefixtures("firmware_on_cpython")
async def test_send_loop_against_a_live_http_server(tmp_path: Path) -> None:
    from gateway_model import GatewayModel
    from iotfw import board, config
    from iotfw.log import Log

    model = GatewayModel(devices={DEVICE: SECRET})
    model.retry_after = 1
    server = await asyncio.start_server(serve(model), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    lines: list[str] = []
    log = Log(DEVICE, "info", lines.append)
    cfg = config.loads(
        json.dumps(
            {
                "device_id": DEVICE,
                "secret": SECRET,
                "wifi_ssid": "lab",
                "wifi_password": "pw",
                "gateway_url": f"http://127.0.0.1:{port}",
                "ntp_host": "",
                "spool_dir": str(tmp_path / "spool"),
                "sample_interval_s": 0.02,
                "batch_size": 5,
                "batch_max_age_s": 0.3,
                "backoff_base_ms": 50,
                "backoff_max_ms": 200,
                "wdt_timeout_ms": 2000,
                "sensors": [{"type": "simulated", "seed": 3}],
            }
        )
    )
    device = board.build(cfg, log)
    board.forget()
    task = asyncio.create_task(device.run())
    try:
        # Readings flow with the first token.
        await until(lambda: model.accepted >= 10)
        assert model.token_requests == 1

        # The gateway restarts with new signing keys: 401, a new token, the same batch again.
        model.revoke_tokens()
        seen = model.accepted
        await until(lambda: model.accepted >= seen + 10)
        assert 401 in model.statuses
        assert model.token_requests == 2
        assert model.statuses[model.statuses.index(401) + 1] == 202

        # The gateway is overloaded: two 503s with Retry-After: 1; the batch waits and arrives.
        model.script = [503, 503]
        seen = model.accepted
        await until(lambda: model.statuses.count(503) == 2)
        await until(lambda: model.accepted >= seen + 10)
        i = model.statuses.index(503)
        assert model.statuses[i : i + 3] == [503, 503, 202]

        # A sensor goes mad: a whole batch is invalid -> 422, dropped and logged, never retried.
        sensors = device.sensors
        device.sensors = [OutOfRange()]
        await until(lambda: 422 in model.statuses)
        device.sensors = sensors
        seen = model.accepted
        await until(lambda: model.accepted >= seen + 10)
        assert device.stats.dropped >= 1
        assert any("gateway refused" in line and "(422" in line for line in lines)
    finally:
        device.stop()
        await task
        server.close()
        await server.wait_closed()

    # Nothing lost, nothing twice: every reading made was accepted, rejected or dropped as invalid, or saved
    # to flash at the stop.
    from iotfw.spool import Spool  # noqa: F401 - the segments are plain files

    spooled = sum(p.read_bytes().count(b"\n") for p in (tmp_path / "spool").glob("*.seg"))
    stats = device.stats
    assert stats.readings == stats.accepted + stats.rejected + stats.dropped + spooled
    assert len(model.received) == len(set(model.received)) == stats.accepted
    assert model.received == sorted(model.received)
    assert device.watchdog.feeds > 0 and device.failure == ""
