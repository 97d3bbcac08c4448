"""The console's administration pages (#18), in headless Chromium against the platform: a platform
admin adds an org unit, a site (a bad opening-hours value is refused under its field), a user with
a phone (shown once with their generated password) and deactivates them, then imports a sheet whose
dry run lists each bad row and writes nothing. Screenshots: test-artifacts/browser/admin-*.png."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # importlib mode: let the tests import browser_helpers

from browser_helpers import DESKTOP, NoonClock, Session, chromium, new_session, shots_on_failure

from bkcore.settings import CoreSettings
from brightkitchen.platform import Platform, PlatformOptions

pytestmark = pytest.mark.e2e
REFUSALS = re.compile(r"status of 422")  # the answers the test provokes on purpose
WAIT_MS = 60_000  # generous: each step waits on the platform, and the machine is shared

SHEET = """编号,名称,类型,所属单位,营业时间,功能区
south-kinder,湖南幼儿园,kindergarten,lakeside-south,07:00-18:00,prep;serving
bad id,坏编号,restaurant,lakeside-south,,
south-bad,时间错,restaurant,lakeside-south,25:00-26:00,
"""


async def test_admin_pages(tmp_path: Path) -> None:
    options = PlatformOptions(port=0, simulated_cameras=False, clock=NoonClock())
    async with (
        Platform(CoreSettings(data_dir=tmp_path, log_json=False), options) as platform,
        chromium() as browser,
        httpx.AsyncClient(base_url=platform.base_url) as client,
    ):
        sessions: list[Session] = []
        async with shots_on_failure(sessions):
            s = await new_session(browser, "admin", **DESKTOP)
            sessions.append(s)
            s.context.set_default_timeout(WAIT_MS)
            page = s.page
            await page.goto(f"{platform.base_url}/console/")
            await page.fill("#username", "admin")
            await page.fill("#password", "demo-admin")
            await page.click("#login-btn")
            await page.wait_for_selector("#admin-link:not(.hidden)")
            assert (await page.inner_text("#admin-link")) == "管理"

            # An org unit under the district.
            await page.click("#admin-link")
            await page.wait_for_selector("#unit-form")
            await page.fill('#unit-form [name="id"]', "lakeside-south")
            await page.fill('#unit-form [name="name"]', "湖南街道")
            await page.select_option('#unit-form [name="kind"]', "township")
            await page.select_option('#unit-form [name="parent_id"]', "lakeside")
            await page.click("#unit-form button[type=submit]")
            await page.wait_for_selector('#units tr[data-unit="lakeside-south"]')

            # A site: the bad opening hours are refused under their field, then it is added.
            await page.goto(f"{platform.base_url}/console/#admin/sites")
            await page.wait_for_selector("#site-form")
            await page.fill('#site-form [name="id"]', "south-primary")
            await page.fill('#site-form [name="name"]', "湖南小学食堂")
            await page.select_option('#site-form [name="org_id"]', "lakeside-south")
            await page.fill('#site-form [name="opening_hours"]', "7点-9点")
            await page.check('#site-form input[name="zone"][value="cooking"]')
            await page.click("#site-save")
            refused = page.locator('.field-error[data-for="opening_hours"]')
            await refused.wait_for()
            assert "HH:MM-HH:MM" in await refused.inner_text()
            await page.fill('#site-form [name="opening_hours"]', "06:30-19:30")
            await page.click("#site-save")
            await page.wait_for_selector('#sites-admin tr[data-site="south-primary"]')
            await s.shot("sites")

            # A user with a phone: their generated password is shown once; then deactivated.
            await page.goto(f"{platform.base_url}/console/#admin/users")
            await page.wait_for_selector("#user-form")
            await page.fill('#user-form [name="username"]', "south-manager")
            await page.fill('#user-form [name="name"]', "湖南小学食堂 吴经理")
            await page.select_option('#user-form [name="role"]', "site_manager")
            await page.select_option('#user-form [name="site_ids"]', ["south-primary"])
            await page.fill('#user-form [name="phone"]', "138 0013 8000")
            await page.click("#user-save")
            await page.wait_for_selector("#secret-value")
            password = await page.inner_text("#secret-value")
            row = page.locator('#users tr[data-user="south-manager"]')
            assert "+8613800138000" in await row.inner_text()
            r = await client.post(
                "/api/cases/auth/login", json={"username": "south-manager", "password": password}
            )
            assert r.status_code == 200, r.text
            await row.locator("button[data-deactivate]").click()
            await page.wait_for_selector('#users tr[data-user="south-manager"] button[data-activate]')
            assert "已停用" in await page.locator('#users tr[data-user="south-manager"]').inner_text()
            r = await client.post(
                "/api/cases/auth/login", json={"username": "south-manager", "password": password}
            )
            assert r.status_code == 401
            await s.shot("users")

            # Import: the dry run lists each bad row and writes nothing.
            sheet = tmp_path / "sites.csv"
            sheet.write_text(SHEET, encoding="utf-8")
            await page.goto(f"{platform.base_url}/console/#admin/import")
            await page.wait_for_selector("#import-form")
            await page.set_input_files('#import-form [name="file"]', str(sheet))
            await page.click("#import-check")
            await page.wait_for_selector("#import-errors")
            rows = await page.locator("#import-errors tr[data-row]").evaluate_all(
                "trs => trs.map(tr => [tr.dataset.row, tr.children[1].textContent])"
            )
            assert rows == [["3", "id"], ["4", "opening_hours"]]
            await s.shot("import")
            sites = (await client.get("/api/cases/sites", headers=await _admin(client))).json()
            assert "south-kinder" not in {x["id"] for x in sites}
            sheet.write_text("\n".join(SHEET.splitlines()[:2]) + "\n", encoding="utf-8")
            await page.set_input_files('#import-form [name="file"]', str(sheet))
            await page.click("#import-run")
            await page.wait_for_selector("#import-ok")
            assert "south-kinder" in {
                x["id"] for x in (await client.get("/api/cases/sites", headers=await _admin(client))).json()
            }
            assert not [e for e in s.errors if not REFUSALS.search(e)], s.errors


async def _admin(client: httpx.AsyncClient) -> dict[str, str]:
    r = await client.post("/api/cases/auth/login", json={"username": "admin", "password": "demo-admin"})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
