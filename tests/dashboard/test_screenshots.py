"""Screenshots of the main pages at desktop and phone width, of a tenant with a small, plausible fleet.

They land in ``test-artifacts/screenshots/`` (printed at the end of the session) for people to look at. The same
walk checks that nothing external loads, every form control has a label, and nothing overflows a phone screen.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from gateway.users.models import Role
from tests.dashboard.conftest import DESKTOP, ENV_TYPE, PHONE, Dashboard, history, now_ms, sign_in
from tests.dashboard.server import PASSWORD
from tests.support.fleet import create_device, device_headers, login

FLEET: list[tuple[str, str, dict[str, str], float, int | None]] = [
    # name, device id, tags, seed, minutes since the last reading (None: never reported)
    ("Greenhouse north", "gh-north", {"site": "farm", "zone": "greenhouse"}, 0.0, 0),
    ("Greenhouse south", "gh-south", {"site": "farm", "zone": "greenhouse"}, 1.5, 0),
    ("Cold store", "cold-1", {"site": "farm", "zone": "storage"}, -14.0, 25),
    ("Boiler room", "boiler", {"site": "barn"}, 9.0, 200),
    ("Attic", "attic", {"site": "house"}, 0.0, None),
]


@pytest.fixture(scope="module")
async def showcase(dashboard: Dashboard) -> dict[str, str]:
    """The Bearer headers of ``ada``, an admin of tenant ``showcase``, whose fleet is only the one above."""
    await dashboard.server.add_user("ada", Role.admin, tenant="showcase")
    ada = await login(dashboard.api, "ada", PASSWORD)
    assert (await dashboard.api.post("/api/v1/device-types", json=ENV_TYPE, headers=ada)).status_code == 201
    now = now_ms()
    for name, device_id, tags, seed, minutes in FLEET:
        fields: dict[str, Any] = {"type": "env-sensor", "tags": tags, "device_id": device_id}
        _, secret = await create_device(dashboard.api, ada, name=name, **fields)
        if minutes is not None:
            headers = await device_headers(dashboard.api, device_id, secret)
            await dashboard.post(headers, history(seed, until_ms=now - minutes * 60_000))
    await create_device(
        dashboard.api, ada, name="Garage door", device_id="garage", enabled=False, tags={"site": "house"}
    )
    return ada


async def shoot(page: Page, folder: Path, name: str) -> None:
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=folder / f"{name}.png", full_page=True)
    unlabeled = await page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
             .filter(e => !e.labels || e.labels.length === 0).map(e => e.id || e.name)"""
    )
    assert unlabeled == [], f"{name}: form controls without a label: {unlabeled}"
    overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name}: the page is {overflow}px wider than the screen"


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_main_pages(
    browser: Browser, dashboard: Dashboard, showcase: dict[str, str], screenshots: Path, size: str
) -> None:
    context = await browser.new_context(viewport=DESKTOP if size == "desktop" else PHONE)  # type: ignore[arg-type]
    page = await context.new_page()
    foreign: list[str] = []
    page.on(
        "request", lambda request: foreign.append(request.url) if not request.url.startswith(dashboard.url) else None
    )
    try:
        await page.goto(f"{dashboard.url}/login")
        await shoot(page, screenshots, f"login-{size}")
        await sign_in(page, dashboard.url, "ada", PASSWORD)
        await expect(page.locator("[data-device]")).to_have_count(len(FLEET) + 1)
        await shoot(page, screenshots, f"overview-{size}")
        await page.get_by_role("link", name="Greenhouse north").click()
        await expect(page.locator("figure.chart-card")).to_have_count(3)
        await shoot(page, screenshots, f"device-{size}")
        await page.get_by_role("link", name="Last week").click()
        await shoot(page, screenshots, f"device-week-{size}")
        await page.goto(f"{dashboard.url}/devices/new")
        await shoot(page, screenshots, f"new-device-{size}")
        await page.get_by_label("Name").fill(f"Porch ({size})")
        await page.get_by_label("Tags").fill("site=house")
        await page.get_by_role("button", name="Create device").click()
        await expect(page.locator("#secret")).to_be_visible()
        await shoot(page, screenshots, f"secret-{size}")
        created = json.loads(await page.locator("#config").inner_text())["device_id"]
        await dashboard.api.delete(f"/api/v1/devices/{created}", headers=showcase)  # the fleet stays as above
    finally:
        await context.close()
    assert foreign == [], f"requests left the gateway: {foreign}"
