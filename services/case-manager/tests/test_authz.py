"""Authorisation matrix: role × endpoint × own / other subtree / other tenant. Out of scope never succeeds."""

from __future__ import annotations

import httpx
from cm_demo import OTHER
from cm_testkit import detection, eventually, login

from bk_cases.service import CaseService
from bkcore.clock import FakeClock

ACTIONS = ["dispatch", "acknowledge", "recheck", "approve", "reject", "close", "false-alarm"]
# Who may see the case at lakeside-primary (/minghu/lakeside/north): the rest are out of scope.
# The education bureau ("edu") reads only copies (抄告) of dispatched cases: test_loop_education.
IN_SCOPE = {"admin", "city", "lakeside", "north", "manager", "staff"}
OUT_OF_SCOPE = {"hillview", "noodleboss", "r-admin", "r-city", "r-manager"}


async def _cases(client: httpx.AsyncClient, h: dict[str, str]) -> list[dict]:
    return (await client.get("/cases", headers=h)).json()["items"]


async def test_authorisation_matrix(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await service.seed_demo(OTHER)
    bus = service.ctx.runtime.bus
    await bus.publish("detections.v1", detection(clock, "smoking"))
    await bus.publish(
        "detections.v1", detection(clock, "smoking", "river-school", "river-cam", tenant="riverton")
    )
    admin, r_admin = await login(client, "admin"), await login(client, "r-admin")
    await eventually(lambda: _has_one(client, admin))
    await eventually(lambda: _has_one(client, r_admin))
    case_id = (await _cases(client, admin))[0]["id"]

    for user in sorted(IN_SCOPE | OUT_OF_SCOPE):
        h = await login(client, user)
        visible = {c["id"] for c in await _cases(client, h)}
        detail = await client.get(f"/cases/{case_id}", headers=h)
        site = await client.get("/sites/lakeside-primary", headers=h)
        if user in IN_SCOPE:
            assert case_id in visible and detail.status_code == 200 and site.status_code == 200, user
            continue
        assert case_id not in visible, user
        assert detail.status_code == 404, (user, detail.status_code)
        assert site.status_code == 404, (user, site.status_code)
        for action in ACTIONS:
            r = await client.post(
                f"/cases/{case_id}/{action}", headers=h, json={"recheck_at": clock.now().isoformat()}
            )
            assert r.status_code in (403, 404), (user, action, r.status_code)
        files = [("photos", ("x.jpg", b"\xff\xd8x", "image/jpeg"))]
        r = await client.post(f"/cases/{case_id}/rectifications", headers=h, files=files)
        assert r.status_code in (403, 404), (user, "rectify", r.status_code)
    # In scope but the wrong role: refused with 403, and nothing changes.
    staff, mgr = await login(client, "staff"), await login(client, "manager")
    for h in (staff, mgr):
        for action in ("dispatch", "approve", "close", "false-alarm"):
            assert (await client.post(f"/cases/{case_id}/{action}", headers=h)).status_code == 403
    assert (await client.get(f"/cases/{case_id}", headers=admin)).json()["status"] == "new"
    # Supervising endpoints refuse site roles; admin-only ones refuse supervisors.
    assert (await client.get("/stats/summary", headers=mgr)).status_code == 403
    assert (await client.get("/audit/verify", headers=await login(client, "city"))).status_code == 403
    assert (await client.get("/exports/verdicts", headers=mgr)).status_code == 403


async def _has_one(client: httpx.AsyncClient, h: dict[str, str]) -> bool:
    return len(await _cases(client, h)) == 1
