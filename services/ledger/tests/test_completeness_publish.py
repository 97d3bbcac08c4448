"""Ledger completeness goes to the case-manager as ledger.completeness.v1: finished local days only,
a day without any record (a closed kitchen) not at all, and a day again only when its figure changed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bk_ledger.completeness.models import DayCounts
from bk_ledger.completeness.publish import opened
from bkcore.bus.base import Delivery

DISINFECTION = {
    "site_id": "lakeside-primary",
    "items": "餐盘",
    "quantity": 200,
    "operator": "李",
    "method": "dishwasher",
    "temperature_c": 85,
    "started_at": "2026-09-01T13:00:00+08:00",
    "ended_at": "2026-09-01T13:01:00+08:00",
}


async def test_finished_days_are_sent_once_per_change(h) -> None:  # type: ignore[no-untyped-def]
    got: list[Delivery] = []

    async def collect(d: Delivery) -> None:
        got.append(d)

    h.bus.subscribe("ledger.completeness.v1", "test-case-manager", collect)
    r = await h.client.post("/v1/disinfections", json=DISINFECTION, headers=h.auth())
    assert r.status_code in (200, 201), r.text
    publisher = h.service.completeness
    assert await publisher.publish_once() == 0  # 1 September (local) has not ended yet

    h.clock.advance(timedelta(days=1))  # 2 September, 08:00 in Shanghai
    assert await publisher.publish_once() == 1  # lakeside 1 Sep; the noodle shop recorded nothing
    await h.flush()
    [d] = got
    ev = d.event
    assert (d.key, d.tenant_id, ev.site_id, ev.day) == (
        "lakeside-primary",
        "minghu",
        "lakeside-primary",
        "2026-09-01",
    )
    # A school: five ledgers expected, only disinfection kept.
    assert ev.score == 20.0 and ev.items["disinfection"] == 1.0 and "morning_check" in ev.gaps
    assert await publisher.publish_once() == 0  # unchanged: nothing sent

    test = {
        "site_id": "lakeside-primary",
        "sample_no": "S-1",
        "item": "青菜",
        "inhibition_pct": 10.0,
        "tester": "陈强",
        "tested_at": "2026-09-01T10:00:00+08:00",
    }
    r = await h.client.post("/v1/pesticide-tests", json=test, headers=h.auth())
    assert r.status_code in (200, 201), r.text
    assert await publisher.publish_once() == 1  # a late entry for 1 Sep changes its figure
    await h.flush()
    assert got[-1].event.score == 40.0 and got[-1].event.day == "2026-09-01"


@pytest.mark.unit
def test_a_day_without_any_record_is_a_closed_day() -> None:
    nothing = DayCounts(0, 0, frozenset(), 0, 0, 0, 0, 0)
    assert not opened(nothing)
    assert opened(DayCounts(5, 0, frozenset(), 0, 0, 0, 1, 0))  # staff on the roster alone do not
