"""Ledger alarms graded by their own severity per tenant rules, and cases per subject, on the shipped
demo (#18.4): a failed pesticide test in a school is Class I; two silent sensors are two cases that
clear one by one; two offline cameras likewise."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from cm_loopkit import RESTAURANT, SCHOOL, camera_alarm, cases, detail, ledger_alert, recipients, wait_cases
from cm_testkit import eventually, login

from bk_cases.cases.models import RiskRule
from bk_cases.service import CaseService
from bkcore.clock import FakeClock


@pytest.fixture
def demo() -> object:
    from brightkitchen import demo_data

    return demo_data


async def test_a_failed_pesticide_test_in_a_school_is_class_i_in_a_restaurant_class_ii(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    bus = service.ctx.runtime.bus
    for site in (SCHOOL, RESTAURANT):
        alert = ledger_alert(
            clock.now(), rule="pesticide_test_failed", ledger="pesticide_test", subject="r-1", site=site
        )
        await bus.publish("ledger.alerts.v1", alert)
    admin = await login(client, "admin")
    found = {c["site_id"]: c for c in await wait_cases(client, admin, 2)}
    school, noodle = found[SCHOOL], found[RESTAURANT]
    assert (school["risk_class"], school["status"], school["severity"]) == (1, "dispatched", "alarm")
    assert (noodle["risk_class"], noodle["status"], noodle["deadline"]) == (2, "new", None)
    # Class I: pushed at once to the site and the township (双推送), copied to the education bureau.
    assert {n for n in await recipients(service, school["id"], "case_dispatched")} == {
        "minghu:manager",
        "minghu:north",
    }
    assert await recipients(service, school["id"], "case_copy") == {"minghu:edu"}


async def test_warnings_are_class_iii_and_a_tenant_rule_regrades_a_type(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    async with service.db.session() as s:  # the bureau's own rule: a silent sensor in a school is Class I
        s.add(RiskRule(tenant_id="minghu", case_type="sensor_silent", site_scope="education", risk_class=1))
    bus = service.ctx.runtime.bus
    at = clock.now()
    await bus.publish(
        "ledger.alerts.v1",
        ledger_alert(at, rule="health_cert_expiring", ledger="staff", subject="staff-7", severity="warning"),
    )
    await bus.publish(
        "ledger.alerts.v1", ledger_alert(at, rule="sensor_silent", ledger="iot", subject="fridge-1")
    )
    await bus.publish(
        "ledger.alerts.v1",
        ledger_alert(at, rule="sensor_silent", ledger="iot", subject="fridge-9", site=RESTAURANT),
    )
    admin = await login(client, "admin")
    got = {(c["case_type"], c["site_id"]): c for c in await wait_cases(client, admin, 3)}
    assert got[("health_cert_expiring", SCHOOL)]["risk_class"] == 3
    assert got[("sensor_silent", SCHOOL)]["risk_class"] == 1  # the tenant's rule, in a school
    assert got[("sensor_silent", RESTAURANT)]["risk_class"] == 2  # no rule matches: the alarm's severity


async def test_a_warning_become_an_alarm_raises_its_open_case(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    bus = service.ctx.runtime.bus
    kw = {"rule": "health_cert_expiry", "ledger": "staff", "subject": "staff-7"}
    await bus.publish("ledger.alerts.v1", ledger_alert(clock.now(), severity="warning", **kw))
    north = await login(client, "north")
    (case,) = await wait_cases(client, north, 1)
    assert case["risk_class"] == 3
    assert (await client.post(f"/cases/{case['id']}/dispatch", headers=north)).status_code == 200
    clock.advance(timedelta(minutes=5))
    await bus.publish("ledger.alerts.v1", ledger_alert(clock.now(), severity="alarm", **kw))

    async def raised() -> dict | None:
        d = await detail(client, north, case["id"])
        return d if d["risk_class"] == 2 else None

    d = await eventually(raised)
    assert d["occurrences"] == 2 and len(await cases(client, north)) == 1  # the same case, raised
    regraded = next(e for e in d["timeline"] if e["action"] == "regraded")
    assert regraded["data"] == {"from_class": "III", "to_class": "II"}
    assert d["deadline"] is not None  # dispatched: the Class II clock runs from now


async def test_two_silent_sensors_are_two_cases_that_clear_one_by_one(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    bus = service.ctx.runtime.bus
    for fridge in ("fridge-1", "fridge-2"):
        await bus.publish(
            "ledger.alerts.v1", ledger_alert(clock.now(), rule="sensor_silent", ledger="iot", subject=fridge)
        )
    north = await login(client, "north")
    by_subject = {c["subject_id"]: c for c in await wait_cases(client, north, 2)}
    assert set(by_subject) == {"fridge-1", "fridge-2"}
    # fridge-1 reports again: its case is cleared; fridge-2's is still silent and stays as it is.
    clock.advance(timedelta(minutes=3))
    await bus.publish(
        "ledger.alerts.v1",
        ledger_alert(clock.now(), rule="sensor_silent", ledger="iot", subject="fridge-1", active=False),
    )

    async def cleared() -> dict | None:
        d = await detail(client, north, by_subject["fridge-1"]["id"])
        return d if d["cleared_at"] else None

    one = await eventually(cleared)
    assert one["status"] != "closed" and [e["action"] for e in one["timeline"]][-1] == "cleared"
    two = await detail(client, north, by_subject["fridge-2"]["id"])
    assert two["cleared_at"] is None and "cleared" not in [e["action"] for e in two["timeline"]]
    # fridge-2 repeats within the window: it joins its own case, not fridge-1's.
    await bus.publish(
        "ledger.alerts.v1", ledger_alert(clock.now(), rule="sensor_silent", ledger="iot", subject="fridge-2")
    )

    async def joined() -> dict | None:
        d = await detail(client, north, by_subject["fridge-2"]["id"])
        return d if d["occurrences"] == 2 else None

    await eventually(joined)
    assert (await detail(client, north, by_subject["fridge-1"]["id"]))["occurrences"] == 1
    assert len(await cases(client, north)) == 2


async def test_two_offline_cameras_are_two_cases_that_clear_one_by_one(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    bus = service.ctx.runtime.bus
    cams = ("lakeside-primary-prep", "lakeside-primary-cooking")
    for camera in cams:
        await bus.publish("camera.status.v1", camera_alarm(clock.now(), camera, active=True))
    north = await login(client, "north")
    by_camera = {c["subject_id"]: c for c in await wait_cases(client, north, 2, case_type="camera_offline")}
    assert set(by_camera) == set(cams) and all(c["camera_id"] == c["subject_id"] for c in by_camera.values())
    await bus.publish("camera.status.v1", camera_alarm(clock.now(), cams[0], active=False))

    async def cleared() -> bool:
        return bool((await detail(client, north, by_camera[cams[0]]["id"]))["cleared_at"])

    await eventually(cleared)
    assert (await detail(client, north, by_camera[cams[1]]["id"]))["cleared_at"] is None
