"""Evidence and the end of a case on the shipped demo (#18.4): a rectification needs a photo, a recheck
is scheduled ahead and records its result, Class III closes by itself after the tenant's period."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from cm_loopkit import SCHOOL, detail, rectify, wait_cases
from cm_testkit import detection, eventually, login
from sqlalchemy import update

from bk_cases.cases.scheduled import sweep_once
from bk_cases.directory.models import Tenant
from bk_cases.service import CaseService
from bkcore.clock import FakeClock


@pytest.fixture
def demo() -> object:
    from brightkitchen import demo_data

    return demo_data


async def _dispatched(service: CaseService, client: httpx.AsyncClient, clock: FakeClock, vtype: str) -> str:
    await service.ctx.runtime.bus.publish("detections.v1", detection(clock, vtype, SCHOOL))
    north = await login(client, "north")
    (case,) = await wait_cases(client, north, 1)
    if case["status"] == "new":
        assert (await client.post(f"/cases/{case['id']}/dispatch", headers=north)).status_code == 200
    return str(case["id"])


async def test_a_rectification_without_a_photo_is_refused(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    cid = await _dispatched(service, client, clock, "smoking")
    manager = await login(client, "manager")
    r = await rectify(client, manager, cid, photos=0)
    assert r.status_code == 422 and "photo" in r.text, r.text
    assert (await detail(client, manager, cid))["status"] == "dispatched"
    assert (await rectify(client, manager, cid, photos=2)).json()["status"] == "submitted"
    (rect,) = (await detail(client, manager, cid))["rectifications"]
    assert len(rect["photo_keys"]) == 2


async def test_a_recheck_is_scheduled_ahead_and_records_its_result(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    cid = await _dispatched(service, client, clock, "smoking")
    north, manager = await login(client, "north"), await login(client, "manager")
    assert (await rectify(client, manager, cid)).status_code == 200
    for when in (clock.now() - timedelta(hours=1), clock.now(), clock.now() + timedelta(days=120)):
        r = await client.post(f"/cases/{cid}/recheck", headers=north, json={"recheck_at": when.isoformat()})
        assert r.status_code == 422, (when, r.text)
    assert (await client.post(f"/cases/{cid}/recheck", headers=north, json={})).status_code == 422
    assert (await detail(client, north, cid))["status"] == "submitted"
    when = clock.now() + timedelta(days=2)
    r = await client.post(f"/cases/{cid}/recheck", headers=north, json={"recheck_at": when.isoformat()})
    assert r.json()["status"] == "recheck" and r.json()["recheck_result"] == ""
    clock.advance(timedelta(days=2))
    r = await client.post(f"/cases/{cid}/reject", headers=north, json={"note": "现场仍有烟头 butts on site"})
    assert r.json()["status"] == "rectifying" and r.json()["recheck_result"] == "failed"
    assert (await rectify(client, manager, cid)).status_code == 200
    when = clock.now() + timedelta(days=1)
    await client.post(f"/cases/{cid}/recheck", headers=north, json={"recheck_at": when.isoformat()})
    clock.advance(timedelta(days=1))
    r = await client.post(f"/cases/{cid}/approve", headers=north, json={"note": "现场复核通过"})
    assert r.json()["status"] == "approved" and r.json()["recheck_result"] == "passed"
    d = await detail(client, north, cid)
    results = [e["data"].get("recheck_result") for e in d["timeline"] if e["action"] in ("approve", "reject")]
    assert results == ["failed", "passed"]


async def test_class_iii_closes_after_the_tenants_period_others_stay(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    async with service.db.session() as s:  # the bureau's setting: 3 quiet days
        await s.execute(update(Tenant).where(Tenant.id == "minghu").values(class_iii_close_days=3))
    bus = service.ctx.runtime.bus
    for vtype in ("no_mask", "smoking"):
        await bus.publish("detections.v1", detection(clock, vtype, SCHOOL))
    north = await login(client, "north")
    got = {c["case_type"]: c for c in await wait_cases(client, north, 2)}
    clock.advance(timedelta(minutes=20))
    # A repeat of the Class III case (inside the aggregation window) restarts its quiet period.
    await bus.publish("detections.v1", detection(clock, "no_mask", SCHOOL))

    async def joined() -> bool:
        return (await detail(client, north, got["no_mask"]["id"]))["occurrences"] == 2

    await eventually(joined)
    clock.advance(timedelta(days=3, minutes=-10))  # 3 days since it opened, not since the repeat
    assert (await sweep_once(service.ctx))["auto_closed"] == 0
    clock.advance(timedelta(minutes=11))
    assert (await sweep_once(service.ctx))["auto_closed"] == 1
    d = await detail(client, north, got["no_mask"]["id"])
    assert (d["status"], d["verdict"]) == ("closed", "auto_closed") and d["closed_at"]
    assert d["timeline"][-1]["action"] == "auto_close"
    assert (await detail(client, north, got["smoking"]["id"]))["status"] == "new"  # Class II stays
    assert (await sweep_once(service.ctx))["auto_closed"] == 0
