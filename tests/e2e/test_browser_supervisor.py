"""The closed loop in the browser: alarm wall → dispatch → rectify with a photo → approve → parents.

A supervisor is logged into the console; a violation (published on the bus exactly as the detector
publishes one, snapshots in the object store) appears on the alarm wall without a reload; the
supervisor dispatches it; the site manager, in a second browser context, acknowledges and uploads a
rectification photo; the supervisor approves and closes; a parent bound to the school then sees the
closed case with before/after pictures on the H5 page. Screenshots: test-artifacts/browser/*.png.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # importlib mode: let the tests import browser_helpers

from browser_helpers import (
    DESKTOP,
    PHONE,
    NoonClock,
    Session,
    chromium,
    image_loaded,
    inject_violation,
    jpeg,
    new_session,
    shots_on_failure,
)

from bk_public.demo import demo_code
from bkcore.settings import CoreSettings
from brightkitchen import demo_data
from brightkitchen.platform import Platform, PlatformOptions

pytestmark = pytest.mark.e2e
SITE, CAMERA, ZONE = "lakeside-primary", "lakeside-primary-storage", "storage"
# Class II: it waits for a supervisor to dispatch it (Class I would be dispatched at once).
VIOLATION, VIOLATION_ZH = "trash_bin_open", "垃圾桶未盖"
BUDGET_S = 90


async def _console_login(s: Session, base_url: str, username: str, password: str) -> None:
    await s.page.goto(f"{base_url}/console/")
    await s.page.fill("#username", username)
    await s.page.fill("#password", password)
    await s.page.click("#login-btn")
    await s.page.wait_for_selector('#sse-state[data-state="open"]')
    await s.page.wait_for_selector("#wall .alarm, #wall #no-cases")


async def _act(s: Session, action: str, status_zh: str, note: str = "") -> None:
    if note:
        await s.page.fill("#note", note)
    await s.page.click(f'#actions button[data-action="{action}"]')
    await s.page.wait_for_selector(f'#case-status:text-is("{status_zh}")')
    assert not (await s.page.text_content("#action-error")), await s.page.text_content("#action-error")


async def test_alarm_dispatch_rectify_approve_then_parent_sees_it(tmp_path: Path) -> None:
    started = time.monotonic()
    options = PlatformOptions(port=0, simulated_cameras=False, clock=NoonClock())
    async with (
        Platform(CoreSettings(data_dir=tmp_path, log_json=False), options) as platform,
        chromium() as browser,
    ):
        base = platform.base_url
        sessions: list[Session] = []
        async with shots_on_failure(sessions):
            # The supervisor of the district, on the alarm wall.
            sup = await new_session(browser, "supervisor", **DESKTOP)
            sessions.append(sup)
            await sup.page.goto(f"{base}/console/")
            await sup.page.wait_for_selector("#login-form")
            await sup.shot("01-login")
            await _console_login(sup, base, "lakeside", "demo-lakeside")
            await sup.page.evaluate("window.__noReload = true")
            await sup.shot("02-alarm-wall")

            # An open trash bin in the store room: the detector's event, on the platform's bus.
            await inject_violation(
                platform, site_id=SITE, camera_id=CAMERA, zone=ZONE, violation_type=VIOLATION
            )
            card = sup.page.locator("#wall .alarm.fresh").first
            await card.wait_for()
            assert VIOLATION_ZH in await card.text_content()
            assert await sup.page.evaluate("window.__noReload === true"), "the page reloaded"
            await image_loaded(sup.page, "#wall .alarm.fresh img.snap")
            await sup.page.wait_for_selector("#toast:not(.hidden)")
            await sup.shot("03-new-alarm-pushed")
            case_id = await card.get_attribute("data-case")
            assert case_id

            # Dispatch it.
            await card.locator("a").click()
            await sup.page.wait_for_selector(f'#case-detail[data-case="{case_id}"]')
            await image_loaded(sup.page, "#case-snapshot")
            await _act(sup, "dispatch", "已派发", note="请立即整改，垃圾桶须加盖")
            await sup.shot("04-dispatched")

            # The site manager: sees it on the wall, acknowledges, rectifies with a photo.
            mgr = await new_session(browser, "site-manager", **DESKTOP)
            sessions.append(mgr)
            await _console_login(mgr, base, "manager", "demo-manager")
            await mgr.page.click(f'#wall .alarm[data-case="{case_id}"] a')
            await mgr.page.wait_for_selector(f'#case-detail[data-case="{case_id}"]')
            await _act(mgr, "acknowledge", "已签收")
            await mgr.page.fill("#note", "已更换带盖垃圾桶并培训员工")
            await mgr.page.set_input_files(
                "#photos", files=[{"name": "after.jpg", "mimeType": "image/jpeg", "buffer": jpeg(23)}]
            )
            await mgr.shot("01-rectifying")
            await mgr.page.click('#actions button[data-action="submit"]')
            await mgr.page.wait_for_selector('#case-status:text-is("待审核")')
            await image_loaded(mgr.page, "#case-detail img.rect-photo")
            assert "已更换带盖垃圾桶" in await mgr.page.text_content("#timeline")
            await mgr.shot("02-submitted")

            # Back at the supervisor's page, still not reloaded: the change arrived by itself.
            await sup.page.wait_for_selector('#case-status:text-is("待审核")')
            await image_loaded(sup.page, "#case-detail img.rect-photo")
            assert await sup.page.evaluate("window.__noReload === true"), "the page reloaded"
            await sup.shot("05-submitted-for-review")
            await _act(sup, "approve", "已通过", note="整改到位")
            await _act(sup, "close", "已办结")
            await sup.shot("06-closed")

            # A parent of the school sees the closed case with before and after pictures.
            parent = await new_session(browser, "loop-parent", **PHONE)
            sessions.append(parent)
            page = parent.page
            await page.goto(f"{base}/h5/")
            await page.fill("#code", "wang-baba")
            await page.click("#login-btn")
            await page.fill("#invite", demo_code(demo_data.TENANT_ID, SITE))
            await page.click("#bind-btn")
            await page.wait_for_selector(f'.site.active[data-site="{SITE}"]')
            await page.click('[data-tab="cases"]')
            shown = page.locator(f'.closed-case[data-case="{case_id}"]')
            await shown.wait_for()
            assert VIOLATION_ZH in await shown.text_content()
            await image_loaded(page, f'.closed-case[data-case="{case_id}"] img.before')
            await image_loaded(page, f'.closed-case[data-case="{case_id}"] img.after')
            await shown.scroll_into_view_if_needed()
            await parent.shot("01-closed-case-before-after")

            # The console's statistics and the site's score are the case-manager's (/api/cases/stats).
            await sup.page.evaluate("location.hash = '#stats'")
            await sup.page.wait_for_selector("#stats h2")
            await sup.page.wait_for_selector("#red-black")
            figures = await sup.page.locator("#stats .card h2").all_text_contents()
            assert figures[:3] == ["1", "1", "100.0%"], figures  # captured, handled, closure rate
            await sup.shot("07-statistics")
            await sup.page.evaluate(f"location.hash = '#sites/{SITE}'")
            score = await sup.page.locator("#site-score").text_content()
            assert "食安指数" in score and ("检查频次" in score), score
            await sup.shot("08-site-score")

            for s in (sup, mgr, parent):
                s.assert_no_js_errors()
    assert time.monotonic() - started < BUDGET_S, f"took {time.monotonic() - started:.0f} s"
