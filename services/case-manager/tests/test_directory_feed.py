"""The case-manager's side of the one directory (#18.2): it publishes directory.v1 with versions and
snapshots; it checks staff against its own current directory; and a signal for a site it does not
know is held, retried, released when the site appears, or dead-lettered after its hold — never dropped.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cm_demo import DEMO
from cm_pg import fresh_database
from cm_testkit import eventually, login, make_runtime
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from bk_cases.cases.consumers import CONSUMERS
from bk_cases.cases.models import Case
from bk_cases.directory.events import record_change
from bk_cases.directory.models import Site
from bk_cases.held.flows import dead_letter_id, release_due
from bk_cases.held.models import HeldSignal
from bk_cases.service import CaseService, create_service
from bkcore.bus.base import H_ERROR, H_GROUP, H_SOURCE_TOPIC, Delivery, new_meta
from bkcore.clock import FakeClock
from bkproto.events.v1.directory_pb2 import DirectoryChanged, DirectoryKind
from bkproto.events.v1.ledger_alerts_pb2 import LedgerAlert

TENANT = "minghu"


@pytest.fixture(params=["sqlite", "postgresql"])
async def svc(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[tuple[CaseService, list[DirectoryChanged]]]:
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(fresh_database()) if request.param == "postgresql" else ""
        async for pair in _service(tmp_path, clock, url):
            yield pair


async def _service(
    tmp_path: Path, clock: FakeClock, database_url: str
) -> AsyncIterator[tuple[CaseService, list[DirectoryChanged]]]:
    runtime, settings = make_runtime(tmp_path, clock)
    # No cache: each request reads the directory (the cache's bound is bk-core's test_directory).
    settings = settings.model_copy(
        update={
            "directory_check_ttl_s": 0.0,
            "unknown_site_retry_s": 10.0,
            "unknown_site_hold_s": 600.0,
            "database_url": database_url,
        }
    )
    published: list[DirectoryChanged] = []

    async def collect(d: Delivery) -> None:
        published.append(d.event)  # type: ignore[arg-type]

    runtime.bus.subscribe("directory.v1", "test-directory-reader", collect)
    service = create_service(runtime, settings)
    await service.start()
    await runtime.bus.start()
    await service.seed_demo(DEMO)  # type: ignore[arg-type]
    try:
        yield service, published
    finally:
        await runtime.bus.stop()
        await service.stop()


def _of(events: list[DirectoryChanged], kind: int, entity_id: str) -> list[DirectoryChanged]:
    return [e for e in events if e.kind == kind and e.entity_id == entity_id]


async def test_the_seed_is_published_and_each_change_moves_its_entity_version(svc) -> None:  # type: ignore[no-untyped-def]
    service, published = svc
    site_kind, user_kind = DirectoryKind.DIRECTORY_KIND_SITE, DirectoryKind.DIRECTORY_KIND_USER

    async def seeded() -> bool:
        return bool(_of(published, site_kind, "lakeside-primary")) and bool(
            _of(published, user_kind, "minghu:north")
        )

    await eventually(seeded, timeout_s=30)
    first = _of(published, site_kind, "lakeside-primary")[-1]
    assert first.snapshot and first.site.org_path == "/minghu/lakeside/north" and first.site.timezone
    assert {z.zone for z in first.site.zones} == {"prep", "cooking"}

    async with service.db.session() as s:  # the move, as the admin API makes it
        site = await s.get(Site, (TENANT, "lakeside-primary"))
        assert site is not None
        site.org_id, site.org_path = "hillview", "/minghu/hillview"
        await record_change(s, tenant_id=TENANT, kind="site", entity_id="lakeside-primary")
    service.ctx.wake_relay()

    async def moved() -> list[DirectoryChanged]:
        return [e for e in _of(published, site_kind, "lakeside-primary") if not e.snapshot]

    change = (await eventually(moved, timeout_s=30))[-1]
    assert change.version == first.version + 1 and change.site.org_path == "/minghu/hillview"

    # A snapshot now repeats the current state with the same version: a consumer holding it ignores it.
    await service.publish_directory(TENANT)

    async def resnapshot() -> list[DirectoryChanged]:
        return [e for e in _of(published, site_kind, "lakeside-primary") if e.snapshot][1:]

    again = (await eventually(resnapshot, timeout_s=30))[-1]
    assert again.version == change.version and again.site.org_path == "/minghu/hillview"


async def test_a_deactivated_or_deleted_user_is_refused_at_once_and_tombstoned(svc, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    service, published = svc
    transport = httpx.ASGITransport(app=service.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cases") as c:
        admin = await login(c, "admin")
        north = await login(c, "north")
        assert (await c.get("/cases", headers=north)).status_code == 200
        r = await c.post("/users/north/deactivate", headers=admin)
        assert r.status_code == 200, r.text
        refused = await c.get("/cases", headers=north)  # the 12-hour token is still unexpired
        assert refused.status_code == 401 and "停用" in refused.json()["detail"]
        assert (
            await c.post("/auth/login", json={"username": "north", "password": "demo-north"})
        ).status_code == 401

        manager = await login(c, "manager")
        async with service.db.session() as s:  # deleted, as an admin removal would (with its event)
            from bk_cases.directory.models import User

            user = await s.get(User, "minghu:manager")
            await s.delete(user)
            await record_change(s, tenant_id=TENANT, kind="user", entity_id="minghu:manager")
        service.ctx.wake_relay()
        gone = await c.get("/cases", headers=manager)
        assert gone.status_code == 401, gone.text

    user_kind = DirectoryKind.DIRECTORY_KIND_USER

    async def told() -> bool:
        north_now = _of(published, user_kind, "minghu:north")
        manager_now = _of(published, user_kind, "minghu:manager")
        return any(not e.user.active for e in north_now) and any(e.deleted for e in manager_now)

    await eventually(told, timeout_s=30)
    await service.publish_directory(TENANT)  # a catching-up consumer learns of the deletion too

    async def tombstone() -> bool:
        return any(e.snapshot and e.deleted for e in _of(published, user_kind, "minghu:manager"))

    await eventually(tombstone, timeout_s=30)


def _ledger_alert(site_id: str, alert_id: str) -> LedgerAlert:
    return LedgerAlert(
        meta=new_meta(tenant_id=TENANT, key=site_id, producer="ledger"),
        alert_id=alert_id,
        site_id=site_id,
        ledger="iot",
        rule="fridge_over_temperature",
        severity="alarm",
        active=True,
        message="冷藏温度超标 · fridge over temperature",
    )


async def _count(service: CaseService, model: type, **where: str) -> int:
    async with service.db.session() as s:
        stmt = select(func.count()).select_from(model)
        for k, v in where.items():
            stmt = stmt.where(getattr(model, k) == v)
        return int(await s.scalar(stmt) or 0)


def _metric(outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "bk_cases_held_signals_total", {"tenant": TENANT, "topic": "ledger.alerts.v1", "outcome": outcome}
    )
    return value or 0.0


async def test_a_ledger_alarm_for_an_unknown_site_is_held_then_opens_its_case_when_the_site_appears(
    svc, clock: FakeClock
) -> None:  # type: ignore[no-untyped-def]
    service, _ = svc
    await service.ctx.runtime.bus.publish("ledger.alerts.v1", _ledger_alert("new-canteen", "a-held-1"))

    async def held() -> bool:
        return await _count(service, HeldSignal, site_id="new-canteen") == 1

    await eventually(held, timeout_s=30)
    assert await _count(service, Case, site_id="new-canteen") == 0
    clock.advance(timedelta(seconds=11))
    assert await release_due(service.ctx, CONSUMERS) == 0  # still unknown: tried, kept
    assert await _count(service, HeldSignal, site_id="new-canteen") == 1

    async with service.db.session() as s:  # the site is created (the admin API does the same)
        s.add(
            Site(
                tenant_id=TENANT,
                id="new-canteen",
                name="新食堂",
                kind="school_canteen",
                org_id="lakeside-north",
                org_path="/minghu/lakeside/north",
            )
        )
        await record_change(s, tenant_id=TENANT, kind="site", entity_id="new-canteen")
    released_before = _metric("released")
    clock.advance(timedelta(seconds=60))
    assert await release_due(service.ctx, CONSUMERS) == 1
    assert await _count(service, HeldSignal) == 0
    assert await _count(service, Case, site_id="new-canteen") == 1
    assert _metric("released") == released_before + 1


async def test_a_signal_whose_site_never_appears_is_dead_lettered_with_its_reason(
    svc, clock: FakeClock
) -> None:  # type: ignore[no-untyped-def]
    service, _ = svc
    bus = service.ctx.runtime.bus
    dead_before = _metric("dead_lettered")
    alert = _ledger_alert("no-such-site", "a-dead-1")
    await bus.publish("ledger.alerts.v1", alert)

    async def held() -> bool:
        return await _count(service, HeldSignal, site_id="no-such-site") == 1

    await eventually(held, timeout_s=30)
    for _ in range(6):  # retried on its schedule until the hold (600 s) is over
        clock.advance(timedelta(seconds=120))
        await release_due(service.ctx, CONSUMERS)
    assert await _count(service, HeldSignal) == 0
    letters = await bus.dead_letters("ledger.alerts.v1")  # type: ignore[attr-defined]
    assert len(letters) == 1
    letter = letters[0]
    replayable = LedgerAlert.FromString(letter.value)
    assert replayable.meta.event_id == dead_letter_id(alert.meta.event_id) != alert.meta.event_id
    replayable.meta.event_id = alert.meta.event_id
    assert replayable == alert  # the event as it came, under a fresh (derived) id
    assert letter.headers[H_SOURCE_TOPIC] == "ledger.alerts.v1"
    assert letter.headers[H_GROUP] == service.ctx.settings.consumer_group
    assert "UnknownSite" in letter.headers[H_ERROR] and "no-such-site" in letter.headers[H_ERROR]
    assert _metric("dead_lettered") == dead_before + 1
    assert await _count(service, Case, site_id="no-such-site") == 0

    # The directory is fixed; the replay (the same bytes, the same event id) opens the case.
    async with service.db.session() as s:
        s.add(
            Site(
                tenant_id=TENANT,
                id="no-such-site",
                name="补录食堂",
                kind="restaurant",
                org_id="hillview",
                org_path="/minghu/hillview",
            )
        )
        await record_change(s, tenant_id=TENANT, kind="site", entity_id="no-such-site")
    await bus.publish_raw("ledger.alerts.v1", letter.key, letter.value, letter.headers)

    async def opened() -> bool:
        return await _count(service, Case, site_id="no-such-site") == 1

    await eventually(opened, timeout_s=30)


async def test_a_snapshot_on_demand_is_for_platform_admins_of_their_own_tenant(svc) -> None:  # type: ignore[no-untyped-def]
    service, published = svc
    transport = httpx.ASGITransport(app=service.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cases") as c:
        assert (await c.post("/directory/snapshot", headers=await login(c, "north"))).status_code == 403
        before = len(published)
        r = await c.post("/directory/snapshot", headers=await login(c, "admin"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tenant_id"] == TENANT and body["events"] >= len(DEMO.USERS) + len(DEMO.SITES)

    async def arrived() -> bool:
        return len(published) - before >= body["events"]

    await eventually(arrived, timeout_s=30)
    assert {e.meta.tenant_id for e in published[before:]} == {TENANT}
