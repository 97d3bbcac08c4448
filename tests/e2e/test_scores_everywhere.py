"""One owner per public figure, across the running platform: the demo's worst site is on the black
list in the case-manager's API and in the public API, and the public numbers (red/black list, the
canteen-door kiosk) are exactly the console's (the case-manager's /stats), for every demo site.

Nothing is called by hand between the services: detections go on the bus, the case-manager re-scores
on its own (ScorePublisher, every BK_SCORE_PUBLISH_S) and publishes site_scores.v1, which the public
API keeps as its read model.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from bk_cases.cases.rules import DEFAULT_GRADES
from bkcore.bus.base import new_meta
from bkcore.settings import CoreSettings
from bkproto.events.v1.detections_pb2 import ViolationDetected, ViolationPhase
from brightkitchen import demo_data
from brightkitchen.platform import Platform, PlatformOptions

pytestmark = pytest.mark.e2e

WORST = "hillview-noodle"
CAMERA = "hillview-noodle-cooking"
# Ten different violations, so ten cases: 2 × Class I, 4 × Class II, 4 × Class III (the default grades).
TYPES = tuple(t for t in DEFAULT_GRADES if not t.startswith("camera_"))


def detection(platform: Platform, vtype: str, i: int) -> ViolationDetected:
    at = platform.runtime.clock.now()  # type: ignore[union-attr]
    ev = ViolationDetected(
        meta=new_meta(tenant_id=demo_data.TENANT_ID, key=CAMERA, producer="test", occurred_at=at),
        violation_id=f"e2e-{vtype}-{i}",
        phase=ViolationPhase.VIOLATION_PHASE_STARTED,
        violation_type=vtype,
        site_id=WORST,
        camera_id=CAMERA,
        zone="cooking",
        score=0.93,
    )
    ev.started_at.FromDatetime(at)
    return ev


async def test_worst_demo_site_is_black_everywhere_with_the_same_numbers(tmp_path: Path) -> None:
    options = PlatformOptions(port=0, simulated_cameras=False)
    async with (
        Platform(CoreSettings(data_dir=tmp_path, log_json=False), options) as platform,
        httpx.AsyncClient(base_url=platform.base_url, timeout=30) as client,
    ):
        for i, vtype in enumerate(TYPES):
            await platform.runtime.bus.publish("detections.v1", detection(platform, vtype, i))  # type: ignore[union-attr]
        r = await client.post("/api/cases/auth/login", json={"username": "city", "password": "demo-city"})
        city = {"Authorization": f"Bearer {r.json()['access_token']}"}

        # The public side learns the scores from site_scores.v1 alone.
        black: list = []
        for _ in range(240):
            r = await client.get("/api/public/public/red-black")
            assert r.status_code == 200, r.text
            black = [e["site_id"] for e in r.json()["black"]]
            if WORST in black:
                break
            await asyncio.sleep(0.5)
        assert black == [WORST], black

        # The case-manager's own answer: the console's statistics page and site view read these.
        rb = (await client.get("/api/cases/stats/red-black-list", headers=city)).json()
        assert [e["site_id"] for e in rb["black"]] == [WORST]
        assert WORST not in [e["site_id"] for e in rb["red"]]
        scores = (await client.get("/api/cases/stats/risk-scores", headers=city)).json()["sites"]
        by_site = {s["site_id"]: s for s in scores}
        assert set(by_site) == {s.id for s in demo_data.SITES}
        worst = by_site[WORST]
        assert worst["violations"] == len(TYPES) and worst["score"] <= 60
        assert (worst["grade"], worst["inspection_frequency"], worst["list"], worst["rank"]) == (
            "high",
            "monthly",
            "black",
            1,
        )
        assert min(by_site.values(), key=lambda s: s["score"])["site_id"] == WORST

        # Public and console: the same numbers for every site, and the same lists in the same order.
        public_rb = (await client.get("/api/public/public/red-black")).json()
        for name in ("red", "black"):
            assert [
                (e["site_id"], e["rank"], e["score"], e["grade"], e["inspection_frequency"])
                for e in public_rb[name]
            ] == [
                (e["site_id"], e["rank"], e["score"], e["grade"], e["inspection_frequency"]) for e in rb[name]
            ], name
        for site_id, s in by_site.items():
            console = (await client.get(f"/api/cases/stats/sites/{site_id}/score", headers=city)).json()
            kiosk = (await client.get(f"/api/public/public/kiosk/{site_id}")).json()
            assert kiosk["score"] == console["score"] == s["score"], site_id
            assert (console["grade"], console["inspection_frequency"], console["list"]) == (
                s["grade"],
                s["inspection_frequency"],
                s["list"],
            )
