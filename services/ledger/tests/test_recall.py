"""City-wide recall (召回): one supplier by licence across three sites of a tenant, and one unrelated.

The recall finds every purchase, dish and retained sample the supplier (or one batch) reached and
nothing else, raises one alarm per affected site, and stays inside the caller's org subtree.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from bk_ledger.purchase import licence
from bkcore.auth import Principal, Role
from bkcore.bus.base import new_meta
from bkcore.testing.directory import DirSite, eventually, publish, site_event
from bkcore.testing.pictures import jpeg
from bkproto.events.v1.cases_pb2 import CASE_SOURCE_LEDGER, CaseChanged

PG = os.environ.get("BK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TENANT = "minghu"  # the harness's tenant
TOFU = "91350100M000100Y43"  # the recalled supplier (a valid 统一社会信用代码)
EGGS = "91330106" + "MA2B3C4D5"  # unrelated; its check character is computed below
EGGS += licence.check_char(EGGS)
DAY = "2026-09-01"
RIVERSIDE = DirSite("riverside-kg", "河畔幼儿园", "kindergarten", "/minghu/riverside", "07:00-18:00")
SITES = {
    "lakeside-primary": "湖滨第一小学食堂",
    "hillview-noodle": "山景老字号面馆",
    "riverside-kg": "河畔幼儿园",
}


def admin(h: Any) -> dict[str, str]:
    return h.auth(Role.PLATFORM_ADMIN, org="/")


async def add_site(h: Any) -> None:
    await publish(h.bus, [site_event(TENANT, RIVERSIDE)])

    async def known() -> bool:
        got = await h.service.directory.known_sites(tenant_id=TENANT, site_ids={RIVERSIDE.site_id})
        return bool(got == {RIVERSIDE.site_id})

    await eventually(known, what="the ledger knows the third site")


async def supplier(h: Any, site: str, code: str, name: str) -> str:
    body = {
        "site_id": site,
        "name": name,
        "address": "菜市路 1 号",
        "contact": "赵",
        "phone": "0571-88886666",
        "business_licence_no": code,
        "food_licence_no": "JY13301000001",
        "food_licence_expires": "2027-12-31",
    }
    r = await h.client.post(
        "/v1/suppliers",
        headers=admin(h),
        data={"payload": json.dumps(body)},
        files=[("licences", ("l.jpg", jpeg(), "image/jpeg"))],
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def purchase(h: Any, site: str, supplier_id: str, item: str, batch: str) -> str:
    body = {
        "site_id": site,
        "item": item,
        "spec": "5kg/箱",
        "quantity": 4,
        "unit": "箱",
        "batch_no": batch,
        "purchase_date": DAY,
        "supplier_id": supplier_id,
    }
    files = [("certificates", ("c.jpg", jpeg(), "image/jpeg")), ("invoices", ("i.jpg", jpeg(), "image/jpeg"))]
    r = await h.client.post(
        "/v1/purchases", headers=admin(h), data={"payload": json.dumps(body)}, files=files
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def dish(h: Any, site: str, name: str, purchase_ids: list[str], meal: str = "lunch") -> None:
    body = {"site_id": site, "meal_date": DAY, "meal": meal, "dish": name, "purchase_ids": purchase_ids}
    r = await h.client.post("/v1/dishes-served", headers=admin(h), json=body)
    assert r.status_code == 201, r.text
    sample = {
        "site_id": site,
        "dish": name,
        "meal": meal,
        "meal_date": DAY,
        "weight_g": 150,
        "taken_at": "2026-09-01T11:30:00+08:00",
        "taker": "张芳",
        "fridge": f"{site} 留样冰箱",
        "planned_disposal_at": "2026-09-03T12:00:00+08:00",
    }
    r = await h.client.post("/v1/samples", headers=admin(h), json=sample)
    assert r.status_code == 201, r.text


async def city(h: Any) -> dict[str, str]:
    """Three sites buy tofu batch T1 from one supplier (registered by each, typed three ways);
    the school also buys its greens from it, and eggs from another supplier."""
    await add_site(h)
    lake = await supplier(h, "lakeside-primary", TOFU, "明湖豆制品厂")
    hill = await supplier(h, "hillview-noodle", TOFU.lower(), "明湖豆制品")
    river = await supplier(h, "riverside-kg", f"{TOFU[:9]} {TOFU[9:]}", "明湖豆制品有限公司")
    eggs = await supplier(h, "lakeside-primary", EGGS, "山景蛋品")
    t_lake = await purchase(h, "lakeside-primary", lake, "豆腐", "T1")
    v_lake = await purchase(h, "lakeside-primary", lake, "青菜", "V9")
    e_lake = await purchase(h, "lakeside-primary", eggs, "鸡蛋", "E5")
    t_hill = await purchase(h, "hillview-noodle", hill, "豆腐", "T1")
    t_river = await purchase(h, "riverside-kg", river, "豆腐", "T1")
    await dish(h, "lakeside-primary", "麻婆豆腐", [t_lake])
    await dish(h, "lakeside-primary", "清炒青菜", [v_lake])
    await dish(h, "lakeside-primary", "番茄炒蛋", [e_lake])
    await dish(h, "lakeside-primary", "麻婆豆腐", [t_lake], meal="dinner")
    await dish(h, "hillview-noodle", "豆腐汤", [t_hill])
    await dish(h, "riverside-kg", "家常豆腐", [t_river])
    await dish(h, "riverside-kg", "白米饭", [])
    return {"lake": lake, "eggs": eggs}


def found(report: dict[str, Any]) -> dict[str, set[tuple[str, ...]]]:
    return {
        "sites": {(s["site_id"], s["site_name"]) for s in report["sites"]},
        "dishes": {(s["site_id"], d["dish"], d["meal"]) for s in report["sites"] for d in s["dishes"]},
        "samples": {(s["site_id"], x["dish"], x["meal"]) for s in report["sites"] for x in s["samples"]},
    }


async def test_a_supplier_recall_finds_every_site_dish_and_sample_and_nothing_else(h) -> None:  # type: ignore[no-untyped-def]
    await city(h)
    r = await h.client.post(
        "/v1/recalls", headers=admin(h), json={"supplier_licence": TOFU, "reason": "抽检不合格 failed a test"}
    )
    assert r.status_code == 201, r.text
    rep = r.json()
    assert rep["supplier"] == {"licence_no": TOFU, "name": "明湖豆制品厂"}
    expected_dishes = {
        ("lakeside-primary", "麻婆豆腐", "lunch"),
        ("lakeside-primary", "麻婆豆腐", "dinner"),
        ("lakeside-primary", "清炒青菜", "lunch"),
        ("hillview-noodle", "豆腐汤", "lunch"),
        ("riverside-kg", "家常豆腐", "lunch"),
    }
    assert found(rep) == {"sites": set(SITES.items()), "dishes": expected_dishes, "samples": expected_dishes}
    assert rep["totals"] == {"sites": 3, "purchases": 4, "dishes": 5, "samples": 5}
    assert all(s["case_id"] is None for s in rep["sites"])
    # One alarm per affected site, about the one supplier of the tenant.
    await h.flush()
    recalls = [d.event for d in h.alerts if d.event.rule == "supplier_recall"]
    assert sorted(e.site_id for e in recalls) == sorted(SITES)
    assert {e.severity for e in recalls} == {"alarm"} and len({e.subject_id for e in recalls}) == 1
    assert len({e.alert_id for e in recalls}) == 3 and all(
        e.details["recall_id"] == rep["id"] for e in recalls
    )
    lake = next(e for e in recalls if e.site_id == "lakeside-primary")
    assert "麻婆豆腐" in lake.message and "清炒青菜" in lake.message and "番茄炒蛋" not in lake.message
    # The report reads the same later.
    again = await h.client.get(f"/v1/recalls/{rep['id']}", headers=admin(h))
    assert again.status_code == 200 and found(again.json()) == found(rep)


async def test_a_batch_recall_finds_only_that_batch(h) -> None:  # type: ignore[no-untyped-def]
    await city(h)
    body = {"supplier_licence": TOFU, "batch": {"item": "豆腐", "batch_no": "T1"}, "reason": "大肠菌群超标"}
    r = await h.client.post("/v1/recalls", headers=admin(h), json=body)
    assert r.status_code == 201, r.text
    dishes = found(r.json())["dishes"]
    assert ("lakeside-primary", "清炒青菜", "lunch") not in dishes and len(dishes) == 4
    body["batch"] = {"item": "豆腐", "batch_no": "T2"}  # no such batch: a recall that reached no one
    r = await h.client.post("/v1/recalls", headers=admin(h), json=body)
    assert r.status_code == 201 and r.json()["sites"] == [] and r.json()["totals"]["sites"] == 0


async def test_a_recall_stays_inside_the_callers_subtree(h) -> None:  # type: ignore[no-untyped-def]
    await city(h)
    body = {"supplier_licence": TOFU, "reason": "召回"}
    lakeside = h.auth(Role.SUPERVISOR, org="/minghu/lakeside")
    r = await h.client.post("/v1/recalls", headers=lakeside, json=body)
    assert r.status_code == 201 and found(r.json())["sites"] == {
        ("lakeside-primary", SITES["lakeside-primary"])
    }
    mine = r.json()["id"]
    await h.flush()
    assert [d.event.site_id for d in h.alerts if d.event.rule == "supplier_recall"] == ["lakeside-primary"]
    # A narrower scope: only the org unit named; a wider one than the caller's is refused.
    r = await h.client.post(
        "/v1/recalls", headers=admin(h), json={**body, "scope": {"org_path": "/minghu/hillview"}}
    )
    assert found(r.json())["sites"] == {("hillview-noodle", SITES["hillview-noodle"])}
    r = await h.client.post("/v1/recalls", headers=lakeside, json={**body, "scope": {"org_path": "/minghu"}})
    assert r.status_code == 403
    # Who may recall: supervisors and platform admins; a site's own people may not.
    for role in (Role.SITE_MANAGER, Role.STAFF):
        assert (await h.client.post("/v1/recalls", headers=h.auth(role), json=body)).status_code == 403
    # Reading: each caller sees the sites of the report they may see; outside it, no such recall.
    whole = (await h.client.post("/v1/recalls", headers=admin(h), json=body)).json()["id"]
    manager = await h.client.get(f"/v1/recalls/{whole}", headers=h.auth(Role.SITE_MANAGER))
    assert manager.status_code == 200
    assert found(manager.json())["sites"] == {("lakeside-primary", SITES["lakeside-primary"])}
    hill_sup = Principal(
        subject="u-hillview",
        tenant_id=TENANT,
        role=Role.SUPERVISOR,
        org_path="/minghu/hillview",
        site_ids=frozenset(),
    )
    hill = {"Authorization": f"Bearer {h.tokens.issue(hill_sup)}"}
    assert (await h.client.get(f"/v1/recalls/{mine}", headers=hill)).status_code == 404
    other = h.auth(Role.PLATFORM_ADMIN, org="/", tenant="riverton")
    assert (await h.client.get(f"/v1/recalls/{whole}", headers=other)).status_code == 404
    assert (await h.client.post("/v1/recalls", headers=other, json=body)).status_code == 404


async def test_licences_are_checked_and_one_licence_is_one_supplier(h) -> None:  # type: ignore[no-untyped-def]
    await city(h)
    for bad in ("91350100M000100Y44", "91330100MA", "9135010OM000100Y43"):  # check char, length, an O
        r = await h.client.post(
            "/v1/recalls", headers=admin(h), json={"supplier_licence": bad, "reason": "x"}
        )
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "supplier_licence", r.text
    unknown = "91110000" + "100000000"
    r = await h.client.post(
        "/v1/recalls",
        headers=admin(h),
        json={"supplier_licence": unknown + licence.check_char(unknown), "reason": "x"},
    )
    assert r.status_code == 404
    from sqlalchemy import func, select

    from bk_ledger.purchase.models import suppliers, tenant_suppliers

    async with h.service.db.session() as s:
        ones = (
            await s.execute(select(tenant_suppliers.c.licence_no).order_by(tenant_suppliers.c.licence_no))
        ).all()
        per_site = await s.scalar(select(func.count()).select_from(suppliers))
    assert [o.licence_no for o in ones] == sorted([TOFU, EGGS]) and per_site == 4


async def test_the_report_carries_each_sites_case_once_opened(h) -> None:  # type: ignore[no-untyped-def]
    await city(h)
    r = await h.client.post(
        "/v1/recalls", headers=admin(h), json={"supplier_licence": TOFU, "reason": "召回"}
    )
    rid = r.json()["id"]
    await h.flush()
    alerts = {d.event.site_id: d.event for d in h.alerts if d.event.rule == "supplier_recall"}
    events = [
        CaseChanged(
            meta=new_meta(tenant_id=TENANT, key=f"case-{site}", producer="case-manager"),
            case_id=f"case-{site}",
            site_id=site,
            source=CASE_SOURCE_LEDGER,
            case_type="supplier_recall",
            action="created",
            source_ref=alerts[site].alert_id,
            subject_id=alerts[site].subject_id,
        )
        for site in ("lakeside-primary", "riverside-kg")
    ]
    for e in events:
        await h.bus.publish("cases.v1", e)

    async def noted() -> bool:
        got = (await h.client.get(f"/v1/recalls/{rid}", headers=admin(h))).json()
        return sum(s["case_id"] is not None for s in got["sites"]) == 2

    await eventually(noted, what="the recall's report holds the cases opened")
    got = {
        s["site_id"]: s["case_id"]
        for s in (await h.client.get(f"/v1/recalls/{rid}", headers=admin(h))).json()["sites"]
    }
    assert got == {
        "lakeside-primary": "case-lakeside-primary",
        "riverside-kg": "case-riverside-kg",
        "hillview-noodle": None,
    }


@pytest.mark.integration
async def test_the_same_recall_on_postgres(tmp_path, harness_factory) -> None:  # type: ignore[no-untyped-def]
    try:
        conn = await asyncpg.connect(PG, timeout=10)
    except Exception as exc:
        pytest.fail(f"PostgreSQL at {PG} is required for this test and is unreachable: {exc!r}")
    schema = f"ledger_recall_{uuid.uuid4().hex[:8]}"
    try:
        async for h in harness_factory(tmp_path, database_url=PG, schema=schema):
            await city(h)
            body = {"supplier_licence": TOFU, "batch": {"item": "豆腐", "batch_no": "T1"}, "reason": "召回"}
            r = await h.client.post("/v1/recalls", headers=admin(h), json=body)
            assert r.status_code == 201, r.text
            assert found(r.json())["sites"] == set(SITES.items())
            assert r.json()["totals"] == {"sites": 3, "purchases": 3, "dishes": 4, "samples": 4}
            got = await h.client.get(f"/v1/recalls/{r.json()['id']}", headers=admin(h))
            assert found(got.json()) == found(r.json())
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


async def test_the_list_shows_recalls_that_reached_what_the_caller_sees(h) -> None:  # type: ignore[no-untyped-def]
    await city(h)
    body = {"supplier_licence": TOFU, "reason": "召回"}
    lakeside = h.auth(Role.SUPERVISOR, org="/minghu/lakeside")
    mine = (await h.client.post("/v1/recalls", headers=lakeside, json=body)).json()["id"]
    h.clock.advance(timedelta(minutes=1))
    whole = (await h.client.post("/v1/recalls", headers=admin(h), json=body)).json()["id"]
    h.clock.advance(timedelta(minutes=1))
    nobody = {**body, "batch": {"item": "豆腐", "batch_no": "none"}}  # reached no site
    empty = (await h.client.post("/v1/recalls", headers=admin(h), json=nobody)).json()["id"]

    async def listed(headers: dict[str, str]) -> list[tuple[str, list[str]]]:
        r = await h.client.get("/v1/recalls", headers=headers)
        assert r.status_code == 200, r.text
        return [(x["id"], x["site_ids"]) for x in r.json()]

    assert await listed(admin(h)) == [(empty, []), (whole, sorted(SITES)), (mine, ["lakeside-primary"])]
    assert await listed(h.auth(Role.SITE_MANAGER)) == [
        (whole, ["lakeside-primary"]),
        (mine, ["lakeside-primary"]),
    ]
    hill = Principal(
        subject="u-hillview",
        tenant_id=TENANT,
        role=Role.SUPERVISOR,
        org_path="/minghu/hillview",
        site_ids=frozenset(),
    )
    assert await listed({"Authorization": f"Bearer {h.tokens.issue(hill)}"}) == [(whole, ["hillview-noodle"])]
    other = h.auth(Role.PLATFORM_ADMIN, org="/", tenant="riverton")
    assert await listed(other) == []
