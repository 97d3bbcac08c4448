"""The supervisors' multi-camera live view ("视频巡查") in headless Chromium, against the platform.

The district supervisor opens the live view: the cameras of a site each play live video (the
gateway encodes the simulated cameras to H.264 HLS on demand; the page plays it with native HLS or
the vendored hls.js), at least two at once with pictures advancing. A camera whose live view is
refused shows refreshed stills instead. Leaving the view stops the players. Screenshots:
test-artifacts/browser/console-live-*.png.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # importlib mode: let the tests import browser_helpers

from browser_helpers import (
    DESKTOP,
    NoonClock,
    chromium,
    image_loaded,
    new_session,
    shots_on_failure,
    videos_playing,
)

from bkcore.settings import CoreSettings
from brightkitchen.platform import Platform, PlatformOptions

pytestmark = pytest.mark.e2e
SITE = "lakeside-primary"
CAMERAS = {f"{SITE}-prep", f"{SITE}-cooking", f"{SITE}-storage"}
BUDGET_S = 90
VIDEOS = "#live-grid .tile video"


async def test_supervisor_multi_camera_live_view_plays(tmp_path: Path) -> None:
    started = time.monotonic()
    options = PlatformOptions(port=0, sim_fps=2.0, clock=NoonClock())
    async with (
        Platform(CoreSettings(data_dir=tmp_path, log_json=False), options) as platform,
        chromium() as browser,
    ):
        sup = await new_session(browser, "console-live", **DESKTOP)
        async with shots_on_failure([sup]):
            page = sup.page
            await page.goto(f"{platform.base_url}/console/")
            await page.fill("#username", "lakeside")
            await page.fill("#password", "demo-lakeside")
            await page.click("#login-btn")
            await page.wait_for_selector('#sse-state[data-state="open"]')

            # 视频巡查: every camera of the first site plays live, muted and inline.
            await page.click('header nav a[href="#live"]')
            await page.wait_for_selector("#live-grid .tile video")
            first = await page.input_value("#live-site")
            tiles = await page.eval_on_selector_all("#live-grid .tile", "ts => ts.map((t) => t.dataset.cam)")
            assert len(tiles) >= 2 and all(t.startswith(first + "-") for t in tiles), tiles
            videos = await videos_playing(page, VIDEOS, count=2, past_s=1.0, timeout_ms=25_000)
            playing = [v for v in videos if v["currentTime"] > 1.0 and not v["paused"]]
            assert len(playing) >= 2, videos
            assert all(v["muted"] and v["playsInline"] and v["width"] == 640 for v in playing), playing
            await page.wait_for_selector('#live-grid .tile[data-mode="live"] .tag:text("直播")')
            gateway = platform.services["gateway"]
            assert set(tiles) <= {k.camera_id for k in gateway.embedded_live.sessions}  # type: ignore[attr-defined]
            await sup.shot("01-multi-camera-live")

            # Another site; one of its cameras the gateway will not stream (409): refreshed stills there.
            await page.route(
                f"**/v1/cameras/{SITE}-storage/live",
                lambda route: route.fulfill(status=409, json={"detail": "no live stream from this camera"}),
            )
            await page.select_option("#live-site", SITE)
            storage = f'#live-grid .tile[data-cam="{SITE}-storage"]'
            await page.wait_for_selector(f'{storage}[data-mode="still"]')
            tiles = await page.eval_on_selector_all("#live-grid .tile", "ts => ts.map((t) => t.dataset.cam)")
            assert set(tiles) == CAMERAS, tiles
            await image_loaded(page, f"{storage} img.snap")
            await videos_playing(page, VIDEOS, count=2, past_s=1.0, timeout_ms=25_000)
            assert await page.locator('#live-grid .tile[data-mode="live"]').count() == 2
            await sup.shot("02-live-and-refused-still")

            # Leaving the view stops every player (the gateway then stops the streams after its grace).
            await page.click('header nav a[href="#wall"]')
            await page.wait_for_selector("#wall")
            assert await page.locator("video").count() == 0
            sup.assert_no_js_errors()
    assert time.monotonic() - started < BUDGET_S, f"took {time.monotonic() - started:.0f} s"
