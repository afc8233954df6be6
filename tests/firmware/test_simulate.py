"""`iot-gateway simulate` against a live gateway process (real InfluxDB, real Mosquitto): the fleet runs the firmware's
own code, registers its devices through the API (reusing them by name on a second run), and its summary agrees
with what InfluxDB and the query API hold, device by device, over HTTP and over MQTT.
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.simulate.progress import Progress
from tests.conftest import InfluxInfo, MqttInfo
from tests.firmware.test_fw_e2e import ADMIN, LiveGateway, forget_session, gateway_env, stored
from tests.support.process import GatewayProcess

DEVICES, SECONDS, RATE = 5, 3, 10


@pytest.fixture(scope="module")
async def gateway(
    tmp_path_factory: pytest.TempPathFactory, influx: InfluxInfo, mosquitto: MqttInfo
) -> AsyncIterator[LiveGateway]:
    unique = uuid.uuid4().hex[:8]
    measurement, client_id = f"sim_{unique}", f"gw-sim-{unique}"
    process = GatewayProcess(tmp_path_factory.mktemp("gateway"), gateway_env(influx, mosquitto, measurement, client_id))
    live = LiveGateway(process, influx, mosquitto, measurement, client_id)
    await live.start()
    try:
        yield live
    finally:
        await live.stop()
        await asyncio.to_thread(forget_session, mosquitto, live.consumer_client_id())


async def simulate(gateway: LiveGateway, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "gateway.cli", "simulate", "--gateway", gateway.url]
    argv += ["--username", ADMIN[0], "--password", ADMIN[1], *args]
    return await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=120)


def summary_of(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert run.returncode == 0, f"simulate exited {run.returncode}:\n{run.stderr[-3000:]}\n{run.stdout[-2000:]}"
    doc: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return doc


async def series_points(gateway: LiveGateway, device_id: str, start_ms: int) -> int:
    """How many temperature points the query API returns for the device since start_ms."""
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
        reply = await client.get(
            f"/api/v1/devices/{device_id}/readings",
            params={"metric": "temperature", "start": start_ms, "end": time.time_ns() // 1_000_000 + 1000},
            headers=await gateway.admin(),
        )
    assert reply.status_code == 200, reply.text
    return len(reply.json()["points"])


async def wait_points(gateway: LiveGateway, device_id: str, count: int, within_s: float = 30) -> int:
    deadline = time.monotonic() + within_s
    while True:
        got = len(await stored(gateway.influx, gateway.measurement, device_id, "temperature"))
        if got >= count or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.25)


@pytest.mark.parametrize("transport", ["http", "mqtt"])
async def test_the_summary_matches_what_the_gateway_stored(gateway: LiveGateway, transport: str) -> None:
    prefix = f"sim-{transport}-{uuid.uuid4().hex[:6]}"
    extra = ["--mqtt-host", gateway.broker.host, "--mqtt-port", str(gateway.broker.port)] if transport == "mqtt" else []
    began_ms = time.time_ns() // 1_000_000
    run = await simulate(
        gateway,
        *("--devices", str(DEVICES), "--transport", transport, "--rate", str(RATE), "--duration", str(SECONDS)),
        *("--prefix", prefix, "--progress-every", "1", "--json", *extra),
    )
    summary = summary_of(run)

    # The fleet ran as asked, and every reading it made was accepted: nothing failed, nothing is left over.
    assert summary["ok"] and summary["transport"] == transport
    assert summary["devices"] == DEVICES and summary["reused"] == 0
    assert set(summary["per_device"]) == {f"{prefix}-{i:04d}" for i in range(1, DEVICES + 1)}
    expected = DEVICES * SECONDS * RATE
    assert expected * 0.8 <= summary["sent"] <= expected * 1.1, summary
    assert summary["accepted"] == summary["sent"]
    assert summary["rejected"] == summary["dropped"] == summary["pending"] == summary["errors"] == 0
    assert summary["attempts"] >= summary["accepted"] / 10  # batches of at most 10 readings (the default)
    assert summary["readings_per_s"] == pytest.approx(summary["accepted"] / summary["elapsed_s"], rel=0.01)
    assert 0 < summary["p50_ms"] <= summary["p99_ms"] < 5000
    assert "sampling" in run.stderr  # periodic progress lines (stderr is not a terminal here)

    # InfluxDB and the query API hold exactly what the summary says, device by device.
    for device_id, counts in summary["per_device"].items():
        assert counts["accepted"] == counts["sent"] > 0
        assert await wait_points(gateway, device_id, counts["accepted"]) == counts["accepted"], device_id
        assert await series_points(gateway, device_id, began_ms - 1000) == counts["accepted"], device_id
    assert sum(c["accepted"] for c in summary["per_device"].values()) == summary["accepted"]


async def test_a_second_run_reuses_the_devices_by_name(gateway: LiveGateway) -> None:
    prefix = f"sim-reuse-{uuid.uuid4().hex[:6]}"
    args = ("--devices", "2", "--rate", "10", "--duration", "1", "--prefix", prefix, "--quiet", "--json")
    first = summary_of(await simulate(gateway, *args))
    second = summary_of(await simulate(gateway, *args))
    assert (first["reused"], second["reused"]) == (0, 2)
    assert set(first["per_device"]) == set(second["per_device"])  # the same ids: found by name, secret rotated
    for device_id in first["per_device"]:
        total = first["per_device"][device_id]["accepted"] + second["per_device"][device_id]["accepted"]
        assert await wait_points(gateway, device_id, total) == total


async def test_without_the_firmware_it_says_where_it_looked(gateway: LiveGateway, tmp_path: Path) -> None:
    run = await simulate(gateway, "--firmware", str(tmp_path), "--devices", "1", "--duration", "1")
    assert run.returncode == 2
    assert "firmware library (iotfw) is not in" in run.stderr and "--firmware" in run.stderr


def test_progress_refreshes_one_line_on_a_terminal_and_prints_lines_otherwise() -> None:
    tty = io.StringIO()
    progress = Progress(tty, tty=True, every_s=0)
    progress.update("one")
    progress.update("two")
    progress.finish()
    assert tty.getvalue() == "\rone\x1b[K\rtwo\x1b[K\n"

    log = io.StringIO()
    progress = Progress(log, tty=False, every_s=3600)
    progress.update("first")
    progress.update("too soon")  # within the interval: skipped
    progress.update("forced", force=True)
    progress.finish()
    assert log.getvalue() == "first\nforced\n"
