"""Correcting a capture in the console: the supervisor moves the detector's box, says what the cook
wears, draws a region where there is no rat, saves; the export the trainer reads holds exactly that.

Real platform on loopback, headless Chromium; mouse drags as a person makes them. Screenshots:
test-artifacts/browser/labels-*.png.
"""

from __future__ import annotations

import io
import sys
import uuid
import zipfile
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # importlib mode: let the tests import browser_helpers

from browser_helpers import (
    DESKTOP,
    NoonClock,
    Session,
    chromium,
    image_loaded,
    jpeg,
    new_session,
    shots_on_failure,
)

from bkcore.bus.base import new_meta
from bkcore.objstore.base import evidence_key
from bkcore.settings import CoreSettings
from bkcore.verdicts import MANIFEST, parse_set
from bkproto.events.v1.detections_pb2 import ViolationDetected, ViolationPhase
from brightkitchen import demo_data
from brightkitchen.platform import Platform, PlatformOptions

pytestmark = pytest.mark.e2e
SITE, CAMERA, ZONE = "lakeside-primary", "lakeside-primary-prep", "prep"
BOX = (0.1, 0.2, 0.4, 0.9)  # the cook the detector saw without a hat


async def _violation(platform: Platform) -> str:
    assert platform.runtime is not None
    rt = platform.runtime
    now = rt.clock.now()
    vid = str(uuid.uuid4())
    key = evidence_key(demo_data.TENANT_ID, CAMERA, now, f"{vid}-raw.jpg")
    await rt.store.put(key, jpeg(31), "image/jpeg")
    event = ViolationDetected(
        meta=new_meta(tenant_id=demo_data.TENANT_ID, key=CAMERA, producer="browser-test", occurred_at=now),
        violation_id=vid,
        phase=ViolationPhase.VIOLATION_PHASE_STARTED,
        violation_type="no_chef_hat",
        site_id=SITE,
        camera_id=CAMERA,
        zone=ZONE,
        score=0.9,
        raw_snapshot_key=key,
        annotated_snapshot_key=key,
        model_version="browser-test",
        observations=5,
    )
    event.started_at.FromDatetime(now)
    event.box.x1, event.box.y1, event.box.x2, event.box.y2 = BOX
    await rt.bus.publish("detections.v1", event)
    return vid


async def _drag(s: Session, start: tuple[float, float], end: tuple[float, float]) -> None:
    """A mouse drag on the labels canvas, in fractions of the picture."""
    await s.page.locator("#labels-svg").scroll_into_view_if_needed()  # the mouse acts in the viewport
    r = await s.page.locator("#labels-svg").bounding_box()
    assert r is not None
    await s.page.mouse.move(r["x"] + start[0] * r["width"], r["y"] + start[1] * r["height"])
    await s.page.mouse.down()
    for k in range(1, 6):  # in steps, as a hand moves
        f = k / 5
        x, y = start[0] + (end[0] - start[0]) * f, start[1] + (end[1] - start[1]) * f
        await s.page.mouse.move(r["x"] + x * r["width"], r["y"] + y * r["height"])
    await s.page.mouse.up()


async def test_supervisor_moves_draws_and_sets_attributes_and_the_export_holds_them(tmp_path: Path) -> None:
    options = PlatformOptions(port=0, simulated_cameras=False, clock=NoonClock())
    async with (
        Platform(CoreSettings(data_dir=tmp_path, log_json=False), options) as platform,
        chromium() as browser,
        httpx.AsyncClient(base_url=platform.base_url) as client,
    ):
        sessions: list[Session] = []
        async with shots_on_failure(sessions):
            sup = await new_session(browser, "labels", **DESKTOP)
            sessions.append(sup)
            await sup.page.goto(f"{platform.base_url}/console/")
            await sup.page.fill("#username", "lakeside")
            await sup.page.fill("#password", "demo-lakeside")
            await sup.page.click("#login-btn")
            await sup.page.wait_for_selector('#sse-state[data-state="open"]')
            await _violation(platform)
            card = sup.page.locator("#wall .alarm").first
            await card.wait_for()
            case_id = await card.get_attribute("data-case")
            assert case_id
            await card.locator("a").click()
            await sup.page.wait_for_selector(f'#case-detail[data-case="{case_id}"]')

            # The editor starts from what the detector claimed: one person, hat not worn.
            await sup.page.wait_for_selector('#labels-svg g[data-label="person"]')
            await image_loaded(sup.page, "#labels-img")
            await sup.shot("01-claimed")
            assert await sup.page.locator("#labels-svg g.lbox").count() == 1

            # Move the box right and down by a tenth of the frame; select it and say the mask is worn.
            centre = ((BOX[0] + BOX[2]) / 2, (BOX[1] + BOX[3]) / 2)
            await _drag(sup, centre, (centre[0] + 0.1, centre[1] + 0.05))
            await sup.page.wait_for_selector('select[data-attr="mask"]')
            assert await sup.page.locator('select[data-attr="chef_hat"]').input_value() == "0"
            await sup.page.select_option('select[data-attr="mask"]', "1")
            # Draw a region on the floor where there is no rat.
            await sup.page.select_option("#label-new", "rodent")
            await sup.page.click("#label-draw")
            await _drag(sup, (0.6, 0.7), (0.9, 0.95))
            await sup.page.wait_for_selector("#label-kind")
            await sup.page.select_option("#label-kind", "absent")
            await sup.shot("02-corrected")
            await sup.page.click("#label-save")
            await sup.page.wait_for_selector("#labels[data-saved]")
            assert "✓" in (await sup.page.text_content("#labels-status") or "")
            assert not await sup.page.text_content("#labels-error")
            await sup.shot("03-saved")
            assert not sup.errors, sup.errors

        # What the trainer will read.
        r = await client.post("/api/cases/auth/login", json={"username": "admin", "password": "demo-admin"})
        admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = await client.get("/api/cases/exports/verdicts", headers=admin)
        assert r.status_code == 200, r.text
        doc = parse_set(zipfile.ZipFile(io.BytesIO(r.content)).read(MANIFEST))
        (rec,) = [x for x in doc.records if x.case_id == case_id]
        assert rec.labelled_by == "supervisor" and rec.verdict == ""  # still open, corrected all the same
        (person,) = rec.labels.objects
        assert person.label == "person" and person.attributes == {"chef_hat": 0, "mask": 1}
        moved = [b - a for a, b in zip(BOX, person.box, strict=True)]
        assert all(abs(d - e) < 0.02 for d, e in zip(moved, (0.1, 0.05, 0.1, 0.05), strict=True)), person.box
        (floor,) = rec.labels.absent
        assert floor.label == "rodent"
        assert all(abs(a - b) < 0.02 for a, b in zip(floor.box, (0.6, 0.7, 0.9, 0.95), strict=True)), (
            floor.box
        )
