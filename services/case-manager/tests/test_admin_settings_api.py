"""The tenant's and a person's settings through the admin API (#18.1): grading rules narrowed by the
alarm's severity and the site's kind, the Class III auto-close period, and each user's phone channels
per risk class and duty-group robot — each read back where the loop reads it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cm_demo import DEMO
from cm_testkit import make_runtime

from bk_cases.cases import service as cases
from bk_cases.cases.enums import RiskClass
from bk_cases.cases.rules import GradingRule
from bk_cases.directory import service as directory
from bk_cases.service import CaseService, create_service
from bk_cases.settings import CaseSettings
from bkcore.clock import FakeClock

T = "minghu"


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[CaseService]:
    runtime, settings = make_runtime(tmp_path, FakeClock())
    robots = CaseSettings(notify_robots={"duty": {"kind": "wecom", "token": "k"}}).notify_robots
    settings = settings.model_copy(update={"notify_robots": robots})
    service = create_service(runtime, settings)
    await service.start()
    await runtime.bus.start()
    await service.seed_demo(DEMO)
    try:
        yield service
    finally:
        await runtime.bus.stop()
        await service.stop()


@pytest.fixture
async def api(svc: CaseService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://cases") as c:
        yield c


async def login(api: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await api.post("/auth/login", json={"username": username, "password": password, "tenant_id": T})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def refused(r: httpx.Response) -> dict[str, str]:
    """A 422's errors by every name on their path ({"notify_channels": …, "II": …})."""
    assert r.status_code == 422, (r.status_code, r.text)
    return {str(name): e["msg"] for e in r.json()["detail"] for name in e["loc"]}


async def test_grading_rules_take_severity_and_site_scope(svc: CaseService, api: httpx.AsyncClient) -> None:
    admin = await login(api, "admin", "demo-admin")
    rules = [
        {"case_type": "pesticide_test_failed", "risk_class": 1, "site_scope": "education"},
        {"case_type": "pesticide_test_failed", "risk_class": 2, "deadline_h": 6, "severity": "alarm"},
        {"case_type": "sample_missing", "risk_class": 3, "severity": "warning", "site_scope": "restaurant"},
    ]
    r = await api.put(f"/tenants/{T}/grading-rules", headers=admin, json=rules)
    assert r.status_code == 200, r.text
    got = {(g["case_type"], g["severity"], g["site_scope"]): g for g in r.json()["grading_rules"]}
    assert set(got) == {
        ("pesticide_test_failed", "", "education"),
        ("pesticide_test_failed", "alarm", ""),
        ("sample_missing", "warning", "restaurant"),
    }
    assert got[("pesticide_test_failed", "alarm", "")]["deadline_h"] == 6.0
    async with svc.db.session() as s:  # what the grader reads on receipt
        graded = await cases.tenant_grades(db_session=s, tenant_id=T)
    assert sorted(graded, key=lambda g: (g.case_type, g.severity, g.site_scope)) == [
        GradingRule("pesticide_test_failed", RiskClass.I, None, "", "education"),
        GradingRule("pesticide_test_failed", RiskClass.II, 6.0, "alarm", ""),
        GradingRule("sample_missing", RiskClass.III, None, "warning", "restaurant"),
    ]

    bad = {"case_type": "x", "risk_class": 2}
    assert "severity" in refused(
        await api.put(f"/tenants/{T}/grading-rules", headers=admin, json=[{**bad, "severity": "loud"}])
    )
    assert "site_scope" in refused(
        await api.put(f"/tenants/{T}/grading-rules", headers=admin, json=[{**bad, "site_scope": "moon_base"}])
    )
    twice = [{**bad, "severity": "alarm"}, {**bad, "severity": "alarm", "risk_class": 1}]
    assert (
        "重复"
        in refused(await api.put(f"/tenants/{T}/grading-rules", headers=admin, json=twice))["case_type"]
    )
    # The same type under another severity is another rule, not a repeat.
    ok = [{**bad, "severity": "alarm"}, {**bad, "severity": "warning", "risk_class": 3}]
    assert (await api.put(f"/tenants/{T}/grading-rules", headers=admin, json=ok)).status_code == 200


async def test_class_iii_close_days_is_the_tenants_setting(svc: CaseService, api: httpx.AsyncClient) -> None:
    admin = await login(api, "admin", "demo-admin")
    tenant = (await api.get(f"/tenants/{T}", headers=admin)).json()
    assert tenant["class_iii_close_days"] == 7.0  # the default
    r = await api.patch(f"/tenants/{T}", headers=admin, json={"class_iii_close_days": 3})
    assert r.status_code == 200, r.text
    assert r.json()["class_iii_close_days"] == 3.0
    async with svc.db.session() as s:  # what the auto-close sweep reads
        assert (T, 3.0) in await cases.class_iii_close_days(db_session=s)
    for wrong in (0, -1, 366, "soon"):
        assert "class_iii_close_days" in refused(
            await api.patch(f"/tenants/{T}", headers=admin, json={"class_iii_close_days": wrong})
        )


async def test_a_users_phone_channels_are_set_by_their_admin(
    svc: CaseService, api: httpx.AsyncClient
) -> None:
    admin = await login(api, "admin", "demo-admin")
    body = {
        "username": "duty-sup",
        "name": "值班监管员",
        "role": "supervisor",
        "org_id": "minghu",
        "phone": "13800138000",
        "password": "duty-sup-pass-01",
        "notify_channels": {"II": ["sms", "wechat"], "III": []},
        "notify_robot": "duty",
    }
    r = await api.post("/users", headers=admin, json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["notify_channels"] == {"II": ["wechat", "sms"], "III": []}  # the channels' own order
    assert created["notify_robot"] == "duty"

    r = await api.patch("/users/duty-sup", headers=admin, json={"notify_channels": {"II": ["robot"]}})
    assert r.status_code == 200, r.text
    assert r.json()["notify_channels"] == {"II": ["robot"]} and r.json()["notify_robot"] == "duty"
    r = await api.patch("/users/duty-sup", headers=admin, json={"notify_robot": ""})
    assert r.status_code == 200 and r.json()["notify_robot"] == ""
    async with svc.db.session() as s:  # what delivery reads
        [user] = await directory.get_user_by_username(db_session=s, username="duty-sup", tenant_id=T)
        assert user.notify_channels == {"II": ["robot"]} and user.notify_robot == ""

    # The person sees their admin's choice as their own.
    me = await login(api, "duty-sup", "duty-sup-pass-01")
    prefs = (await api.get("/notifications/preferences", headers=me)).json()
    assert prefs["channels"] == {"II": ["robot"]}

    for wrong in ({"I": ["sms"]}, {"II": ["fax"]}, {"II": ["sms"] * 4}, {"IV": []}):
        assert "notify_channels" in refused(
            await api.patch("/users/duty-sup", headers=admin, json={"notify_channels": wrong})
        ), wrong
    assert "notify_robot" in refused(
        await api.patch("/users/duty-sup", headers=admin, json={"notify_robot": "not-configured"})
    )
    assert "notify_robot" in refused(
        await api.post("/users", headers=admin, json={**body, "username": "x2", "notify_robot": "nope"})
    )
