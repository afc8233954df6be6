"""Stopping a device on CPython (the fleet simulator and the end-to-end tests stop devices this way): the gateway's
reply to the batch in flight arrives at the moment the device stops.

asyncio.wait_for (which the firmware's HTTP client and MQTT transport use) returns a result that is ready when
its task is cancelled instead of raising, so one cancellation can be missed. The device must still end every
task before it saves what it holds: before, the sender ran on, counted the batch as delivered although it had
already been saved to flash (sent again at the next boot), and went on sending from the spool.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest


class GatedTransport:
    """A transport whose reply comes when the test says so."""

    retry_after_ms = 0

    def __init__(self, stats: Any, log: Any) -> None:
        self.stats, self.log = stats, log
        self.gate: asyncio.Future[None] | None = None
        self.sending = asyncio.Event()
        self.sends = 0

    async def send(self, batch: Any, start: int, end: int) -> int:
        from iotfw import ack
        from iotfw.rt import wait_for_ms

        self.sends += 1
        self.gate = asyncio.get_running_loop().create_future()
        self.sending.set()
        await wait_for_ms(self.gate, 5000)  # as HttpClient.post waits for the reply
        result: int = ack.apply({"accepted": batch.records(start, end)}, batch, start, end, self.stats, self.log)
        return result

    async def close(self) -> None:
        return None


class Counter:
    name = "counter"

    def __init__(self) -> None:
        self.n = 0

    async def read(self, out: dict[str, object]) -> None:
        self.n += 1
        out["seq"] = self.n


@pytest.mark.usefixtures("firmware_on_cpython")
async def test_a_reply_arriving_as_the_device_stops_is_not_counted_twice(tmp_path: Path) -> None:
    from iotfw import config
    from iotfw.ack import Stats
    from iotfw.clock import Clock
    from iotfw.device import Device
    from iotfw.log import Log
    from iotfw.spool import Spool

    spool_dir = tmp_path / "spool"
    cfg = config.loads(
        json.dumps(
            {
                "device_id": "dev-stop",
                "secret": "s",
                "ntp_host": "",
                "spool_dir": str(spool_dir),
                "sample_interval_s": 0.01,
                "batch_size": 3,
                "batch_max_age_s": 0.05,
                "wdt_timeout_ms": 0,
            }
        )
    )
    lines: list[str] = []
    log, stats = Log("dev-stop", "info", lines.append), Stats()
    transport = GatedTransport(stats, log)
    device = Device(
        cfg, transport, [Counter()], Spool(cfg["spool_dir"], 1 << 20, log), Clock(log, ""), log=log, stats=stats
    )
    task = asyncio.create_task(device.run())
    await asyncio.wait_for(transport.sending.wait(), 5)
    await asyncio.sleep(0.05)  # more readings behind the batch in flight
    assert transport.gate is not None
    tasks = list(device._tasks)
    transport.gate.set_result(None)  # the reply arrives ...
    device.stop()  # ... as the device stops
    await asyncio.wait_for(task, 5)
    assert all(t.done() for t in tasks), "a task runs on after the device stopped"
    sends = transport.sends
    await asyncio.sleep(0.2)  # a sender still running would take the next batch now
    assert transport.sends == sends

    spooled = sum(p.read_bytes().count(b"\n") for p in spool_dir.glob("*.seg"))
    assert stats.readings == stats.accepted + spooled, (stats.readings, stats.accepted, spooled)
    assert stats.accepted == 3  # the batch whose reply came, once
    assert not any("did not stop" in line for line in lines)
