"""The console's recall page (召回): the city supervisor recalls a supplier by its credit code; the
report names the three affected sites, their dishes and retained samples, and links each site's case
once the case-manager has opened it. A code that fails its check is refused under its field.

Real platform on loopback, headless Chromium. Screenshots: test-artifacts/browser/recall-*.png.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # importlib mode: let the tests import the helpers

from browser_helpers import DESKTOP, chromium, new_session, shots_on_failure
from recall_kitchen import AFFECTED, DISHES, TOFU, seed_city

from bkcore.settings import CoreSettings
from brightkitchen.platform import Platform, PlatformOptions

pytestmark = pytest.mark.e2e


async def test_the_console_recalls_a_supplier_and_shows_its_sites_and_cases(tmp_path: Path) -> None:
    options = PlatformOptions(port=0, simulated_cameras=False)
    async with (
        Platform(CoreSettings(data_dir=tmp_path, log_json=False), options) as platform,
        chromium() as browser,
    ):
        base = platform.base_url
        async with httpx.AsyncClient(base_url=base, timeout=60) as c:
            r = await c.post("/api/cases/auth/login", json={"username": "admin", "password": "demo-admin"})
            await seed_city(c, {"Authorization": f"Bearer {r.json()['access_token']}"})
        session = await new_session(browser, "recall", **DESKTOP)
        async with shots_on_failure([session]):
            page = session.page
            await page.goto(f"{base}/console/")
            await page.fill("#username", "city")
            await page.fill("#password", "demo-city")
            await page.click("#login-btn")
            await page.wait_for_selector("#wall .alarm, #wall #no-cases")  # the console has settled
            await page.click("#recall-link")
            await page.wait_for_selector("#recall-form")
            form = page.locator("#recall-form")
            await form.locator('[name="supplier_licence"]').fill(TOFU[:-1] + "4")  # wrong check character
            await form.locator('[name="reason"]').fill("抽检不合格")
            await form.locator("button").click()
            await page.wait_for_selector('.field-error[data-for="supplier_licence"]:not(:empty)')
            assert "校验" in await page.text_content('.field-error[data-for="supplier_licence"]')
            await form.locator('[name="supplier_licence"]').fill(TOFU.lower())
            await form.locator("button").click()
            await page.wait_for_selector("#recall-report")
            sites = page.locator("[data-recall-site]")
            assert sorted(await sites.evaluate_all("els => els.map(e => e.dataset.recallSite)")) == sorted(
                AFFECTED
            )
            dishes = await page.locator("[data-dish]").all_text_contents()
            assert sorted(dishes) == sorted(DISHES.values())  # and not the eggs' 番茄炒蛋
            assert sorted(await page.locator("[data-sample]").all_text_contents()) == sorted(DISHES.values())
            # The cases open through the bus; the page looks again until every site links its own.
            await page.wait_for_function(
                f"document.querySelectorAll('[data-recall-case]').length === {len(AFFECTED)}", timeout=90_000
            )
            await session.shot("report")
            report = await page.get_attribute("#recall-report", "data-recall")
            await page.click('a[href="#recall"]')  # back to the form: the recall is listed there
            await page.wait_for_selector(f'[data-recall-item="{report}"]')
            await page.click(f'[data-recall-item="{report}"] a')
            await page.wait_for_selector("[data-recall-case]")
            await page.locator('[data-recall-case="lakeside-kinder"]').click()
            await page.wait_for_selector("#case-detail")
            assert "湖滨实验幼儿园厨房" in await page.text_content("#case-detail")
            # The one 422 is the refused code above, logged by the browser as a failed resource.
            session.errors = [e for e in session.errors if "status of 422" not in e]
            session.assert_no_js_errors()
