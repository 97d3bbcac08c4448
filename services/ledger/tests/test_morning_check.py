"""Morning check: validation, fitness rule, and the missing-by-opening-time sweep."""

from __future__ import annotations

from datetime import timedelta

from bk_ledger.common.config import MorningCheckRules
from bk_ledger.morning_check import rules


def body(**over):  # type: ignore[no-untyped-def]
    return {
        "site_id": "lakeside-primary",
        "staff_id": "s1",
        "staff_name": "陈强",
        "checked_at": "2026-09-01T06:00:00+08:00",
        "temperature_c": 36.5,
        "hands_ok": True,
        "dress_ok": True,
        "checker": "张芳",
        **over,
    }


def test_fever_boundary() -> None:
    cfg = MorningCheckRules()
    assert rules.assess(temperature_c=37.2, has_symptoms=False, hands_ok=True, dress_ok=True, cfg=cfg)[0]
    assert not rules.assess(temperature_c=37.3, has_symptoms=False, hands_ok=True, dress_ok=True, cfg=cfg)[0]
    assert not rules.assess(temperature_c=36.5, has_symptoms=True, hands_ok=True, dress_ok=True, cfg=cfg)[0]
    fit, reasons = rules.assess(
        temperature_c=36.5, has_symptoms=False, hands_ok=True, dress_ok=False, cfg=cfg
    )
    assert fit and reasons  # dress is corrected on the spot, not a reason to leave the post


async def test_record_and_unfit_alert(h) -> None:  # type: ignore[no-untyped-def]
    r = await h.client.post("/v1/morning-checks", json=body(), headers=h.auth())
    assert r.status_code == 201, r.text
    assert r.json()["findings"] == []
    r = await h.client.post(
        "/v1/morning-checks", json=body(staff_id="s2", symptoms={"diarrhoea": True}), headers=h.auth()
    )
    assert r.json()["findings"][0]["rule"] == "staff_unfit"
    await h.flush()
    assert h.rules_seen() == ["staff_unfit"]
    listed = await h.client.get("/v1/morning-checks?site_id=lakeside-primary", headers=h.auth())
    assert len(listed.json()) == 2


async def test_422_per_field(h) -> None:  # type: ignore[no-untyped-def]
    r = await h.client.post(
        "/v1/morning-checks",
        headers=h.auth(),
        json=body(temperature_c=50, checked_at="2026-09-01T06:00:00", checker=""),
    )
    assert r.status_code == 422
    fields = {e["loc"][-1] for e in r.json()["detail"]}
    assert {"temperature_c", "checked_at", "checker"} <= fields


async def test_other_site_is_404(h) -> None:  # type: ignore[no-untyped-def]
    r = await h.client.post("/v1/morning-checks", json=body(site_id="hillview-noodle"), headers=h.auth())
    assert r.status_code == 404


async def test_missing_by_opening_time(h) -> None:  # type: ignore[no-untyped-def]
    r = await h.client.post(
        "/v1/staff",
        headers=h.auth(),
        json={"site_id": "lakeside-primary", "name": "陈强", "position": "厨师"},
    )
    staff_id = r.json()["id"]
    h.clock.set(h.clock.now().replace(hour=22, minute=29) - timedelta(days=1))  # 06:29 local, Sep 1
    await h.service.sweep()
    await h.flush()
    assert "morning_check_missing" not in h.rules_seen()
    h.clock.advance(timedelta(minutes=1))  # 06:30 local: opening time
    await h.service.sweep()
    await h.service.sweep()  # de-duplicated: the same gap is raised once
    await h.flush()
    missing = [
        d
        for d in h.alerts
        if d.event.rule == "morning_check_missing" and d.event.site_id == "lakeside-primary"
    ]
    assert len(missing) == 1 and missing[0].event.active
    await h.client.post(
        "/v1/morning-checks",
        json=body(staff_id=staff_id, checked_at="2026-09-01T06:40:00+08:00"),
        headers=h.auth(),
    )
    await h.service.sweep()
    await h.flush()
    missing = [
        d
        for d in h.alerts
        if d.event.rule == "morning_check_missing" and d.event.site_id == "lakeside-primary"
    ]
    assert [d.event.active for d in missing] == [True, False]
