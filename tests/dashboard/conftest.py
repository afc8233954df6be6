"""One real gateway (uvicorn on loopback, real InfluxDB, its own measurement) and headless Chromium for the page tests.

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright's Python package; nothing is downloaded. The
flags keep it off the network: without the background-networking ones it tries to phone home and stalls here.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from gateway.users.models import Role
from tests.conftest import InfluxInfo
from tests.dashboard.server import ADMIN, PASSWORD, LiveServer, gateway_settings, new_measurement, serve
from tests.support.fleet import create_device, device_headers, login

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
ENV_TYPE = {
    "name": "env-sensor",
    "metrics": {
        "temperature": {"kind": "number", "unit": "°C", "min": -40, "max": 125},
        "humidity": {"kind": "number", "unit": "%", "min": 0, "max": 100},
        "battery": {"kind": "number", "unit": "V", "min": 0, "max": 5},
    },
}


@dataclass
class Dashboard:
    server: LiveServer
    api: httpx.AsyncClient
    admin: dict[str, str]  # Bearer headers of the admin

    @property
    def url(self) -> str:
        return self.server.url

    async def device(self, name: str, **fields: Any) -> tuple[str, dict[str, str]]:
        """A new device of the default tenant, and its token headers."""
        device_id, secret = await create_device(self.api, self.admin, name=name, **fields)
        return device_id, await device_headers(self.api, device_id, secret)

    async def post(self, device: dict[str, str], readings: list[dict[str, Any]]) -> None:
        for start in range(0, len(readings), 1000):
            reply = await self.api.post(
                "/api/v1/readings", json={"readings": readings[start : start + 1000]}, headers=device
            )
            assert reply.status_code == 202, reply.text


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def history(seed: float, *, until_ms: int, days: float = 6.9) -> list[dict[str, Any]]:
    """A plausible week of an environment sensor: every 20 minutes, then every minute for the last two hours."""
    start = until_ms - int(days * 86_400_000)
    stamps = list(range(start, until_ms - 7_200_000, 1_200_000)) + list(range(until_ms - 7_200_000, until_ms, 60_000))
    readings = []
    for ts in stamps:
        hours = ts / 3_600_000
        readings.append(
            {
                "ts": ts,
                "values": {
                    "temperature": round(
                        19 + seed + 3.5 * math.sin(hours / 24 * 2 * math.pi) + math.sin(hours * 1.7) * 0.6, 2
                    ),
                    "humidity": round(
                        48 + 9 * math.cos(hours / 24 * 2 * math.pi + seed) + math.sin(hours * 0.9) * 2, 1
                    ),
                    "battery": round(4.1 - (ts - start) / (until_ms - start) * 0.35 - seed * 0.02, 3),
                },
            }
        )
    return readings


@pytest.fixture(scope="session")
async def dashboard(tmp_path_factory: pytest.TempPathFactory, influx: InfluxInfo) -> AsyncIterator[Dashboard]:
    settings = gateway_settings(tmp_path_factory.mktemp("dashboard") / "data", influx, new_measurement())
    with serve(settings) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as api:
            admin = await login(api, *ADMIN)
            reply = await api.post("/api/v1/device-types", json=ENV_TYPE, headers=admin)
            assert reply.status_code == 201, reply.text
            await server.add_user("olga", Role.operator)
            await server.add_user("victor", Role.viewer)
            yield Dashboard(server, api, admin)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    page = await context.new_page()
    page.set_default_timeout(10_000)
    yield page
    await context.close()


async def sign_in(page: Page, url: str, username: str = ADMIN[0], password: str = ADMIN[1]) -> None:
    await page.goto(f"{url}/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{url}/")


@pytest.fixture(scope="session")
def screenshots() -> Iterator[Path]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield SCREENSHOTS
    print(f"\nscreenshots: {SCREENSHOTS}")


OPERATOR = ("olga", PASSWORD)
VIEWER = ("victor", PASSWORD)
