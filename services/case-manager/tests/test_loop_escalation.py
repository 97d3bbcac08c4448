"""Deadlines from dispatch and the escalation ladder, on the shipped demo's own org tree (#18.4):
township grid staff hold a school's case, the district gets its red card, the city a district's."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from cm_loopkit import RESTAURANT, SCHOOL, detail, recipients, wait_cases
from cm_testkit import detection, login

from bk_cases.cases.scheduled import sweep_once
from bk_cases.service import CaseService
from bkcore.clock import FakeClock


@pytest.fixture
def demo() -> object:
    from brightkitchen import demo_data

    return demo_data


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_the_deadline_starts_at_dispatch_not_at_capture(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await service.ctx.runtime.bus.publish("detections.v1", detection(clock, "trash_bin_open"))
    north = await login(client, "north")
    (case,) = await wait_cases(client, north, 1)
    assert case["status"] == "new" and case["deadline"] is None and case["dispatched_at"] is None
    clock.advance(timedelta(hours=30))  # a day and more waiting for a supervisor: no card for the site
    assert (await sweep_once(service.ctx))["yellow"] == 0
    dispatched = (await client.post(f"/cases/{case['id']}/dispatch", headers=north)).json()
    assert _at(dispatched["deadline"]) == clock.now() + timedelta(hours=24)  # Class II: 24 h from now
    assert _at(dispatched["dispatched_at"]) == clock.now()


async def test_class_i_is_dispatched_and_its_clock_started_at_once(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await service.ctx.runtime.bus.publish("detections.v1", detection(clock, "rodent"))
    (case,) = await wait_cases(client, await login(client, "north"), 1)
    assert case["status"] == "dispatched" and case["dispatched_at"] == case["created_at"]
    assert _at(case["deadline"]) == _at(case["created_at"]) + timedelta(hours=2)


async def test_yellow_to_the_township_red_to_the_district_never_back_to_the_same_person(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await service.ctx.runtime.bus.publish("detections.v1", detection(clock, "smoking"))
    north = await login(client, "north")
    (case,) = await wait_cases(client, north, 1)
    cid = case["id"]
    # The township's grid staff hold the school's case: they, not the district, hear of it first.
    assert await recipients(service, cid, "case_created") == {"minghu:manager", "minghu:north"}
    assert (await client.post(f"/cases/{cid}/dispatch", headers=north)).status_code == 200
    clock.advance(timedelta(hours=24, minutes=1))
    assert (await sweep_once(service.ctx))["yellow"] == 1
    assert await recipients(service, cid, "case_overdue") == {"minghu:manager", "minghu:north"}
    clock.advance(timedelta(hours=24))
    assert (await sweep_once(service.ctx))["red"] == 1
    assert (await sweep_once(service.ctx))["red"] == 0  # carded once
    # Red: the district over the township, and the site told; not the township again, not the city.
    assert await recipients(service, cid, "case_escalated") == {"minghu:lakeside", "minghu:manager"}
    d = await detail(client, north, cid)
    assert d["card_level"] == 2 and d["escalated_to"] == "/minghu/lakeside"
    red = next(e for e in d["timeline"] if e["action"] == "red_card")
    assert red["data"] == {"escalated_to": "/minghu/lakeside", "to": "minghu:lakeside"}
    # The district supervisor now sees the red-carded case in their list.
    lakeside = await login(client, "lakeside")
    assert [c["id"] for c in await wait_cases(client, lakeside, 1, card_level="2")] == [cid]


async def test_a_district_sites_red_card_goes_to_the_city(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    bus = service.ctx.runtime.bus
    await bus.publish("detections.v1", detection(clock, "smoking", RESTAURANT, "hillview-noodle-cooking"))
    hillview = await login(client, "hillview")
    (case,) = await wait_cases(client, hillview, 1)
    cid = case["id"]
    assert (await client.post(f"/cases/{cid}/dispatch", headers=hillview)).status_code == 200
    clock.advance(timedelta(hours=48, minutes=1))  # past the deadline and the red-card delay at once
    counts = await sweep_once(service.ctx)  # one step at a time: the holders hear first
    assert (counts["yellow"], counts["red"]) == (1, 0)
    assert await recipients(service, cid, "case_overdue") == {"minghu:hillview", "minghu:noodleboss"}
    assert (await sweep_once(service.ctx))["red"] == 1
    assert await recipients(service, cid, "case_escalated") == {"minghu:city", "minghu:noodleboss"}
    assert (await detail(client, hillview, cid))["escalated_to"] == "/minghu"
    # A restaurant: nothing was copied to the education bureau.
    assert await recipients(service, cid, "case_copy") == set()


async def test_a_rectification_in_time_stops_the_cards(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    from cm_loopkit import rectify

    await service.ctx.runtime.bus.publish("detections.v1", detection(clock, "phone_use", SCHOOL))
    north, manager = await login(client, "north"), await login(client, "manager")
    (case,) = await wait_cases(client, north, 1)
    assert (await client.post(f"/cases/{case['id']}/dispatch", headers=north)).status_code == 200
    clock.advance(timedelta(hours=23))
    assert (await rectify(client, manager, case["id"])).json()["status"] == "submitted"
    clock.advance(timedelta(hours=60))
    counts = await sweep_once(service.ctx)
    assert counts["yellow"] == counts["red"] == 0
