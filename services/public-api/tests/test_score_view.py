"""site_scores.v1 → the public read model: the public shows the case-manager's figures, computes none;
a parent's rating goes out as ratings.v1 (the case-manager's score input), in the rating's transaction."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from public_helpers import TENANT, invite, parent_login

from bkcore.bus.base import new_meta
from bkproto.events.v1.site_scores_pb2 import SiteScore


def published(
    site: str, score: float, lst: str = "", rank: int = 0, *, when, grade: str = "low"
) -> SiteScore:
    freq = {"low": "yearly", "medium": "quarterly", "high": "monthly"}[grade]
    return SiteScore(
        meta=new_meta(tenant_id=TENANT, key=site, producer="case-manager", occurred_at=when),
        site_id=site,
        org_path="/minghu/lakeside",
        score=score,
        grade=grade,
        inspection_frequency=freq,
        list=lst,
        rank=rank,
        list_reason="黑榜 black list #1" if lst == "black" else "",
        violations=7,
        deductions={"violations": 70.0},
    )


async def eventually(cond, limit_s: float = 10.0) -> None:
    for _ in range(int(limit_s / 0.05)):
        if await cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_published_scores_are_what_the_public_reads(client, svc, clock):
    h = await parent_login(client)
    await client.post("/bindings", json={"invite_code": await invite(client, svc)}, headers=h)
    # Not scored yet: no number made up on this side.
    assert (await client.get("/sites/s1/score", headers=h)).json()["score"] is None
    assert (await client.get("/public/kiosk/s1")).json()["score"] is None
    assert (await client.get("/public/red-black")).json() == {"red": [], "black": []}

    bus, now = svc.runtime.bus, clock.now()
    ev = published("s1", 23.5, "black", 1, when=now, grade="high")
    await bus.publish("site_scores.v1", ev)
    await bus.publish("site_scores.v1", ev)  # redelivered: stored once
    await bus.publish("site_scores.v1", published("s2", 96.0, "red", 1, when=now))

    async def both() -> bool:
        rb = (await client.get("/public/red-black")).json()
        return len(rb["red"]) == 1 and len(rb["black"]) == 1

    await eventually(both)
    rb = (await client.get("/public/red-black")).json()
    assert rb["black"] == [
        {
            "site_id": "s1",
            "name": "一小食堂",
            "kind": "school_canteen",
            "score": 23.5,
            "grade": "high",
            "inspection_frequency": "monthly",
            "rank": 1,
        }
    ]
    assert rb["red"][0]["site_id"] == "s2" and rb["red"][0]["score"] == 96.0
    mine = (await client.get("/sites/s1/score", headers=h)).json()
    assert (mine["score"], mine["grade"], mine["inspection_frequency"], mine["list"]) == (
        23.5,
        "high",
        "monthly",
        "black",
    )
    assert (await client.get("/public/kiosk/s1")).json()["score"] == 23.5

    # An older score arriving late does not roll the newer one back; a newer one replaces it.
    await bus.publish("site_scores.v1", published("s1", 99.0, when=now - timedelta(hours=1)))
    await bus.publish(
        "site_scores.v1", published("s1", 61.0, when=now + timedelta(minutes=1), grade="medium")
    )

    async def moved() -> bool:
        return (await client.get("/sites/s1/score", headers=h)).json()["score"] == 61.0

    await eventually(moved)
    assert (await client.get("/public/red-black")).json()["black"] == []
    assert (await client.get("/public/kiosk/s1")).json()["score"] == 61.0


async def test_a_rating_goes_to_the_case_manager_as_an_event(client, svc):
    got: list = []

    async def collect(d):
        got.append(d.event)

    svc.runtime.bus.subscribe("ratings.v1", "test", collect)
    h = await parent_login(client)
    await client.post("/bindings", json={"invite_code": await invite(client, svc)}, headers=h)
    r = await client.post("/sites/s1/ratings", json={"score": "dissatisfied"}, headers=h)
    assert r.status_code == 201, r.text
    await svc.ctx.relay.flush()

    async def arrived() -> bool:
        return bool(got)

    await eventually(arrived)
    ev = got[0]
    assert (ev.site_id, ev.score, ev.day, ev.meta.tenant_id) == (
        "s1",
        "dissatisfied",
        r.json()["day"],
        TENANT,
    )
    assert ev.rater_id.startswith("p-") and ev.rating_id.startswith("r-")
    # A refused second rating that day sends nothing.
    assert (await client.post("/sites/s1/ratings", json={"score": "neutral"}, headers=h)).status_code == 409
    await svc.ctx.relay.flush()
    await asyncio.sleep(0.2)
    assert len(got) == 1
