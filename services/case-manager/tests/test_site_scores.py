"""The case-manager scores sites from cases, ratings.v1 and ledger.completeness.v1, serves the figures
and publishes them as site_scores.v1 — the same numbers on both paths, only changes sent."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cm_demo import DEMO
from cm_pg import fresh_database
from cm_testkit import detection, eventually, login, make_runtime
from sqlalchemy import func, select

from bk_cases.cases.models import Case
from bk_cases.cases.rules import DEFAULT_GRADES
from bk_cases.service import create_service
from bk_cases.stats.models import LedgerDayRecord, SiteRating
from bkcore.bus.base import new_meta
from bkcore.clock import FakeClock
from bkcore.service import Runtime
from bkproto.events.v1.site_scores_pb2 import LedgerCompleteness, SiteRated

WORST, BEST = "hillview-noodle", "lakeside-primary"
# Ten different violations at the noodle shop: 2 × Class I, 4 × Class II, 4 × Class III = 44 points.
TYPES = tuple(t for t in DEFAULT_GRADES if not t.startswith("camera_"))
POINTS = {1: 10, 2: 4, 3: 2}  # the platform's default weights per risk class
EXPECTED = 100.0 - sum(POINTS[DEFAULT_GRADES[t]] for t in TYPES) - 5.0  # 5: three unhappy parents


def rating(clock, n: int, score: str = "dissatisfied", site: str = WORST) -> SiteRated:
    return SiteRated(
        meta=new_meta(tenant_id="minghu", key=site, producer="public-api", occurred_at=clock.now()),
        rating_id=f"r-{site}-{n}",
        site_id=site,
        score=score,
        day=clock.now().date().isoformat(),
        rater_id=f"p-{n}",
    )


def completeness(clock, days_ago: int, score: float = 100.0, site: str = BEST) -> LedgerCompleteness:
    day = (clock.now() - timedelta(days=days_ago)).date().isoformat()
    return LedgerCompleteness(
        meta=new_meta(tenant_id="minghu", key=site, producer="ledger", occurred_at=clock.now()),
        site_id=site,
        day=day,
        score=score,
        items={"morning_check": score / 100},
    )


async def _count(service, model) -> int:
    async with service.db.session() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def test_scores_lists_and_events_agree(service, client, clock):
    await _scores_lists_and_events_agree(service, client, clock)


@pytest.mark.integration
async def test_scores_lists_and_events_agree_on_postgresql(tmp_path: Path) -> None:
    """The same on the production database (migration 0008, JSON columns, timestamps with zone)."""
    clock = FakeClock()
    async with fresh_database() as url:
        runtime, base = make_runtime(tmp_path, clock)
        settings = base.model_copy(update={"database_url": url})
        runtime = Runtime(
            settings=settings, bus=runtime.bus, store=runtime.store, tokens=runtime.tokens, clock=clock
        )
        svc = create_service(runtime, settings)
        await svc.start()
        await runtime.bus.start()
        try:
            await svc.seed_demo(DEMO)
            transport = httpx.ASGITransport(app=svc.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://cases") as client:
                await _scores_lists_and_events_agree(svc, client, clock)
        finally:
            await runtime.bus.stop()
            await svc.stop()


async def _scores_lists_and_events_agree(service, client, clock):
    bus = service.ctx.runtime.bus
    got: list = []

    async def collect(d):
        got.append(d.event)

    bus.subscribe("site_scores.v1", "test", collect)
    for i, vtype in enumerate(TYPES):
        await bus.publish("detections.v1", detection(clock, vtype, WORST, f"{WORST}-cooking", offset_s=i))
    for n in range(3):
        ev = rating(clock, n)
        await bus.publish("ratings.v1", ev)
        await bus.publish("ratings.v1", ev)  # redelivered: counted once
    for days_ago in range(1, 8):
        await bus.publish("ledger.completeness.v1", completeness(clock, days_ago))

    async def inputs_stored() -> bool:
        return (
            await _count(service, Case) == len(TYPES)
            and await _count(service, SiteRating) == 3
            and await _count(service, LedgerDayRecord) == 7
        )

    await eventually(inputs_stored)
    clock.advance(timedelta(minutes=1))  # the window ends now: what happened is in it
    assert await service.scores.publish() == 2  # both demo sites, first time
    await service.ctx.relay.flush()
    await eventually(lambda: _true(len(got) == 2))
    events = {e.site_id: e for e in got}

    city = await login(client, "city")
    r = await client.get("/stats/risk-scores", headers=city)
    assert r.status_code == 200, r.text
    api = {s["site_id"]: s for s in r.json()["sites"]}
    worst = api[WORST]
    # 44 points for the violations, 5 for three unhappy parents; no ledger reports: nothing taken off.
    assert worst["score"] == EXPECTED == 51.0 and worst["violations"] == len(TYPES)
    assert worst["deductions"]["ratings"] == 5.0 and worst["deductions"]["ledger_completeness"] == 0.0
    assert (worst["grade"], worst["inspection_frequency"], worst["list"], worst["rank"]) == (
        "high",
        "monthly",
        "black",
        1,
    )
    assert worst["inspection_label"] == "每月 monthly"
    best = api[BEST]
    assert (best["score"], best["list"], best["ledger_days"], best["ledger_completeness"]) == (
        100.0,
        "red",
        7,
        100.0,
    )
    for sid, s in api.items():  # the event says exactly what the API says
        e = events[sid]
        assert (e.score, e.grade, e.inspection_frequency, e.list, e.rank, e.list_reason) == (
            s["score"],
            s["grade"],
            s["inspection_frequency"],
            s["list"],
            s["rank"],
            s["list_reason"],
        )
        assert dict(e.deductions) == s["deductions"] and e.violations == s["violations"]

    rb = (await client.get("/stats/red-black-list", headers=city)).json()
    assert [e["site_id"] for e in rb["black"]] == [WORST] and [e["site_id"] for e in rb["red"]] == [BEST]

    # Nothing changed: nothing sent again.
    assert await service.scores.publish() == 0

    # A district supervisor sees the same figures for their part of the tree only.
    hill = (await client.get("/stats/risk-scores", headers=await login(client, "hillview"))).json()["sites"]
    assert [s["site_id"] for s in hill] == [WORST] and hill[0]["score"] == worst["score"]

    # The console's site view: the site's own manager may read it; another site's may not.
    boss = await login(client, "noodleboss")
    one = (await client.get(f"/stats/sites/{WORST}/score", headers=boss)).json()
    assert (one["score"], one["inspection_frequency"], one["list"]) == (EXPECTED, "monthly", "black")
    assert (
        await client.get(f"/stats/sites/{WORST}/score", headers=await login(client, "manager"))
    ).status_code == 404

    # The tenant's own rules: a stricter black line takes the noodle shop off the list, and that goes out.
    admin = await login(client, "admin")
    bad = await client.put("/stats/rules", json={"black_max_score": 95}, headers=admin)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "black_max_score"]
    assert (await client.put("/stats/rules", json={"class_one": 3}, headers=admin)).status_code == 422
    assert (await client.put("/stats/rules", json={"black_max_score": 40}, headers=city)).status_code == 403
    r = await client.put("/stats/rules", json={"black_max_score": 40}, headers=admin)
    assert r.status_code == 200 and r.json()["rules"]["black_max_score"] == 40
    assert (await client.get("/stats/rules", headers=city)).json()["version"] == r.json()["version"]
    got.clear()
    assert await service.scores.publish() == 2  # every score now rests on other rules (rules_version)
    await service.ctx.relay.flush()
    await eventually(lambda: _true(len(got) == 2))
    again = {e.site_id: e for e in got}
    assert again[WORST].list == "" and again[WORST].score == EXPECTED and "60" not in again[WORST].list_reason
    assert {e.rules_version for e in got} == {r.json()["version"]}


async def test_statistics_by_local_period_org_unit_and_ledger(service, client, clock):
    bus = service.ctx.runtime.bus
    for i, vtype in enumerate(TYPES[:3]):
        await bus.publish("detections.v1", detection(clock, vtype, WORST, f"{WORST}-cooking", offset_s=i))
    await bus.publish("detections.v1", detection(clock, "no_mask"))
    for days_ago, score in ((1, 100.0), (2, 50.0)):
        await bus.publish("ledger.completeness.v1", completeness(clock, days_ago, score))

    async def stored() -> bool:
        return await _count(service, Case) == 4 and await _count(service, LedgerDayRecord) == 2

    await eventually(stored)
    city = await login(client, "city")
    r = (await client.get("/stats/summary", params={"group_by": "district"}, headers=city)).json()
    assert r["timezone"] == "Asia/Shanghai"
    assert {g["key"]: g["captured"] for g in r["groups"]} == {"/minghu/hillview": 3, "/minghu/lakeside": 1}
    local_day = clock.now().astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai")).date().isoformat()
    by_day = (await client.get("/stats/summary", params={"group_by": "day"}, headers=city)).json()["groups"]
    assert [(g["key"], g["captured"], g["handled"]) for g in by_day] == [(local_day, 4, 0)]
    bad = await client.get("/stats/summary", params={"group_by": "weekday"}, headers=city)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "group_by"]

    since = (clock.now() - timedelta(days=5)).isoformat()
    until = clock.now().isoformat()
    led = (
        await client.get(
            "/stats/ledger-completeness",
            params={"since": since, "until": until, "group_by": "site"},
            headers=city,
        )
    ).json()
    (site,) = led["groups"]
    assert (site["key"], site["days"], site["complete_days"], site["mean"]) == (BEST, 2, 1, 75.0)
    hill = await login(client, "hillview")  # lakeside's ledgers are outside the hillview subtree
    other = await client.get(
        "/stats/ledger-completeness", params={"since": since, "until": until}, headers=hill
    )
    assert other.json()["groups"] == []


async def _true(value: bool) -> bool:
    return value
