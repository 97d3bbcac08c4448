"""The console's case board follows a moved site (#18.2): the case-manager moves a site to another
org unit (directory.v1); the site's existing cases (and its score) leave the old unit's supervisors
and reach the new one's, and a case event published before the move but arriving after it does not
bring the old path back."""

from __future__ import annotations

from datetime import timedelta

from public_helpers import NOON, TENANT, staff_token
from sqlalchemy import select

from bk_public.models import case_view
from bk_public.service import PublicService
from bkcore.bus.base import new_meta
from bkcore.testing.directory import DirSite, eventually, publish, site_event
from bkproto.events.v1.cases_pb2 import CaseChanged

LAKESIDE, HILLVIEW = "/minghu/lakeside", "/minghu/hillview"


def case_event(status: str, org: str, minutes: int) -> CaseChanged:
    return CaseChanged(
        meta=new_meta(
            tenant_id=TENANT, key="c1", producer="test", occurred_at=NOON + timedelta(minutes=minutes)
        ),
        case_id="c1",
        site_id="s1",
        org_path=org,
        case_type="no_chef_hat",
        risk_class=3,
        status=status,
        action="created" if status == "new" else "dispatch",
        occurrences=1,
    )


async def path(svc: PublicService) -> str | None:
    async with svc.db.session() as s:
        return (await s.execute(select(case_view.c.org_path).where(case_view.c.case_id == "c1"))).scalar()


async def board(client, headers: dict[str, str]) -> list[str]:  # type: ignore[no-untyped-def]
    r = await client.get("/console/cases", headers=headers)
    assert r.status_code == 200, r.text
    return [c["case_id"] for c in r.json()]


async def test_a_moved_sites_cases_change_hands_on_the_board(svc: PublicService, client) -> None:  # type: ignore[no-untyped-def]
    bus = svc.runtime.bus
    lake, hill = staff_token(svc, org=LAKESIDE), staff_token(svc, org=HILLVIEW)
    await publish(bus, [site_event(TENANT, DirSite("s1", "一小食堂", "school_canteen", LAKESIDE))])
    await bus.publish("cases.v1", case_event("new", LAKESIDE, 0))

    async def on_board() -> bool:
        return await path(svc) == LAKESIDE

    await eventually(on_board, what="the case on the board")
    assert await board(client, lake) == ["c1"] and await board(client, hill) == []

    await publish(bus, [site_event(TENANT, DirSite("s1", "一小食堂", "school_canteen", HILLVIEW), version=2)])

    async def moved() -> bool:
        return await path(svc) == HILLVIEW

    await eventually(moved, what="the site's case followed the move")
    assert await board(client, lake) == [] and await board(client, hill) == ["c1"]

    # Dispatched before the move, told after it: the case changes, its place stays the site's now.
    await bus.publish("cases.v1", case_event("dispatched", LAKESIDE, 1))

    async def dispatched() -> bool:
        async with svc.db.session() as s:
            status = (await s.execute(select(case_view.c.status).where(case_view.c.case_id == "c1"))).scalar()
        return status == "dispatched"

    await eventually(dispatched, what="the late event applied")
    assert await path(svc) == HILLVIEW
    assert await board(client, lake) == [] and await board(client, hill) == ["c1"]
