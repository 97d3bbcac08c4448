"""A site moved to another org unit takes its ledger records along (#18.2): each record copies its
site's path for subtree scoping, so on directory.v1's move every such table is re-pathed — the old
unit's supervisor loses the site's records, the new one's gains them."""

from __future__ import annotations

from sqlalchemy import select

from bk_ledger.pesticide.models import pesticide_tests
from bkcore.auth import Role
from bkcore.testing.directory import DirSite, eventually, publish, site_event

TENANT = "minghu"
LAKESIDE, HILLVIEW = "/minghu/lakeside", "/minghu/hillview"


async def listed(h, org: str) -> list[str]:  # type: ignore[no-untyped-def]
    r = await h.client.get("/v1/pesticide-tests", headers=h.auth(Role.SUPERVISOR, sites=(), org=org))
    assert r.status_code == 200, r.text
    body = r.json()
    rows = body.get("items", body) if isinstance(body, dict) else body
    return [row["id"] for row in rows]


async def test_a_moved_sites_records_change_hands(h) -> None:  # type: ignore[no-untyped-def]
    body = {
        "site_id": "lakeside-primary",
        "sample_no": "N1",
        "item": "青菜",
        "tester": "王",
        "tested_at": "2026-09-01T07:00:00+08:00",
        "inhibition_pct": 12.0,
    }
    r = await h.client.post("/v1/pesticide-tests", json=body, headers=h.auth())
    assert r.status_code == 201, r.text
    record = r.json()["id"]
    assert await listed(h, LAKESIDE) == [record] and await listed(h, HILLVIEW) == []

    moved = DirSite("lakeside-primary", "湖滨第一小学食堂", "school_canteen", HILLVIEW, "06:30-19:30")
    await publish(h.bus, [site_event(TENANT, moved, version=2)])

    async def followed() -> bool:
        async with h.service.db.session() as s:
            path = (
                await s.execute(select(pesticide_tests.c.org_path).where(pesticide_tests.c.id == record))
            ).scalar()
        return path == HILLVIEW

    await eventually(followed, what="the site's record followed the move")
    assert await listed(h, LAKESIDE) == [] and await listed(h, HILLVIEW) == [record]
