"""Shared pieces of the browser tests: headless Chromium, screenshots, a noon clock, test pictures.

The browser is the system's Chromium (``/usr/bin/chromium``, or ``BK_CHROMIUM``) driven by
Playwright; a missing browser fails the tests loudly, it never skips them.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, async_playwright

from bkcore.bus.base import new_meta
from bkcore.objstore.base import evidence_key
from bkproto.events.v1.detections_pb2 import ViolationDetected, ViolationPhase
from brightkitchen import demo_data
from brightkitchen.platform import Platform

CHROMIUM = os.environ.get("BK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
PHONE = {
    "viewport": {"width": 414, "height": 860},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "timezone_id": demo_data.TIMEZONE,
}
DESKTOP = {"viewport": {"width": 1366, "height": 860}, "locale": "zh-CN", "timezone_id": demo_data.TIMEZONE}
STEP_TIMEOUT_MS = 20_000
# Expected non-2xx answers the pages handle themselves (e.g. the 409 of a simulated camera's live view).
_EXPECTED_RESOURCE_ERRORS = re.compile(
    r"Failed to load resource: the server responded with a status of (409|404)"
)


class NoonClock:
    """Real time shifted so that it is about 12:00 in the demo's time zone: inside every site's
    opening hours (live view, 'today'), whatever the hour the tests run."""

    def __init__(self, tz: str = demo_data.TIMEZONE) -> None:
        local = datetime.now(ZoneInfo(tz))
        self.offset = local.replace(hour=12, minute=0, second=0, microsecond=0) - local

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        raise AssertionError(
            f"Chromium not found at {CHROMIUM}: the browser tests need it (apt-get install chromium, "
            "or set BK_CHROMIUM to a Chromium/Chrome binary)"
        )
    return CHROMIUM


@dataclass
class Session:
    """One browser context and its page, with the page's JavaScript errors collected."""

    name: str
    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)

    async def shot(self, step: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{step}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_no_js_errors(self) -> None:
        assert not self.errors, f"{self.name}: JavaScript errors in the page: {self.errors}"


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def shots_on_failure(sessions: list[Session]) -> AsyncIterator[None]:
    """On a failure, keep what every page showed at that moment (``<name>-FAILED.png``)."""
    try:
        yield
    except BaseException:
        for s in sessions:
            with contextlib.suppress(Exception):  # a closed page must not hide the real failure
                await s.shot("FAILED")
        raise


async def new_session(browser: Browser, name: str, **options: object) -> Session:
    (ARTIFACTS / f"{name}-FAILED.png").unlink(missing_ok=True)  # from an earlier run
    context = await browser.new_context(**options)  # type: ignore[arg-type]
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = await context.new_page()
    session = Session(name, context, page)
    page.on("pageerror", lambda exc: session.errors.append(f"pageerror: {exc}"))

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error" and not _EXPECTED_RESOURCE_ERRORS.search(msg.text):
            session.errors.append(f"console: {msg.text}")

    page.on("console", on_console)
    return session


async def image_loaded(page: Page, selector: str, timeout_ms: int = STEP_TIMEOUT_MS) -> None:
    """Wait until the image at ``selector`` has really loaded (not just an <img> with a broken src)."""
    await page.wait_for_function(
        "(sel) => { const i = document.querySelector(sel); return !!i && i.complete && i.naturalWidth > 0; }",
        arg=selector,
        timeout=timeout_ms,
    )


async def videos_playing(
    page: Page, selector: str, *, count: int = 1, past_s: float = 1.0, timeout_ms: int = STEP_TIMEOUT_MS
) -> list[dict[str, object]]:
    """Wait until at least ``count`` <video>s at ``selector`` really play: decoded pictures and a
    ``currentTime`` past ``past_s`` seconds (not just a <video> with a source). Returns their state."""
    await page.wait_for_function(
        """([sel, n, t]) => [...document.querySelectorAll(sel)].filter((v) =>
             !v.paused && v.readyState >= 2 && v.videoWidth > 0 && v.currentTime > t).length >= n""",
        arg=[selector, count, past_s],
        timeout=timeout_ms,
    )
    return await page.eval_on_selector_all(  # type: ignore[no-any-return]
        selector,
        """(vs) => vs.map((v) => ({ currentTime: v.currentTime, width: v.videoWidth, height: v.videoHeight,
             paused: v.paused, muted: v.muted, playsInline: v.playsInline }))""",
    )


def jpeg(seed: int, *, width: int = 640, height: int = 360) -> bytes:
    """A synthetic kitchen frame (bksynth), as JPEG bytes."""
    from PIL import Image

    from bksynth.frame import render_random

    pixels, _ = render_random(seed, width, height)
    out = io.BytesIO()
    Image.fromarray(pixels).convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


async def inject_violation(
    platform: Platform, *, site_id: str, camera_id: str, zone: str, violation_type: str, seed: int = 7
) -> str:
    """Publish what the detector would: a STARTED violation with raw and annotated snapshots."""
    assert platform.runtime is not None
    rt = platform.runtime
    now = rt.clock.now()
    vid = str(uuid.uuid4())
    keys = []
    for name in ("raw", "annotated"):
        key = evidence_key(demo_data.TENANT_ID, camera_id, now, f"{vid}-{name}.jpg")
        await rt.store.put(key, jpeg(seed), "image/jpeg")
        keys.append(key)
    event = ViolationDetected(
        meta=new_meta(tenant_id=demo_data.TENANT_ID, key=camera_id, producer="browser-test", occurred_at=now),
        violation_id=vid,
        phase=ViolationPhase.VIOLATION_PHASE_STARTED,
        violation_type=violation_type,
        site_id=site_id,
        camera_id=camera_id,
        zone=zone,
        score=0.93,
        raw_snapshot_key=keys[0],
        annotated_snapshot_key=keys[1],
        model_version="browser-test",
        observations=5,
    )
    event.started_at.FromDatetime(now)
    await rt.bus.publish("detections.v1", event)
    return vid


async def staff_headers(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await client.post("/api/cases/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def seed_todays_ledger(client: httpx.AsyncClient, platform: Platform, site_id: str) -> None:
    """What a canteen records on a normal morning: a passing pesticide test, a sample, disinfection."""
    assert platform.runtime is not None
    manager = await staff_headers(client, "manager", "demo-manager")
    now = platform.runtime.clock.now()
    local_day = now.astimezone(ZoneInfo(demo_data.TIMEZONE)).date().isoformat()
    records = {
        "/api/ledger/v1/pesticide-tests": {
            "site_id": site_id,
            "sample_no": "S-001",
            "item": "青菜",
            "inhibition_pct": 12.5,
            "tester": "陈强",
            "tested_at": (now - timedelta(hours=3)).isoformat(),
        },
        "/api/ledger/v1/samples": {
            "site_id": site_id,
            "dish": "番茄炒蛋",
            "meal": "lunch",
            "meal_date": local_day,
            "weight_g": 150,
            "taken_at": (now - timedelta(minutes=30)).isoformat(),
            "taker": "陈强",
            "fridge": "留样柜 1",
            "planned_disposal_at": (now + timedelta(hours=49)).isoformat(),
        },
        "/api/ledger/v1/disinfections": {
            "site_id": site_id,
            "items": "餐盘、碗、筷",
            "quantity": 300,
            "method": "steam",
            "temperature_c": 100,
            "started_at": (now - timedelta(hours=2)).isoformat(),
            "ended_at": (now - timedelta(hours=1, minutes=30)).isoformat(),
            "operator": "陈强",
        },
    }
    for path, body in records.items():
        r = await client.post(path, json=body, headers=manager)
        assert r.status_code in (200, 201), (path, r.status_code, r.text)
