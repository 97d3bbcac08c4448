"""The education-bureau copy (抄告) on the shipped demo (#18.4): a recorded fact on a school's case,
read in the bureau's own read-only view; the education user moves no case."""

from __future__ import annotations

import httpx
import pytest
from cm_loopkit import RESTAURANT, SCHOOL, cases, detail, recipients, wait_cases
from cm_testkit import detection, login

from bk_cases.service import CaseService
from bkcore.clock import FakeClock


@pytest.fixture
def demo() -> object:
    from brightkitchen import demo_data

    return demo_data


def test_the_shipped_demo_has_a_township_level_and_an_education_bureau() -> None:
    from brightkitchen import demo_data

    units = {u.id: u for u in demo_data.ORG_UNITS}
    users = {u.username: u for u in demo_data.USERS}
    assert units[users["north"].org_id].kind == "township" and users["north"].role == "supervisor"
    assert users["edu"].department == "education" and users["edu"].org_id == "minghu"
    school = next(s for s in demo_data.SITES if s.id == SCHOOL)
    assert school.org_id == users["north"].org_id  # the township holds the school


async def test_a_dispatched_school_case_is_copied_and_recorded(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    bus = service.ctx.runtime.bus
    await bus.publish("detections.v1", detection(clock, "smoking", SCHOOL))
    await bus.publish("detections.v1", detection(clock, "smoking", RESTAURANT, "hillview-noodle-cooking"))
    admin, edu = await login(client, "admin"), await login(client, "edu")
    all_cases = await wait_cases(client, admin, 2)
    school = next(c for c in all_cases if c["site_id"] == SCHOOL)
    noodle = next(c for c in all_cases if c["site_id"] == RESTAURANT)
    # Not dispatched yet: nothing copied, the bureau sees nothing.
    assert await cases(client, edu) == []
    assert (await client.get("/cases/copies", headers=edu)).json()["total"] == 0
    north, hillview = await login(client, "north"), await login(client, "hillview")
    assert (await client.post(f"/cases/{school['id']}/dispatch", headers=north)).status_code == 200
    assert (await client.post(f"/cases/{noodle['id']}/dispatch", headers=hillview)).status_code == 200

    # The fact on the case: to whom (the city's education bureau), when; in the timeline too.
    d = await detail(client, north, school["id"])
    (copy,) = d["copies"]
    assert copy["department"] == "education" and copy["unit_path"] == "/minghu"
    assert copy["recipient_ids"] == ["minghu:edu"]
    assert [e["action"] for e in d["timeline"]] == ["created", "dispatch", "copied"]
    assert await recipients(service, school["id"], "case_copy") == {"minghu:edu"}
    # A restaurant's case is not copied.
    assert (await detail(client, hillview, noodle["id"]))["copies"] == []

    # The bureau's own view: the copy with the case as it stands; only the school's.
    page = (await client.get("/cases/copies", headers=edu)).json()
    assert page["total"] == 1
    (item,) = page["items"]
    assert item["case"]["id"] == school["id"] and item["case"]["status"] == "dispatched"
    assert item["copied_at"] == copy["copied_at"] and item["unit_path"] == "/minghu"
    # Its case list and case detail are the copied cases only.
    assert [c["id"] for c in await cases(client, edu)] == [school["id"]]
    assert (await client.get(f"/cases/{school['id']}", headers=edu)).status_code == 200
    assert (await client.get(f"/cases/{noodle['id']}", headers=edu)).status_code == 404
    # A supervisor of market regulation reads the same view (scoped to their subtree).
    assert (await client.get("/cases/copies", headers=north)).json()["total"] == 1
    assert (await client.get("/cases/copies", headers=hillview)).json()["total"] == 0


async def test_the_education_user_cannot_move_a_case(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await service.ctx.runtime.bus.publish("detections.v1", detection(clock, "rodent", SCHOOL))
    edu = await login(client, "edu")
    (case,) = await wait_cases(client, edu, 1)  # Class I: dispatched and copied at once
    cid = case["id"]
    for action in ("dispatch", "acknowledge", "approve", "reject", "close", "false-alarm"):
        r = await client.post(f"/cases/{cid}/{action}", headers=edu, json={"note": "x"})
        assert r.status_code == 403, (action, r.status_code, r.text)
    r = await client.post(f"/cases/{cid}/recheck", headers=edu, json={"recheck_at": "2030-01-01T00:00:00Z"})
    assert r.status_code == 403
    d = await detail(client, edu, cid)
    assert d["status"] == "dispatched" and [e["action"] for e in d["timeline"]] == [
        "created",
        "dispatch",
        "copied",
    ]
    # The same actions by the township's supervisor work: the refusal is the department's.
    north = await login(client, "north")
    assert (await client.post(f"/cases/{cid}/false-alarm", headers=north)).json()["status"] == "closed"


async def test_a_copy_is_recorded_even_when_the_bureau_has_nobody_yet(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    from sqlalchemy import delete

    from bk_cases.directory.models import User

    async with service.db.session() as s:
        await s.execute(delete(User).where(User.id == "minghu:edu"))
    await service.ctx.runtime.bus.publish("detections.v1", detection(clock, "rodent", SCHOOL))
    admin = await login(client, "admin")
    (case,) = await wait_cases(client, admin, 1)
    (copy,) = (await detail(client, admin, case["id"]))["copies"]
    assert copy["unit_path"] == "" and copy["recipient_ids"] == []
    assert (await client.get("/cases/copies", headers=admin)).json()["total"] == 1
