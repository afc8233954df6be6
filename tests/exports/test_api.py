"""The exports API on the embedded defaults (SQLite, embedded store, jobs run in the gateway process)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from gateway.db.base import utcnow
from gateway.exports.models import Job
from gateway.storage.base import Reading
from gateway.users.models import Role
from tests.exports.conftest import ADMIN, Webhook, finished, login, make_settings, user_headers, wait_for
from tests.support.app import running_app

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
URL = "/api/v1/exports"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(make_settings(tmp_path / "data")) as client:
        yield client


def app_of(client: httpx.AsyncClient) -> FastAPI:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    return app


async def devices_with_readings(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    """Two devices (one tagged site=north) with 500 readings each, one a second from T0."""
    ids = []
    for name, tags in (("a", {"site": "north"}), ("b", {"site": "south"})):
        reply = await client.post("/api/v1/devices", json={"device_id": f"dev-{name}", "name": name, "tags": tags},
                                  headers=headers)  # fmt: skip
        assert reply.status_code == 201, reply.text
        ids.append(f"dev-{name}")
    batch = [
        Reading(d, T0 + i * 1000, {"temp": i / 10, "ok": i % 2 == 0, "label": f"n{i}"}) for d in ids for i in range(500)
    ]
    await app_of(client).state.store.write(batch)
    return ids


def body(**fields: Any) -> dict[str, Any]:
    return {"device_ids": ["dev-a", "dev-b"], "metrics": ["temp", "ok"], "start": T0, "end": T0 + 500_000} | fields


async def test_export_csv_done_downloaded_and_notified(client: httpx.AsyncClient, webhook: Webhook) -> None:
    admin = await login(client, *ADMIN)
    await devices_with_readings(client, admin)
    reply = await client.post(URL, json=body(webhook_url=webhook.url), headers=admin)
    assert reply.status_code == 202, reply.text
    job = reply.json()
    assert reply.headers["Location"].endswith(f"{URL}/{job['id']}")
    assert job["status"] in ("queued", "running", "done") and job["kind"] == "export"

    job = await wait_for(client, admin, job["id"], finished)
    assert job["status"] == "done", job
    assert job["rows_written"] == 1000 and job["progress"] == 1.0 and job["attempts"] == 1
    assert job["download_url"] == f"{URL}/{job['id']}/download"

    reply = await client.get(job["download_url"], headers=admin)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/csv")
    assert "attachment" in reply.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert len(rows) == 1000
    assert rows[0].keys() == {"time", "device_id", "temp", "ok"}
    first = next(r for r in rows if r["device_id"] == "dev-a" and r["time"] == "2026-01-01T00:00:01.000Z")
    assert first["temp"] == "0.1" and first["ok"] == "false"
    assert job["sha256"] and job["size_bytes"] == len(reply.content)

    for _ in range(50):  # the webhook is posted after the job is marked done
        if webhook.received:
            break
        await asyncio.sleep(0.05)
    assert [j["id"] for j in webhook.received] == [job["id"]] and webhook.received[0]["status"] == "done"


async def test_jsonl_parquet_tags_and_windows(client: httpx.AsyncClient) -> None:
    admin = await login(client, *ADMIN)
    await devices_with_readings(client, admin)

    reply = await client.post(URL, json=body(format="jsonl", metrics=["label"], device_ids=None, tag={"site": "north"}),
                              headers=admin)  # fmt: skip
    job = await wait_for(client, admin, reply.json()["id"], finished)
    lines = [json.loads(line) for line in (await client.get(job["download_url"], headers=admin)).text.splitlines()]
    assert len(lines) == 500 and {line["device_id"] for line in lines} == {"dev-a"}
    assert {"device_id": "dev-a", "ts": T0 + 7000, "values": {"label": "n7"}} in lines

    reply = await client.post(URL, json=body(format="parquet", every="1m", agg="max"), headers=admin)
    job = await wait_for(client, admin, reply.json()["id"], finished)
    assert job["status"] == "done", job
    download = await client.get(job["download_url"], headers=admin)
    table = pq.read_table(io.BytesIO(download.content))
    assert table.column_names == ["time", "device_id", "temp", "ok"]
    assert table.num_rows == 2 * 9  # 500 s of readings: 9 one-minute windows per device
    row = table.slice(0, 1).to_pylist()[0]
    assert row["device_id"] == "dev-a" and row["temp"] == 59 / 10 and row["ok"] is None  # max takes numbers only


async def test_status_codes(client: httpx.AsyncClient) -> None:
    admin = await login(client, *ADMIN)
    await devices_with_readings(client, admin)
    app = app_of(client)

    assert (await client.post(URL, json=body())).status_code == 401
    assert (await client.get(URL)).status_code == 401
    for invalid in (
        body(metrics=[]),
        body(tag={"site": "north"}),  # both device_ids and tag
        body(device_ids=None),  # neither
        body(start=T0 + 10, end=T0),
        body(format="xlsx"),
        body(agg="mean"),  # agg without every
        body(every="soon"),
        body(device_ids=["dev-a", "nope"]),
        body(unknown=1),
    ):
        reply = await client.post(URL, json=invalid, headers=admin)
        assert reply.status_code == 422, (invalid, reply.text)
        assert reply.headers["content-type"] == "application/problem+json"

    job = (await client.post(URL, json=body(), headers=admin)).json()
    job = await wait_for(client, admin, job["id"], finished)
    assert (await client.get(f"{URL}/{job['id']}", headers=admin)).status_code == 200

    # Another tenant sees none of it, and cannot name this tenant's devices.
    other = await user_headers(client, app, "eve", Role.admin, tenant="other")
    for method, path in (("GET", ""), ("GET", "/download"), ("DELETE", "")):
        reply = await client.request(method, f"{URL}/{job['id']}{path}", headers=other)
        assert reply.status_code == 404, (method, path, reply.text)
    assert (await client.get(URL, headers=other)).json()["items"] == []
    assert (await client.post(URL, json=body(), headers=other)).status_code == 422

    # Viewers may export (it reads what they can query anyway) but not delete another user's job.
    viewer = await user_headers(client, app, "val", Role.viewer, tenant="default")
    assert (await client.delete(f"{URL}/{job['id']}", headers=viewer)).status_code == 403
    reply = await client.post(URL, json=body(), headers=viewer)
    assert reply.status_code == 202
    mine = await wait_for(client, viewer, reply.json()["id"], finished)
    assert (await client.delete(f"{URL}/{mine['id']}", headers=viewer)).status_code == 204

    listed = (await client.get(URL, headers=admin)).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]]  # the viewer's job was deleted

    # Once the file expires: 410, and the sweeper marks the job expired and deletes the file.
    async with app.state.sessionmaker() as session:
        await session.execute(update(Job).where(Job.id == job["id"]).values(expires_at=utcnow()))
        await session.commit()
    assert (await client.get(job["download_url"], headers=admin)).status_code == 410
    expired = await wait_for(client, admin, job["id"], lambda j: j["status"] == "expired", within=5)
    assert expired["download_url"] is None
    assert (await client.delete(f"{URL}/{job['id']}", headers=admin)).status_code == 204
    assert (await client.get(f"{URL}/{job['id']}", headers=admin)).status_code == 404
