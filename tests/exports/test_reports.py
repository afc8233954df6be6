"""The daily report: computed by the same runner, on the embedded store and on InfluxDB; scheduled once per
tenant and day however many sweepers race; queued from the CLI."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.config import Settings
from gateway.exports.tasks import Runner
from gateway.storage.base import Reading
from gateway.users.models import Role
from tests.conftest import InfluxInfo
from tests.exports.conftest import ADMIN, BIN, env_of, finished, login, make_settings, user_headers, wait_for
from tests.support.app import running_app

DAY = datetime(2026, 1, 1, tzinfo=UTC)
DAY_MS = int(DAY.timestamp() * 1000)


@pytest.fixture(params=["embedded", "influx"])
async def client(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    store: dict[str, Any] = {}
    if request.param == "influx":
        influx: InfluxInfo = request.getfixturevalue("influx")
        store = {"influx_url": influx.url, "influx_token": influx.token, "influx_org": influx.org,
                 "influx_bucket": influx.bucket}  # fmt: skip
    async with running_app(make_settings(tmp_path / "data", **store)) as client:
        yield client


def app_of(client: httpx.AsyncClient) -> FastAPI:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    return app


async def test_report_summarises_one_day_per_device_and_metric(client: httpx.AsyncClient, tmp_path: Path) -> None:
    admin = await login(client, *ADMIN)
    a, b, quiet = (f"r-{uuid.uuid4().hex[:8]}" for _ in range(3))  # unique in a shared InfluxDB bucket
    for device_id in (a, b, quiet):
        reply = await client.post("/api/v1/devices", json={"device_id": device_id, "name": "r"}, headers=admin)
        assert reply.status_code == 201
    hour = 3_600_000
    await app_of(client).state.store.write([
        *(Reading(a, DAY_MS + i * hour, {"temp": v}) for i, v in enumerate((1.0, 2.0, 3.0, 6.0))),
        Reading(a, DAY_MS + 5 * hour, {"label": "on"}),
        Reading(a, DAY_MS - 1, {"temp": 100.0}),  # the day before
        Reading(a, DAY_MS + 24 * hour, {"temp": -100.0}),  # the day after
        Reading(b, DAY_MS + 12 * hour, {"temp": 10.0}),
        Reading(quiet, DAY_MS - hour, {"temp": 5.0}),
    ])  # fmt: skip

    reply = await client.post("/api/v1/reports", json={"day": "2026-01-01"}, headers=admin)
    assert reply.status_code == 202, reply.text
    job = await wait_for(client, admin, reply.json()["id"], finished)
    assert job["status"] == "done" and job["kind"] == "report" and job["request"]["day"] == "2026-01-01", job
    text = (await client.get(job["download_url"], headers=admin)).text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["device_id", "metric", "count", "min", "mean", "max"]
    summary = {(r[0], r[1]): r[2:] for r in rows[1:]}
    assert summary.keys() == {(a, "label"), (a, "temp"), (b, "temp")}
    assert summary[(a, "label")] == ["1", "", "", ""]
    assert [float(v) for v in summary[(a, "temp")]] == [4, 1, 3, 6]
    assert [float(v) for v in summary[(b, "temp")]] == [1, 10, 10, 10]
    assert job["rows_written"] == 3

    listed = (await client.get("/api/v1/exports", params={"kind": "report"}, headers=admin)).json()["items"]
    assert [j["id"] for j in listed] == [job["id"]]
    assert (await client.get("/api/v1/exports", params={"kind": "export"}, headers=admin)).json()["items"] == []


async def test_schedule_queues_one_report_per_tenant_and_day(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", report_hour_utc=0)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    async with running_app(settings) as client:
        app = app_of(client)
        admin = await login(client, *ADMIN)
        other = await user_headers(client, app, "olga", Role.viewer, tenant="other")

        async def reports(headers: dict[str, str]) -> list[dict[str, Any]]:
            reply = await client.get("/api/v1/exports", params={"kind": "report"}, headers=headers)
            items: list[dict[str, Any]] = reply.json()["items"]
            return items

        # Sweepers of several workers at once: still one report per tenant and day.
        runners = [Runner(settings, app.state.sessionmaker, app.state.store, app.state.job_queue,
                          requeue_at_once=False) for _ in range(3)]  # fmt: skip
        await asyncio.gather(*(r.schedule_reports(datetime.now(UTC)) for r in runners))
        for headers in (admin, other):
            for _ in range(100):
                if (mine := await reports(headers)) and all(j["status"] == "done" for j in mine):
                    break
                await asyncio.sleep(0.1)
            assert [j["request"]["day"] for j in mine] == [yesterday], mine
        await asyncio.sleep(1.5)  # a few more sweeps of the gateway's own scheduler
        assert len(await reports(admin)) == len(await reports(other)) == 1


async def cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "iot-gateway"), *args, env=env_of(settings), stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_cli_queues_a_report_the_gateway_runs(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    async with running_app(settings) as client:
        admin = await login(client, *ADMIN)
        code, out, err = await cli(settings, "reports", "run", "--tenant", "default", "--day", "2026-01-01")
        assert code == 0, err
        job_id = out.split("job ")[-1].strip()
        job = await wait_for(client, admin, job_id, finished, within=30)  # handed over by the gateway's sweeper
        assert job["status"] == "done" and job["kind"] == "report"
        code, _, err = await cli(settings, "reports", "run", "--tenant", "nobody")
        assert code == 1 and "no tenant" in err
