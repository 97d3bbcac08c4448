"""Retention of the outbox and inbox (#17.12), on real databases: SQLite and PostgreSQL (127.0.0.1).

What must hold: published outbox rows and old inbox claims go, in bounded batches; an unpublished
row never goes, however old; a claim inside the window still makes a redelivery a no-op; 0 days
keeps everything; the relay runs it on its own; the metrics count what went and what is pending.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import MetaData, Table, func, insert, select

from bkcore.bus.inproc import InProcessBus
from bkcore.db import Database, OutboxRelay, add_messaging_tables, claim_event
from bkcore.retention import MessagingRetention, RetentionPolicy
from bkcore.settings import CoreSettings
from bkcore.testing.postgres import temporary_database

pytestmark = pytest.mark.timeout(120)
NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
async def tables(request, tmp_path: Path) -> AsyncIterator[tuple[Database, Table, Table]]:  # type: ignore[no-untyped-def]
    metadata = MetaData()
    inbox, outbox = add_messaging_tables(metadata)
    if request.param == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'retention.sqlite'}")
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        yield db, inbox, outbox
        await db.dispose()
        return
    async with temporary_database("bk_retention") as url:
        db = Database(url, schema="retention_test")
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql('CREATE SCHEMA IF NOT EXISTS "retention_test"')
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        try:
            yield db, inbox, outbox
        finally:
            await db.dispose()


async def seed(db: Database, inbox: Table, outbox: Table, *, now: datetime = NOW, stuck: bool = True) -> None:
    """12 outbox rows published 10 days ago, 3 published yesterday, 1 never published (100 days old);
    9 inbox claims 40 days old, 4 from 10 days ago."""
    old, recent = now - timedelta(days=10), now - timedelta(days=1)
    rows = [(f"e-old-{i}", now - timedelta(days=11), old) for i in range(12)]
    rows += [(f"e-new-{i}", recent, recent) for i in range(3)]
    rows += [("e-stuck", now - timedelta(days=100), None)] if stuck else []
    async with db.session() as s:
        await s.execute(
            insert(outbox),
            [{"topic": "cases.v1", "event_id": e, "payload": b"x", "created_at": c, "published_at": p}
             for e, c, p in rows],
        )  # fmt: skip
        claims = [("cm", f"old-{i}", now - timedelta(days=40)) for i in range(9)]
        claims += [("cm", f"new-{i}", now - timedelta(days=10)) for i in range(4)]
        await s.execute(
            insert(inbox), [{"consumer": c, "event_id": e, "handled_at": h} for c, e, h in claims]
        )


async def count(db: Database, table: Table) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(table)) or 0)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_published_rows_and_old_claims_go_in_batches_and_nothing_else(tables) -> None:  # type: ignore[no-untyped-def]
    db, inbox, outbox = tables
    await seed(db, inbox, outbox)
    service = f"svc-{id(db)}"
    policy = RetentionPolicy(service=service, outbox_days=7, inbox_days=30, batch=5)  # 12 rows: 3 batches
    before = metric("bk_bus_retention_deleted_total", service=service, table="bus_outbox")

    swept = await MessagingRetention(db, outbox, inbox, policy).run_once(NOW)

    assert (swept.outbox, swept.inbox, swept.pending) == (12, 9, 1)
    async with db.session() as s:
        left = {r.event_id: r.published_at for r in (await s.execute(select(outbox))).all()}
    assert set(left) == {"e-new-0", "e-new-1", "e-new-2", "e-stuck"} and left["e-stuck"] is None
    assert await count(db, inbox) == 4
    assert metric("bk_bus_retention_deleted_total", service=service, table="bus_outbox") - before == 12
    assert metric("bk_bus_retention_deleted_total", service=service, table="bus_inbox") == 9
    assert metric("bk_bus_outbox_pending", service=service) == 1
    # a claim inside the window still turns a redelivery into a no-op
    async with db.session() as s:
        assert await claim_event(s, inbox, consumer="cm", event_id="new-0") is False
    # and a second run finds nothing more to do
    again = await MessagingRetention(db, outbox, inbox, policy).run_once(NOW)
    assert (again.outbox, again.inbox) == (0, 0)


async def test_zero_days_keeps_everything(tables) -> None:  # type: ignore[no-untyped-def]
    db, inbox, outbox = tables
    await seed(db, inbox, outbox)
    policy = RetentionPolicy(service="keep", outbox_days=0, inbox_days=0)
    swept = await MessagingRetention(db, outbox, inbox, policy).run_once(NOW)
    assert (swept.outbox, swept.inbox) == (0, 0)
    assert (await count(db, outbox), await count(db, inbox)) == (16, 13)


async def test_the_relay_runs_retention_on_its_own(tables) -> None:  # type: ignore[no-untyped-def]
    db, inbox, outbox = tables
    await seed(db, inbox, outbox, now=datetime.now(UTC), stuck=False)  # the relay's retention runs now
    policy = RetentionPolicy(service="relay", outbox_days=7, inbox_days=30, interval_s=0.05, batch=4)
    relay = OutboxRelay(db, outbox, InProcessBus(), poll_s=0.05, retention=policy)
    relay.start()
    try:
        for _ in range(600):  # at most 30 s
            if await count(db, inbox) == 4 and await count(db, outbox) == 3:
                break
            await asyncio.sleep(0.05)
    finally:
        await relay.stop()
    async with db.session() as s:
        assert sorted(r.event_id for r in (await s.execute(select(outbox.c.event_id))).all()) == [
            "e-new-0", "e-new-1", "e-new-2"
        ]  # fmt: skip
    assert await count(db, inbox) == 4


def test_the_policy_comes_from_the_settings(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("BK_INBOX_RETENTION_DAYS", raising=False)
    monkeypatch.delenv("BK_OUTBOX_RETENTION_DAYS", raising=False)
    defaults = RetentionPolicy.from_settings(CoreSettings(service_name="ledger"))
    assert (defaults.service, defaults.inbox_days, defaults.outbox_days) == ("ledger", 30, 7)
    monkeypatch.setenv("BK_INBOX_RETENTION_DAYS", "45")
    monkeypatch.setenv("BK_OUTBOX_RETENTION_DAYS", "0")
    policy = RetentionPolicy.from_settings(CoreSettings(service_name="ledger"))
    assert (policy.inbox_days, policy.outbox_days, policy.interval_s) == (45, 0, 3600)
