"""Coalesced ``cases.v1`` merge updates still converge read models; the sweep counts breached deadlines."""

from __future__ import annotations

from datetime import UTC, timedelta

import httpx
from cm_testkit import detection, eventually, login
from prometheus_client import REGISTRY
from sqlalchemy import select

from bk_cases.cases.flows import flush_case_updates
from bk_cases.cases.models import Case
from bk_cases.cases.scheduled import sweep_once
from bk_cases.service import CaseService
from bkcore.bus.base import Delivery
from bkcore.clock import FakeClock
from bkproto.events.v1.cases_pb2 import CaseChanged


async def _read_model(service: CaseService) -> tuple[dict[str, int], list[CaseChanged]]:
    """A read model like public-api's: the newest event (by occurred_at) of each case wins."""
    view: dict[str, tuple[object, int]] = {}
    events: list[CaseChanged] = []

    async def apply(d: Delivery) -> None:
        ev: CaseChanged = d.event  # type: ignore[assignment]
        events.append(ev)
        at = ev.meta.occurred_at.ToDatetime(tzinfo=UTC)
        if ev.case_id not in view or view[ev.case_id][0] <= at:  # type: ignore[operator]
            view[ev.case_id] = (at, ev.occurrences)

    service.ctx.runtime.bus.subscribe("cases.v1", "test-read-model", apply)
    return view, events  # type: ignore[return-value]


async def _occurrences(service: CaseService) -> dict[str, int]:
    async with service.db.session() as s:
        return dict((await s.execute(select(Case.id, Case.occurrences))).all())  # type: ignore[arg-type]


async def test_coalesced_merges_converge_in_read_models(service: CaseService, clock: FakeClock) -> None:
    bus = service.ctx.runtime.bus
    assert service.ctx.settings.case_update_coalesce_s == 5.0  # the default
    view, events = await _read_model(service)
    for i in range(6):  # one case opened, five repeats joining it
        await bus.publish("detections.v1", detection(clock, "no_mask", offset_s=i))
    await eventually(lambda: _merged_total(service, 6))
    await service.ctx.relay.flush()  # type: ignore[union-attr]
    (case_id,) = (await _occurrences(service)).keys()
    # The repeats were not told one by one: nothing but the case's creation reached the read model.
    await eventually(lambda: _async(view.get(case_id)))
    assert view[case_id][1] == 1
    assert not [e for e in events if e.action == "merged"]
    assert await flush_case_updates(service.ctx) == 0  # not due before the coalescing window
    clock.advance(timedelta(seconds=5))
    assert await flush_case_updates(service.ctx) == 1  # one update for all five repeats
    assert await flush_case_updates(service.ctx) == 0  # and only one
    await service.ctx.relay.flush()  # type: ignore[union-attr]
    await eventually(lambda: _async(view[case_id][1] == 6))
    assert len([e for e in events if e.action == "merged"]) == 1
    # More repeats later converge again; a transition in between tells the count itself.
    await bus.publish("detections.v1", detection(clock, "no_mask", offset_s=1))
    await eventually(lambda: _merged_total(service, 7))
    clock.advance(timedelta(seconds=5))
    assert await flush_case_updates(service.ctx) == 1
    await service.ctx.relay.flush()  # type: ignore[union-attr]
    await eventually(lambda: _async(view[case_id][1] == 7))
    assert view[case_id][1] == (await _occurrences(service))[case_id]


async def test_transition_event_carries_merges_and_clears_pending(
    service: CaseService, client, clock: FakeClock
) -> None:
    bus = service.ctx.runtime.bus
    for i in range(3):
        await bus.publish("detections.v1", detection(clock, "smoking", offset_s=i))
    await eventually(lambda: _merged_total(service, 3))
    (case_id,) = (await _occurrences(service)).keys()
    sup = await login(client, "north")
    r = await client.post(f"/cases/{case_id}/dispatch", headers=sup, json={"note": "go"})
    assert r.status_code == 200, r.text
    clock.advance(timedelta(seconds=10))
    assert await flush_case_updates(service.ctx) == 0  # the dispatch's cases.v1 already had 3


async def test_sweep_counts_deadline_breaches(
    service: CaseService, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    def breached(card: str) -> float:
        v = REGISTRY.get_sample_value(
            "bk_cases_deadline_breached_total", {"tenant": "minghu", "risk_class": "II", "card": card}
        )
        return v or 0.0

    def overdue() -> float:
        return REGISTRY.get_sample_value("bk_cases_overdue_open", {"tenant": "minghu"}) or 0.0

    yellow0, red0 = breached("yellow"), breached("red")
    await service.ctx.runtime.bus.publish("detections.v1", detection(clock, "trash_bin_open"))
    await eventually(lambda: _merged_total(service, 1))
    await sweep_once(service.ctx)
    assert (breached("yellow"), overdue()) == (yellow0, 0)
    north = await login(client, "north")  # the deadline runs from dispatch
    (case_id,) = (await _occurrences(service)).keys()
    assert (await client.post(f"/cases/{case_id}/dispatch", headers=north)).status_code == 200
    clock.advance(timedelta(hours=24, minutes=1))  # Class II: 24 h
    await sweep_once(service.ctx)
    assert breached("yellow") == yellow0 + 1 and overdue() == 1
    await sweep_once(service.ctx)
    assert breached("yellow") == yellow0 + 1  # carded once, counted once
    clock.advance(timedelta(hours=24))
    await sweep_once(service.ctx)
    assert (breached("yellow"), breached("red")) == (yellow0 + 1, red0 + 1)


async def _merged_total(service: CaseService, n: int) -> bool:
    return sum((await _occurrences(service)).values()) == n


async def _async(value: object) -> object:
    return value
