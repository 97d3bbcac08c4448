"""The loop's sweep and queries on PostgreSQL, on the shipped demo (#18.4): two replicas sweeping at
once card a case once (SKIP LOCKED) and escalate it to the district, never back to the township;
per-subject clearing, the education copies view and Class III auto-close run on the real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cm_loopkit import SCHOOL, detail, ledger_alert, recipients, wait_cases
from cm_pg import fresh_database
from cm_testkit import detection, eventually, login, make_runtime

from bk_cases.cases.scheduled import sweep_once
from bk_cases.service import CaseService, create_service
from bkcore.clock import FakeClock

pytestmark = pytest.mark.integration


@pytest.fixture
async def pg_client(tmp_path: Path, clock: FakeClock) -> AsyncIterator[tuple[CaseService, httpx.AsyncClient]]:
    from brightkitchen import demo_data

    async with fresh_database() as url:
        runtime, settings = make_runtime(tmp_path, clock)
        settings = settings.model_copy(update={"database_url": url})
        svc = create_service(runtime, settings)
        await svc.start()
        await runtime.bus.start()
        await svc.seed_demo(demo_data)
        try:
            transport = httpx.ASGITransport(app=svc.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://cases") as client:
                yield svc, client
        finally:
            await runtime.bus.stop()
            await svc.stop()


async def test_two_sweeps_at_once_card_once_and_escalate_up_the_tree(
    pg_client: tuple[CaseService, httpx.AsyncClient], clock: FakeClock
) -> None:
    service, client = pg_client
    await service.ctx.runtime.bus.publish("detections.v1", detection(clock, "smoking", SCHOOL))
    north = await login(client, "north")
    (case,) = await wait_cases(client, north, 1)
    assert case["deadline"] is None
    assert (await client.post(f"/cases/{case['id']}/dispatch", headers=north)).status_code == 200
    clock.advance(timedelta(hours=24, minutes=1))
    first = await asyncio.gather(sweep_once(service.ctx), sweep_once(service.ctx))
    assert sum(c["yellow"] for c in first) == 1
    clock.advance(timedelta(hours=24))
    second = await asyncio.gather(sweep_once(service.ctx), sweep_once(service.ctx))
    assert sum(c["red"] for c in second) == 1
    assert await recipients(service, case["id"], "case_escalated") == {"minghu:lakeside", "minghu:manager"}
    d = await detail(client, north, case["id"])
    assert d["escalated_to"] == "/minghu/lakeside"
    assert [e["action"] for e in d["timeline"]].count("red_card") == 1
    # The copy to the education bureau, in its view on PostgreSQL.
    edu = await login(client, "edu")
    page = (await client.get("/cases/copies", headers=edu)).json()
    assert [i["case"]["id"] for i in page["items"]] == [case["id"]]


async def test_per_subject_clearing_and_class_iii_auto_close(
    pg_client: tuple[CaseService, httpx.AsyncClient], clock: FakeClock
) -> None:
    service, client = pg_client
    bus = service.ctx.runtime.bus
    for fridge in ("fridge-1", "fridge-2"):
        await bus.publish(
            "ledger.alerts.v1", ledger_alert(clock.now(), rule="sensor_silent", ledger="iot", subject=fridge)
        )
    await bus.publish(
        "ledger.alerts.v1",
        ledger_alert(
            clock.now(), rule="health_cert_expiring", ledger="staff", subject="s-1", severity="warning"
        ),
    )
    north = await login(client, "north")
    found = {c["subject_id"]: c for c in await wait_cases(client, north, 3)}
    assert found["s-1"]["risk_class"] == 3 and found["fridge-1"]["risk_class"] == 2
    await bus.publish(
        "ledger.alerts.v1",
        ledger_alert(clock.now(), rule="sensor_silent", ledger="iot", subject="fridge-1", active=False),
    )

    async def cleared() -> bool:
        return bool((await detail(client, north, found["fridge-1"]["id"]))["cleared_at"])

    await eventually(cleared)
    assert (await detail(client, north, found["fridge-2"]["id"]))["cleared_at"] is None
    clock.advance(timedelta(days=7, minutes=1))  # the default period: 7 quiet days
    counts = await asyncio.gather(sweep_once(service.ctx), sweep_once(service.ctx))
    assert sum(c["auto_closed"] for c in counts) == 1
    assert (await detail(client, north, found["s-1"]["id"]))["verdict"] == "auto_closed"
    assert (await detail(client, north, found["fridge-2"]["id"]))["status"] == "new"
