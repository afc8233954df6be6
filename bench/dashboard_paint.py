"""Time to first contentful paint of the fleet overview with 1,000 devices, side by side with light pages.

Starts InfluxDB (the shared one when INFLUX_URL and friends are set, else a private one) and a gateway
(`iot-gateway serve`) on loopback, registers the devices and gives each an hour of readings (one every two minutes),
then loads pages in headless Chromium (Debian's, through Playwright) and reads the Performance API's
``first-contentful-paint``. Printed: the first (cold: nothing cached) and the median of the next loads of the
overview (first page: 48 cards with sparklines), the overview filtered down to nothing, and the login page, with
the ratios. Every step is bounded.

    .venv/bin/python -m bench.dashboard_paint [--devices 1000] [--loads 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from playwright.async_api import Browser, async_playwright

from tests.dashboard.conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP
from tests.support.fleet import login
from tests.support.process import GatewayProcess
from tests.support.services import Influx, new_server

ADMIN = ("bench", "bench-password-1")
CONCURRENCY = 16
READINGS_PER_DEVICE = 30  # one every two minutes over the last hour


def influx_env() -> tuple[dict[str, str], Influx | None]:
    keys = ("INFLUX_URL", "INFLUX_TOKEN", "INFLUX_ORG", "INFLUX_BUCKET")
    if all(os.environ.get(k) for k in keys):
        return {f"GATEWAY_{k}": os.environ[k] for k in keys}, None
    server = new_server("influx").start()
    assert isinstance(server, Influx)
    return {f"GATEWAY_{k}": v for k, v in server.env().items()}, server


async def seed(url: str, devices: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        admin = await login(client, *ADMIN)
        limit = asyncio.Semaphore(CONCURRENCY)
        now = time.time_ns() // 1_000_000

        async def one(n: int) -> None:
            async with limit:
                body = {"name": f"Sensor {n:04d}", "device_id": f"sensor-{n:04d}", "tags": {"site": f"site-{n % 7}"}}
                created = (await client.post("/api/v1/devices", json=body, headers=admin)).json()
                auth = {"device_id": created["device_id"], "secret": created["secret"]}
                token = (await client.post("/api/v1/auth/device-token", json=auth)).json()["access_token"]
                readings = [
                    {
                        "ts": now - i * 120_000,
                        "values": {"temperature": 20 + (n % 10) + (i % 7) / 3, "humidity": 40 + i % 5},
                    }
                    for i in range(READINGS_PER_DEVICE)
                ]
                reply = await client.post(
                    "/api/v1/readings", json={"readings": readings}, headers={"Authorization": f"Bearer {token}"}
                )
                assert reply.status_code == 202, reply.text

        await asyncio.gather(*(one(n) for n in range(devices)))


async def paint_ms(browser: Browser, storage: dict, url: str) -> float:  # type: ignore[type-arg]
    context = await browser.new_context(viewport=DESKTOP, storage_state=storage)  # type: ignore[arg-type]
    page = await context.new_page()
    try:
        await page.goto(url, wait_until="load", timeout=60_000)
        fcp: float = await page.evaluate(
            """() => new Promise(resolve => {
                 const seen = performance.getEntriesByName('first-contentful-paint');
                 if (seen.length) return resolve(seen[0].startTime);
                 new PerformanceObserver(list => resolve(list.getEntries()[0].startTime))
                   .observe({type: 'paint', buffered: true});
               })"""
        )
        return fcp
    finally:
        await context.close()


async def measure(url: str, loads: int) -> dict[str, list[float]]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(f"{url}/login")
        await page.get_by_label("Username").fill(ADMIN[0])
        await page.get_by_label("Password").fill(ADMIN[1])
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(f"{url}/", wait_until="commit")
        storage = await context.storage_state()
        await context.close()
        pages = {"overview": f"{url}/", "overview, no match": f"{url}/?q=nothing-matches", "login": f"{url}/login"}
        results: dict[str, list[float]] = {name: [] for name in pages}
        for _ in range(loads):  # interleaved, so drift on a shared machine hits every page alike
            for name, target in pages.items():
                results[name].append(await paint_ms(browser, storage if name != "login" else {}, target))  # type: ignore[arg-type]
        await browser.close()
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--loads", type=int, default=7)
    args = parser.parse_args()
    env, influx = influx_env()
    env |= {
        "GATEWAY_INFLUX_MEASUREMENT": f"bench_{uuid.uuid4().hex[:8]}",
        "GATEWAY_ADMIN_USERNAME": ADMIN[0],
        "GATEWAY_ADMIN_PASSWORD": ADMIN[1],
        "GATEWAY_ARGON2_TIME_COST": "1",
        "GATEWAY_ARGON2_MEMORY_KIB": "8",
        "GATEWAY_ARGON2_PARALLELISM": "1",
        "GATEWAY_REDIS_URL": "",
    }
    gateway = GatewayProcess(Path(tempfile.mkdtemp(prefix="bench-dash-")) / "data", env)
    try:
        gateway.start()
        began = time.perf_counter()
        asyncio.run(seed(gateway.url, args.devices))
        print(f"seeded {args.devices} devices x {READINGS_PER_DEVICE} readings in {time.perf_counter() - began:.1f} s")
        time.sleep(2)  # let the batcher write the last readings
        results = asyncio.run(measure(gateway.url, args.loads))
    finally:
        gateway.stop()
        if influx is not None:
            influx.destroy()
    print(f"first contentful paint, {args.devices} devices, {args.loads} loads each (ms)")
    login_ms = statistics.median(results["login"])
    for name, values in results.items():
        warm = statistics.median(values[1:]) if len(values) > 1 else values[0]
        print(f"  {name:<20} first {values[0]:7.1f}   median after {warm:7.1f}   x login {warm / login_ms:5.2f}")


if __name__ == "__main__":
    main()
