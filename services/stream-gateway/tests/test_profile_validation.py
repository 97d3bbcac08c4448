"""The registry refuses a camera profile a detector would refuse, at its API, with a 422 that names
the field (bk-core's checks, the detector's own): unknown rules, bad schedule windows, bad polygons,
bad time zones. Nothing is stored; the camera keeps its profile and its rules_version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from gateway_helpers import runtime, settings, token

from bk_gateway.service import create_service
from bkcore.profiles import VIOLATION_TYPES

GOOD = {
    "timezone": "Asia/Shanghai",
    "masks": [{"xy": [0.0, 0.0, 0.3, 0.0, 0.3, 0.3]}],
    "rules": [
        {"violation_type": "no_chef_hat", "enabled": True, "min_score": 0.6},
        {"violation_type": "rodent", "enabled": True,
         "schedule": [{"weekdays": [1, 2, 3, 4, 5], "start_minute": 1320, "end_minute": 360}]},
    ],
}  # fmt: skip


def camera(**kw: Any) -> dict[str, Any]:
    return {"id": "cam-p", "tenant_id": "minghu", "site_id": "s1", "zone": "cooking",
            "source_url": "rtsp://10.0.0.7:554/sub", "enabled": False, **kw}  # fmt: skip


def with_rule(**rule: Any) -> dict[str, Any]:
    return {**GOOD, "rules": [*GOOD["rules"], rule]}


async def test_bad_profiles_are_refused_with_the_field_named(tmp_path: Path) -> None:
    rt = runtime(settings(tmp_path))
    svc = create_service(rt)
    await rt.bus.start()
    await svc.start()
    try:
        transport = httpx.ASGITransport(app=svc.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            admin = token(rt)
            r = await c.put("/v1/cameras/cam-p", json=camera(profile=GOOD), headers=admin)
            assert r.status_code == 200, r.text
            version = r.json()["rules_version"]

            async def refused(body: dict[str, Any], *, patch: bool = False) -> str:
                if patch:
                    r = await c.patch("/v1/cameras/cam-p", json=body, headers=admin)
                else:
                    r = await c.put("/v1/cameras/cam-p", json=camera(**body), headers=admin)
                assert r.status_code == 422, r.text
                [error] = r.json()["detail"]
                field = "schedule" if "schedule" in body else "profile"
                assert error["loc"] == ["body", field], error
                return error["msg"]

            msg = await refused({"profile": with_rule(violation_type="no_hats")})
            assert msg == (f"profile.rules[2].violation_type: unknown rule 'no_hats' "
                           f"(known: {', '.join(VIOLATION_TYPES)})")  # fmt: skip
            msg = await refused({"profile": with_rule(violation_type="no_hats")}, patch=True)
            assert msg.startswith("profile.rules[2].violation_type: unknown rule 'no_hats'")
            msg = await refused({"profile": with_rule(violation_type="no_chef_hat")}, patch=True)
            assert msg.startswith(
                "profile.rules[2].violation_type: 'no_chef_hat' is already configured by rules[0]"
            )
            bad_window = [{"weekdays": [0, 6], "start_minute": 600, "end_minute": 1500}]
            msg = await refused({"profile": with_rule(violation_type="smoking", schedule=bad_window)})
            assert msg == (
                "profile.rules[2].schedule[0].weekdays: [0] are not weekdays 1 (Monday) .. 7 (Sunday); "
                "profile.rules[2].schedule[0].end_minute: 1500 is past midnight (minutes 0..1440)"
            )
            msg = await refused({"profile": {**GOOD, "masks": [{"xy": [0.1, 0.1, 0.5, 0.5]}]}})
            assert msg.startswith("profile.masks[0].xy: a polygon needs at least 3 points")
            zone = {"violation_type": "smoking", "zones": [{"xy": [0.1, 0.1, 1.5, 0.2, 0.3, 0.9]}]}
            msg = await refused({"profile": with_rule(**zone)}, patch=True)
            assert msg == "profile.rules[2].zones[0].xy: coordinates are fractions of the frame, 0..1"
            msg = await refused({"profile": {**GOOD, "timezone": "Asia/Beijing"}})
            assert msg.startswith("profile.timezone: unknown time zone 'Asia/Beijing'")
            msg = await refused({"schedule": [{"start_minute": 1441}]}, patch=True)
            assert msg == "schedule[0].start_minute: 1441 is past midnight (minutes 0..1440)"
            msg = await refused({"profile": {"rules": "no_chef_hat"}})  # not a CameraProfile at all
            assert msg.startswith("Value error, profile is not a valid CameraProfile")
            r = await c.post("/v1/cameras", json=camera(id="cam-q", profile=with_rule(violation_type="x")),
                             headers=admin)  # fmt: skip
            assert r.status_code == 422 and "unknown rule 'x'" in r.text

            # Nothing was stored: the camera keeps its good profile, and no camera cam-q exists.
            r = await c.get("/v1/cameras/cam-p", headers=admin)
            assert r.json()["profile"] == GOOD and r.json()["rules_version"] == version
            assert (await c.get("/v1/cameras/cam-q", headers=admin)).status_code == 404
            # A good change is taken, and moves the rules_version on.
            r = await c.patch("/v1/cameras/cam-p", json={"profile": with_rule(violation_type="smoking")},
                              headers=admin)  # fmt: skip
            assert r.status_code == 200 and r.json()["rules_version"] > version
    finally:
        await svc.stop()
        await rt.bus.stop()
