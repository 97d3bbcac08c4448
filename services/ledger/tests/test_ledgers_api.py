"""Ledgers over HTTP: records, rules reaching the bus, disposal, 422s, exports, public summary."""

from __future__ import annotations

from bkcore.auth import Role


async def test_pesticide_fail_reaches_bus_as_ledger_alert(h) -> None:  # type: ignore[no-untyped-def]
    base = {
        "site_id": "lakeside-primary",
        "sample_no": "N1",
        "item": "青菜",
        "tester": "王",
        "tested_at": "2026-09-01T07:00:00+08:00",
    }
    ok = await h.client.post("/v1/pesticide-tests", json={**base, "inhibition_pct": 49.9}, headers=h.auth())
    bad = await h.client.post("/v1/pesticide-tests", json={**base, "inhibition_pct": 50}, headers=h.auth())
    assert ok.json()["findings"] == [] and bad.json()["findings"][0]["rule"] == "pesticide_test_failed"
    await h.flush()
    [d] = h.alerts
    assert d.topic == "ledger.alerts.v1" and d.key == "lakeside-primary" and d.tenant_id == "minghu"
    assert d.event.severity == "alarm" and d.event.subject_id == bad.json()["id"]
    r = await h.client.post("/v1/pesticide-tests", json={**base, "inhibition_pct": 101}, headers=h.auth())
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "inhibition_pct"]


async def test_disinfection_and_cross_field_422(h) -> None:  # type: ignore[no-untyped-def]
    base = {
        "site_id": "lakeside-primary",
        "items": "餐盘",
        "quantity": 200,
        "operator": "李",
        "started_at": "2026-09-01T13:00:00+08:00",
        "ended_at": "2026-09-01T13:00:39+08:00",
    }
    r = await h.client.post(
        "/v1/disinfections", json={**base, "method": "dishwasher", "temperature_c": 85}, headers=h.auth()
    )
    assert r.json()["findings"][0]["rule"] == "disinfection_below_spec"  # 39 s < 40 s
    r = await h.client.post(
        "/v1/disinfections",
        headers=h.auth(),
        json={**base, "method": "chlorine", "ended_at": "2026-09-01T12:00:00+08:00"},
    )
    assert r.status_code == 422
    assert {e["loc"][-1] for e in r.json()["detail"]} == {"ended_at", "concentration_mg_l"}


async def test_sample_rules_and_disposal(h) -> None:  # type: ignore[no-untyped-def]
    base = {
        "site_id": "lakeside-primary",
        "dish": "红烧肉",
        "meal": "lunch",
        "meal_date": "2026-09-01",
        "taken_at": "2026-09-01T11:30:00+08:00",
        "taker": "张",
        "fridge": "F1",
        "planned_disposal_at": "2026-09-03T11:30:00+08:00",
    }
    r = await h.client.post("/v1/samples", json={**base, "weight_g": 125}, headers=h.auth())
    assert r.json()["findings"] == []
    sid = r.json()["id"]
    r = await h.client.post("/v1/samples", json={**base, "weight_g": 124}, headers=h.auth())
    assert [f["rule"] for f in r.json()["findings"]] == ["sample_underweight"]
    r = await h.client.post(
        f"/v1/samples/{sid}/disposal",
        headers=h.auth(),
        json={"disposed_at": "2026-09-03T11:29:00+08:00", "disposed_by": "张"},
    )
    assert [f["rule"] for f in r.json()["findings"]] == ["sample_disposed_early"]
    r = await h.client.post(
        f"/v1/samples/{sid}/disposal",
        headers=h.auth(),
        json={"disposed_at": "2026-09-03T12:00:00+08:00", "disposed_by": "张"},
    )
    assert r.status_code == 409


async def test_health_certificate_expiry_and_renewal(h) -> None:  # type: ignore[no-untyped-def]
    staff = (
        await h.client.post(
            "/v1/staff",
            headers=h.auth(),
            json={"site_id": "lakeside-primary", "name": "陈强", "position": "厨师"},
        )
    ).json()["id"]
    cert = {"site_id": "lakeside-primary", "staff_id": staff, "cert_no": "HC-001", "issued_on": "2025-09-10"}
    r = await h.client.post(
        "/v1/health-certificates", json={**cert, "expires_on": "2026-09-10"}, headers=h.auth()
    )
    assert r.json()["findings"][0]["message"].startswith("健康证")
    r = await h.client.post(
        "/v1/health-certificates", json={**cert, "expires_on": "2025-09-01"}, headers=h.auth()
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "expires_on"]
    await h.client.post(
        "/v1/health-certificates",
        headers=h.auth(),
        json={**cert, "cert_no": "HC-002", "issued_on": "2026-08-30", "expires_on": "2027-08-30"},
    )
    await h.flush()
    assert [d.event.active for d in h.alerts if d.event.rule == "health_certificate_expiry"] == [True, False]


async def test_training_exam(h) -> None:  # type: ignore[no-untyped-def]
    staff = (
        await h.client.post(
            "/v1/staff",
            headers=h.auth(),
            json={"site_id": "lakeside-primary", "name": "陈强", "position": "厨师"},
        )
    ).json()["id"]
    course = (
        await h.client.post(
            "/v1/training/courses",
            headers=h.auth(),
            json={
                "site_id": "lakeside-primary",
                "title": "食品安全法",
                "hours": 2,
                "pass_score": 50,
                "questions": [
                    {"text": "留样多少克?", "options": ["100", "125"], "answer": 1},
                    {"text": "留样多久?", "options": ["24h", "48h"], "answer": 1},
                ],
            },
        )
    ).json()["id"]
    paper = (await h.client.get(f"/v1/training/courses/{course}/paper", headers=h.auth())).json()
    assert all("answer" not in q for q in paper["questions"])
    answers = {q["id"]: 1 for q in paper["questions"]}
    r = await h.client.post(
        f"/v1/training/courses/{course}/exams", headers=h.auth(), json={"staff_id": staff, "answers": answers}
    )
    assert r.json()["score"] == 100 and r.json()["certificate_no"].startswith("TC-")
    bad = await h.client.post(
        "/v1/training/courses",
        headers=h.auth(),
        json={
            "site_id": "lakeside-primary",
            "title": "x",
            "hours": 1,
            "questions": [{"text": "q", "options": ["a", "b"], "answer": 5}],
        },
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "answer"


async def test_exports_and_public_summary(h) -> None:  # type: ignore[no-untyped-def]
    await h.client.post(
        "/v1/morning-checks",
        headers=h.auth(),
        json={
            "site_id": "lakeside-primary",
            "staff_id": "s1",
            "staff_name": "陈强隐私",
            "checked_at": "2026-09-01T06:00:00+08:00",
            "temperature_c": 36.5,
            "hands_ok": True,
            "dress_ok": True,
            "checker": "=cmd()",
        },
    )
    csv = await h.client.get("/v1/exports/morning-checks.csv", headers=h.auth(Role.SUPERVISOR, org="/minghu"))
    assert csv.status_code == 200 and "陈强隐私" in csv.content.decode("utf-8-sig")
    assert "'=cmd()" in csv.text  # no formula injection
    xlsx = await h.client.get("/v1/exports/morning-checks.xlsx", headers=h.auth())
    assert xlsx.content[:2] == b"PK"
    other = await h.client.get(
        "/v1/exports/morning-checks.csv", headers=h.auth(Role.SUPERVISOR, org="/minghu/hillview")
    )
    assert "陈强隐私" not in other.content.decode("utf-8-sig")  # out of the supervisor's subtree
    pub = await h.client.get(
        "/v1/public/sites/lakeside-primary/summary?day=2026-09-01", headers=h.auth(Role.SERVICE)
    )
    assert pub.status_code == 200 and pub.json()["morning_check"] == {"checked": 1, "fit": 1}
    assert "陈强隐私" not in pub.text and "=cmd()" not in pub.text
    # A parent's token is for the public edge alone (audience public-api): the ledger refuses it.
    assert (
        await h.client.get(
            "/v1/public/sites/lakeside-primary/summary?day=2026-09-01", headers=h.auth(Role.PARENT)
        )
    ).status_code == 401
    comp = await h.client.get("/v1/completeness/lakeside-primary?start=2026-09-01", headers=h.auth())
    assert comp.json()[0]["items"]["morning_check"] == 1.0
