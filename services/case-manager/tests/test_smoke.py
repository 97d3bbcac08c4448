"""Priority-A walking skeleton: log in, a detection becomes a case, read it back."""

from __future__ import annotations

import httpx
from cm_testkit import detection, eventually, login

from bk_cases.service import CaseService
from bkcore.clock import FakeClock


async def test_login_me_sites(client: httpx.AsyncClient) -> None:
    h = await login(client, "lakeside")
    me = (await client.get("/me", headers=h)).json()
    assert me["role"] == "supervisor" and me["org_path"] == "/minghu/lakeside"
    sites = (await client.get("/sites", headers=h)).json()
    assert [s["id"] for s in sites] == ["lakeside-primary"]
    units = (await client.get("/org-units", headers=h)).json()
    assert {u["path"] for u in units} == {"/minghu/lakeside", "/minghu/lakeside/north"}
    bad = await client.post("/auth/login", json={"username": "lakeside", "password": "nope"})
    assert bad.status_code == 401
    assert (await client.get("/me")).status_code == 401


async def test_detection_opens_and_aggregates(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    bus = service.ctx.runtime.bus
    for i in range(3):
        await bus.publish("detections.v1", detection(clock, offset_s=i * 60))
    h = await login(client, "north")

    async def one_case_with_3():
        page = (await client.get("/cases", headers=h)).json()
        return page if page["total"] == 1 and page["items"][0]["occurrences"] == 3 else None

    page = await eventually(one_case_with_3)
    case = page["items"][0]
    assert case["risk_class"] == 3 and case["status"] == "new" and case["deadline"] is None
    detail = (await client.get(f"/cases/{case['id']}", headers=h)).json()
    assert detail["raw_snapshot_url"].startswith("http://test/objects")
    assert [e["action"] for e in detail["timeline"]] == ["created"]
