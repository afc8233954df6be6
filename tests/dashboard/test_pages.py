"""The dashboard in headless Chromium against a real gateway: sign-in, live overview and device page, management."""

from __future__ import annotations

import json
import re

import httpx
from playwright.async_api import Page, expect

from tests.dashboard.conftest import OPERATOR, VIEWER, Dashboard, history, now_ms, sign_in


async def test_visitors_are_sent_to_login_which_says_clearly_what_went_wrong(page: Page, dashboard: Dashboard) -> None:
    await page.goto(f"{dashboard.url}/")
    await expect(page).to_have_url(f"{dashboard.url}/login")
    await page.get_by_label("Username").fill("admin")
    await page.get_by_label("Password").fill("not-the-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    await expect(page.get_by_label("Username")).to_have_value("admin")
    await page.goto(f"{dashboard.url}/devices/nope?range=7d")
    await expect(page).to_have_url(re.compile(r"/login\?next=/devices/nope%3Frange%3D7d$"))
    await sign_in(page, dashboard.url)  # lands on the overview; the `next` of a fresh form is `/`
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(f"{dashboard.url}/login")
    await page.goto(f"{dashboard.url}/")
    await expect(page).to_have_url(f"{dashboard.url}/login")


async def test_login_form_needs_its_own_token(dashboard: Dashboard) -> None:
    async with httpx.AsyncClient(base_url=dashboard.url) as client:
        forged = await client.post("/login", data={"username": "admin", "password": "admin-password-1"})
        assert forged.status_code == 400 and "gateway_session" not in forged.headers.get("set-cookie", "")
        form = await client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token and form.headers["content-security-policy"].startswith("default-src 'self'")
        reply = await client.post(
            "/login",
            data={"username": "admin", "password": "admin-password-1", "csrf_token": token[1], "next": "//evil"},
        )
        assert reply.status_code == 303 and reply.headers["location"] == "/"
        # Signed in by cookie: a form post without the session's CSRF token is refused.
        refused = await client.post("/devices/new", data={"name": "sneaky"})
        assert refused.status_code == 403 and "CSRF" in refused.text


async def test_overview_shows_devices_and_a_value_changes_live(page: Page, dashboard: Dashboard) -> None:
    device_id, device = await dashboard.device("Live kitchen", type="env-sensor", tags={"site": "kitchen"})
    await sign_in(page, dashboard.url)
    card = page.locator(f'[data-device="{device_id}"]')
    await expect(card.get_by_role("heading", name="Live kitchen")).to_be_visible()
    await expect(card.locator("[data-status-pill]")).to_have_text("No data")
    await expect(page.locator("#live-state")).to_have_text("Live")
    await dashboard.post(device, [{"ts": now_ms(), "values": {"temperature": 23.25, "humidity": 41}}])
    await expect(card.locator('[data-metric="temperature"] .v')).to_have_text("23.25")  # no reload: over SSE
    await expect(card.locator("[data-status-pill]")).to_have_text("Online")
    await page.reload()  # and the server renders the same
    await expect(card.locator('[data-metric="temperature"] .v')).to_have_text("23.25")
    await expect(card.locator(".spark-line")).to_have_attribute("d", re.compile(r"^$|^M"))


async def test_search_and_filters(page: Page, dashboard: Dashboard) -> None:
    await dashboard.device("Filter alpha", tags={"room": "lab"})
    await dashboard.device("Filter beta", type="env-sensor", tags={"room": "hall"})
    await sign_in(page, dashboard.url)
    await page.get_by_label("Search").fill("filter")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_role("heading", level=2)).to_have_text(["Filter alpha", "Filter beta"])
    await page.get_by_label("Tag", exact=True).select_option("room:hall")  # submits on change
    await expect(page.get_by_role("heading", level=2)).to_have_text(["Filter beta"])
    await page.get_by_label("Tag", exact=True).select_option("")
    await page.get_by_label("Type", exact=True).select_option("env-sensor")
    await expect(page.get_by_role("heading", level=2)).to_have_text(["Filter beta"])
    await page.goto(f"{dashboard.url}/?q=no-such-device")
    await expect(page.get_by_role("heading", name="No devices match")).to_be_visible()


async def test_device_page_charts_history_and_updates_live(page: Page, dashboard: Dashboard) -> None:
    device_id, device = await dashboard.device("Chart room", type="env-sensor", tags={"site": "north"})
    await dashboard.post(device, history(0.5, until_ms=now_ms() - 60_000))
    await sign_in(page, dashboard.url)
    await page.goto(f"{dashboard.url}/devices/{device_id}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Chart room")
    charts = page.locator("figure.chart-card")
    await expect(charts).to_have_count(3)
    await expect(charts.first.locator("figcaption")).to_contain_text("temperature (°C)")
    for key, label in (("24h", "Last day"), ("7d", "Last week"), ("1h", "Last hour")):
        await page.get_by_role("link", name=label).click()
        await expect(page).to_have_url(re.compile(rf"range={key}$"))
        await expect(charts.first.locator("path.line")).to_have_attribute(
            "d", re.compile(r"^M[\d.]+,[\d.]+( [ML][\d.]+,[\d.]+){20,}")
        )
    await expect(page.get_by_text("site")).to_be_visible()  # details: tags
    before = await charts.first.locator("figcaption").inner_text()
    await dashboard.post(device, [{"ts": now_ms(), "values": {"temperature": 31.5, "humidity": 50, "battery": 3.9}}])
    await expect(page.locator('#latest [data-metric="temperature"] .v')).to_have_text("31.5")
    await expect(charts.first.locator("figcaption")).not_to_have_text(before, timeout=15_000)  # one more point


async def test_operator_creates_a_device_and_sees_its_secret_once(page: Page, dashboard: Dashboard) -> None:
    await sign_in(page, dashboard.url, *OPERATOR)
    await page.get_by_role("link", name="New device").click()
    await page.get_by_label("Name").fill("Porch sensor")
    await page.get_by_label("Device id").fill("porch-1")
    await page.get_by_label("Type", exact=True).select_option("env-sensor")
    await page.get_by_label("Tags").fill("site=porch\nfloor=0")
    await page.get_by_role("button", name="Create device").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Porch sensor is ready")
    secret = (await page.locator("#secret").inner_text()).strip()
    config = json.loads(await page.locator("#config").inner_text())
    assert config["device_id"] == "porch-1" and config["secret"] == secret and config["transport"] == "http"
    assert config["gateway_url"] == dashboard.url and {"wifi_ssid", "wifi_password"} <= config.keys()
    copy = page.locator('button[data-copy="secret"]')  # shown by JavaScript
    await copy.click()
    await expect(copy).to_have_text("Copied")
    token = await dashboard.api.post("/api/v1/auth/device-token", json={"device_id": "porch-1", "secret": secret})
    assert token.status_code == 200  # the secret shown is the device's
    await page.get_by_role("link", name="Go to the device").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Porch sensor")
    assert secret not in await page.content()  # never shown again
    await page.goto(f"{dashboard.url}/devices/new")
    await page.get_by_label("Name").fill("Duplicate")
    await page.get_by_label("Device id").fill("porch-1")
    await page.get_by_label("Tags").fill("not a tag")
    await page.get_by_role("button", name="Create device").click()
    await expect(page.locator("#tags-error")).to_contain_text("key=value")
    await page.get_by_label("Tags").fill("")
    await page.get_by_role("button", name="Create device").click()
    await expect(page.locator("#device_id-error")).to_have_text("a device with this id already exists")


async def test_edit_disable_rotate_and_delete_with_confirmation(page: Page, dashboard: Dashboard) -> None:
    device_id, _ = await dashboard.device("Shed", tags={"site": "yard"})
    await sign_in(page, dashboard.url)
    await page.goto(f"{dashboard.url}/devices/{device_id}")
    await page.get_by_role("link", name="Edit").click()
    await page.get_by_label("Name").fill("Garden shed")
    await page.get_by_label("Tags").fill("site=garden")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Garden shed")
    await page.get_by_role("button", name="Disable").click()
    await expect(page.locator("h1 [data-status-pill]")).to_have_text("Disabled")
    await page.get_by_role("button", name="Enable").click()
    await expect(page.locator("h1 [data-status-pill]")).to_have_text("No data")
    await page.get_by_role("link", name="Rotate secret").click()
    await page.get_by_role("button", name="Rotate secret").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("New secret for Garden shed")
    await page.goto(f"{dashboard.url}/devices/{device_id}")
    await page.get_by_role("link", name="Delete").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Delete Garden shed?")
    await page.get_by_role("button", name="Delete device").click()
    await expect(page.get_by_role("status")).to_have_text("Deleted “Garden shed”.")
    missing = await page.goto(f"{dashboard.url}/devices/{device_id}")
    assert missing is not None and missing.status == 404
    await expect(page.get_by_role("heading", level=1)).to_have_text("Not Found")


async def test_a_viewer_sees_no_management_actions(page: Page, dashboard: Dashboard) -> None:
    device_id, _ = await dashboard.device("Read only")
    await sign_in(page, dashboard.url, *VIEWER)
    await expect(page.locator(f'[data-device="{device_id}"]')).to_be_visible()
    await expect(page.get_by_role("link", name="New device")).to_have_count(0)
    await page.goto(f"{dashboard.url}/devices/{device_id}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Read only")
    for name in ("Edit", "Rotate secret", "Delete"):
        await expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
    await expect(page.get_by_role("button", name="Disable")).to_have_count(0)
    refused = await page.goto(f"{dashboard.url}/devices/{device_id}/delete")
    assert refused is not None and refused.status == 403
    await expect(page.get_by_role("heading", level=1)).to_have_text("Forbidden")
