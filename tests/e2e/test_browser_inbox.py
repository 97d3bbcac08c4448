"""The console's notification inbox (通知): a Class I alarm reaches the township supervisor's phone
(SMS, through Aliyun's faithful fake on loopback) and their inbox page, which shows how each phone
channel went, and the unread count in the header goes down when it is marked read.

Real platform on loopback, channels configured by environment as an operator would, headless
Chromium. Screenshots: test-artifacts/browser/inbox-*.png.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # importlib mode: let the tests import browser_helpers

from browser_helpers import DESKTOP, NoonClock, chromium, inject_violation, new_session, shots_on_failure

from bkcore.settings import CoreSettings
from bkcore.testing.notify_providers import FakeAliyunSms, serve
from brightkitchen.platform import Platform, PlatformOptions

pytestmark = pytest.mark.e2e


async def test_inbox_shows_the_alarm_and_its_deliveries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sms = FakeAliyunSms(
        access_key_id="LTAI-e2e",
        access_key_secret="sms-secret",
        sign_name="明厨亮灶",
        template_code="SMS_4711",
        variables=["site", "type", "time"],
    )
    async with serve(sms.app) as sms_base:
        for name, value in {
            "BK_SMS_ACCESS_KEY_ID": "LTAI-e2e",
            "BK_SMS_ACCESS_KEY_SECRET": "sms-secret",
            "BK_SMS_SIGN_NAME": "明厨亮灶",
            "BK_SMS_TEMPLATE_CODE": "SMS_4711",
            "BK_SMS_API_BASE": sms_base,
        }.items():
            monkeypatch.setenv(name, value)
        options = PlatformOptions(port=0, simulated_cameras=False, clock=NoonClock())
        async with (
            Platform(CoreSettings(data_dir=tmp_path, log_json=False), options) as platform,
            chromium() as browser,
        ):
            base = platform.base_url
            async with httpx.AsyncClient(base_url=base, timeout=30) as c:
                r = await c.post(
                    "/api/cases/auth/login", json={"username": "admin", "password": "demo-admin"}
                )
                admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
                r = await c.patch("/api/cases/users/north", headers=admin, json={"phone": "139 0013 9000"})
                assert r.status_code == 200, r.text
            session = await new_session(browser, "inbox", **DESKTOP)
            async with shots_on_failure([session]):
                page = session.page
                await page.goto(f"{base}/console/")
                await page.fill("#username", "north")
                await page.fill("#password", "demo-north")
                await page.click("#login-btn")
                await page.wait_for_selector("#wall .alarm, #wall #no-cases")
                await inject_violation(
                    platform,
                    site_id="lakeside-primary",
                    camera_id="lakeside-primary-prep",
                    zone="prep",
                    violation_type="rodent",
                )
                await page.wait_for_function(
                    "document.querySelector('header nav a[href=\"#inbox\"]').textContent.includes('(')",
                    timeout=30_000,
                )
                await page.click('header nav a[href="#inbox"]')
                card = page.locator('[data-notification]:has-text("湖滨第一小学食堂")').first
                await card.wait_for()
                text = await card.text_content() or ""
                assert "鼠患" in text and "切配区" in text  # names, not ids
                await page.wait_for_selector('[data-delivery="sms"]:has-text("已送达")')
                # WeChat has no openid for this person: no WeChat delivery; SMS went to the fake.
                assert [r.body["PhoneNumbers"] for r in sms.received][:1] == ["13900139000"]
                await session.shot("01-inbox")
                before = await page.text_content('header nav a[href="#inbox"]')
                await card.locator("button[data-read]").click()
                await page.wait_for_function(
                    f"document.querySelector('header nav a[href=\"#inbox\"]').textContent !== {before!r}"
                )
                await session.shot("02-read")
                session.assert_no_js_errors()
