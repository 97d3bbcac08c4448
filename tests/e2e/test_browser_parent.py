"""A parent in the H5 page, in headless Chromium against the whole platform on loopback.

Logs in (the mini-program's code exchange), binds to a school with its invite code, watches the
kitchen (zone stills, then "看直播": the gateway encodes the simulated camera to HLS and the <video>
really plays; a camera whose live view is refused falls back to refreshed stills), reads today's
ledger, rates the canteen and files a complaint with a photo, all by clicking; the complaint arrives
over complaints.v1 as a case in the case-manager.
Screenshots: test-artifacts/browser/parent-*.png.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # importlib mode: let the tests import browser_helpers

from browser_helpers import (
    DESKTOP,
    PHONE,
    NoonClock,
    chromium,
    image_loaded,
    jpeg,
    new_session,
    seed_todays_ledger,
    shots_on_failure,
    staff_headers,
    videos_playing,
)

from bk_public.demo import demo_code
from bkcore.settings import CoreSettings
from brightkitchen import demo_data
from brightkitchen.platform import Platform, PlatformOptions

pytestmark = pytest.mark.e2e
SITE = "lakeside-primary"
BUDGET_S = 90


async def test_parent_logs_in_binds_watches_reads_rates_and_complains(tmp_path: Path) -> None:
    started = time.monotonic()
    options = PlatformOptions(port=0, sim_fps=2.0, clock=NoonClock())
    async with (
        Platform(CoreSettings(data_dir=tmp_path, log_json=False), options) as platform,
        httpx.AsyncClient(base_url=platform.base_url, timeout=30) as client,
        chromium() as browser,
    ):
        await seed_todays_ledger(client, platform, SITE)
        parent = await new_session(browser, "parent", **PHONE)
        async with shots_on_failure([parent]):
            page = parent.page

            # Log in: the demo's identity provider stands in for wx.login().
            await page.goto(f"{platform.base_url}/h5/")
            await page.fill("#code", "liu-mama")
            await parent.shot("01-login")
            await page.click("#login-btn")
            await page.wait_for_selector("#no-sites")
            await page.wait_for_selector("#notices p")
            await parent.shot("02-logged-in")

            # Bind with the school's invite code (codes are case-insensitive).
            await page.fill("#invite", demo_code(demo_data.TENANT_ID, SITE).lower())
            await page.fill("#child", "三年级二班")
            await page.click("#bind-btn")
            await page.wait_for_selector("#bind-msg.ok")
            assert "湖滨第一小学食堂" in await page.text_content("#bind-msg")
            await page.wait_for_selector(f'.site.active[data-site="{SITE}"]')

            # The kitchen: a still per camera zone, refreshed by the page until every zone has one.
            await page.wait_for_selector('#tab[data-tab="live"] .cam')
            zones = await page.locator(".zone").all_text_contents()
            assert {"切配区", "烹饪区", "仓库"} <= set(zones), zones
            await image_loaded(page, '.cam[data-cam="lakeside-primary-prep"] img', timeout_ms=30_000)
            await parent.shot("03-kitchen")

            # Live view: the gateway encodes the simulated camera to H.264 HLS on demand (real cameras
            # are remuxed); the <video> plays it, muted and inline (native HLS or the vendored hls.js).
            async with page.expect_response(lambda r: r.url.endswith("/live")) as live_info:
                await page.click('[data-play="lakeside-primary-prep"]')
            live = await live_info.value
            assert live.status == 200, await live.text()
            # /v1/live/<tenant>/<camera>/: camera ids are unique per tenant only
            assert "/lakeside-primary-prep/index.m3u8?" in (await live.json())["hls"]
            await page.wait_for_selector('#player[data-mode="live"] video#video')
            [video] = await videos_playing(page, "#player video#video", past_s=1.0, timeout_ms=20_000)
            assert video["muted"] and video["playsInline"] and (video["width"], video["height"]) == (640, 360)
            await parent.shot("04-live-video")

            # A camera whose live view the gateway refuses (409): the page falls back to refreshed stills.
            await page.route(
                "**/cameras/lakeside-primary-storage/live",
                lambda route: route.fulfill(status=409, json={"detail": "no live stream from this camera"}),
            )
            await page.click('[data-play="lakeside-primary-storage"]')
            await page.wait_for_selector('#player[data-mode="snapshot"]')
            await image_loaded(page, "#player img#live-still")
            assert "暂不支持直播" in await page.text_content("#play-note")
            assert await page.locator("#player video").count() == 0  # the live player was stopped
            await parent.shot("05-live-refused-stills")

            # Today's ledger publicity: what the canteen recorded this morning, without names.
            await page.click('[data-tab="ledger"]')
            await page.wait_for_selector('#ledger [data-part="pesticide_tests"] table')
            ledger = await page.text_content("#ledger")
            assert "青菜" in ledger and "合格" in ledger and "番茄炒蛋" in ledger, ledger
            assert "陈强" not in ledger  # the tester's name is personal data
            await parent.shot("06-ledger")

            # Rate: once a day.
            await page.click('[data-tab="rate"]')
            await page.click('[data-score="satisfied"]')
            await page.wait_for_selector('[data-score="satisfied"].chosen')
            assert "今日已评价" in await page.text_content("#rate-msg")

            # Complain with a photo.
            await page.select_option("#cat", "hygiene")
            await page.fill("#ctext", "今天午餐的餐盘上有油污，没有洗干净。")
            await page.set_input_files(
                "#cphotos", files=[{"name": "plate.jpg", "mimeType": "image/jpeg", "buffer": jpeg(11)}]
            )
            await page.wait_for_selector("#thumbs img")
            await page.click("#complain")
            await page.wait_for_selector("#complain-msg.ok")
            complaint_id = (await page.text_content("#complain-msg")).split("编号")[1].split("，")[0].strip()
            await parent.shot("07-rated-and-complained")

            # The complaint reached the case-manager through complaints.v1, photo included.
            supervisor = await staff_headers(client, "lakeside", "demo-lakeside")
            case = None
            for _ in range(60):
                r = await client.get("/api/cases/cases", params={"source": "complaint"}, headers=supervisor)
                assert r.status_code == 200, r.text
                case = next((c for c in r.json()["items"] if c["source_ref"] == complaint_id), None)
                if case:
                    break
                await asyncio.sleep(0.5)
            assert case is not None, f"complaint {complaint_id} never became a case"
            assert case["site_id"] == SITE and case["case_type"] == "complaint_hygiene", case
            detail = (await client.get(f"/api/cases/cases/{case['id']}", headers=supervisor)).json()
            photo = await client.get(detail["raw_snapshot_url"])
            assert photo.status_code == 200 and photo.content[:3] == b"\xff\xd8\xff"

            # The public side of the site: score and (still empty) rectification publicity.
            await page.click('[data-tab="cases"]')
            await page.wait_for_selector("#score")
            await parent.shot("08-score-and-cases")

            parent.assert_no_js_errors()

        # The canteen-door display shows the same day, without any login.
        # Its score is the case-manager's (site_scores.v1), once published: the console's number. The
        # parent's rating and complaint above re-score the site within seconds; wait for that publication.
        for _ in range(120):
            console = await client.get(f"/api/cases/stats/sites/{SITE}/score", headers=supervisor)
            assert console.status_code == 200, console.text
            published = (await client.get(f"/api/public/public/kiosk/{SITE}")).json()["score"]
            if published is not None and published == console.json()["score"]:
                break
            await asyncio.sleep(0.5)
        kiosk = await new_session(browser, "kiosk", **DESKTOP)
        async with shots_on_failure([kiosk]):
            await kiosk.page.goto(f"{platform.base_url}/kiosk/?site={SITE}")
            await kiosk.page.wait_for_selector('#ledger [data-part="samples"] table')
            assert "番茄炒蛋" in await kiosk.page.text_content("#ledger")
            assert (await kiosk.page.text_content("#score")).strip() == f"{console.json()['score']:g}"
            await kiosk.shot("01-canteen-door")
            kiosk.assert_no_js_errors()
    assert time.monotonic() - started < BUDGET_S, f"took {time.monotonic() - started:.0f} s"
