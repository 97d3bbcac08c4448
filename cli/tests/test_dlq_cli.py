"""``brightkitchen dlq list|replay`` as an operator runs it (a subprocess), on the embedded bus file
and on a Kafka-protocol broker: DLQ → source topic → handled once by the group that gave up, and
skipped through the inbox by the groups that had handled it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message
from sqlalchemy import Column, MetaData, String, Table, func, select

from bkcore.bus.base import TOPICS, Delivery, new_meta
from bkcore.bus.inproc import InProcessBus
from bkcore.db import Database, add_messaging_tables, claim_event

pytestmark = [pytest.mark.timeout(180)]
TOPIC = "ledger.alerts.v1"
WAIT_S = 25.0


def event(key: str) -> Message:
    return TOPICS[TOPIC](meta=new_meta(tenant_id="t-1", key=key, producer="test"))


def eid(e: Message) -> str:
    return e.meta.event_id  # type: ignore[attr-defined,no-any-return]


class Service:
    """A consumer group as every service writes one: the inbox claim and the effect in one transaction."""

    def __init__(self, db_path: Path, group: str, *, bug_for: set[str] | None = None) -> None:
        metadata = MetaData()
        self.inbox, _ = add_messaging_tables(metadata)
        self.effect = Table("effects", metadata, Column("event_id", String(64)))
        self._metadata = metadata
        self.db = Database(f"sqlite+aiosqlite:///{db_path}")
        self.group = group
        self.bug_for = bug_for or set()
        self.deliveries: list[str] = []

    async def create(self) -> None:
        async with self.db.engine.begin() as conn:
            await conn.run_sync(self._metadata.create_all)

    async def handle(self, d: Delivery) -> None:
        self.deliveries.append(d.event_id)
        if d.event_id in self.bug_for:
            raise KeyError("no such ledger rule")  # a bug for this one message
        async with self.db.session() as session:
            if await claim_event(session, self.inbox, consumer=self.group, event_id=d.event_id):
                await session.execute(self.effect.insert().values(event_id=d.event_id))

    async def effects(self) -> dict[str, int]:
        async with self.db.session() as session:
            rows = await session.execute(
                select(self.effect.c.event_id, func.count()).group_by(self.effect.c.event_id)
            )
            return {event_id: n for event_id, n in rows}


async def until(check: Callable[[], Any], what: str) -> None:
    for _ in range(int(WAIT_S / 0.05)):  # consumers run in the background: poll, bounded
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not in {WAIT_S}s: {what}")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BK_")} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "brightkitchen.main", "dlq", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean,
    )


async def test_replay_on_the_embedded_bus(tmp_path: Path) -> None:
    var = tmp_path / "var"
    good, buggy = event("site-1"), event("site-2")
    cases = Service(tmp_path / "cases.sqlite", "cases", bug_for={eid(buggy)})
    view = Service(tmp_path / "view.sqlite", "view")
    for svc in (cases, view):
        await svc.create()

    async def running_platform() -> InProcessBus:
        bus = InProcessBus(var / "bus.sqlite", retry_backoff_s=0.01)
        bus.subscribe(TOPIC, "cases", cases.handle, max_attempts=2)
        bus.subscribe(TOPIC, "view", view.handle)
        await bus.start()
        return bus

    bus = await running_platform()
    await bus.publish(TOPIC, good)
    await bus.publish(TOPIC, buggy)

    async def settled() -> bool:
        return len(await view.effects()) == 2 and len(await bus.dead_letters(TOPIC)) == 1

    await until(settled, "both events handled by view, the buggy one dead-lettered by cases")
    held = cli("list", "--data-dir", str(var))
    assert held.returncode == 3 and "running platform holds it" in held.stderr, held
    await bus.stop()

    dry = cli("replay", "--dry-run", "-t", TOPIC, "--data-dir", str(var))
    assert dry.returncode == 0, dry.stderr
    assert "would replay" in dry.stdout and f"{TOPIC}.dlq/" in dry.stdout
    assert f"event={eid(buggy)} group=cases" in dry.stdout and "KeyError" in dry.stdout
    assert f"{TOPIC}: would replay 1, skipped 0, replayed before 0" in dry.stdout
    listed = cli("list", "--data-dir", str(var))
    assert f"{TOPIC}.dlq: 1 to replay" in listed.stdout and "cases.v1.dlq: 0 to replay" in listed.stdout

    done = cli("replay", "--data-dir", str(var))  # every topic
    assert done.returncode == 0, done.stderr
    assert f"{TOPIC}: replayed 1, skipped 0, replayed before 0" in done.stdout
    assert "detections.v1: replayed 0, skipped 0, replayed before 0" in done.stdout

    cases.bug_for.clear()  # the fix is deployed; the platform starts again
    bus = await running_platform()
    try:

        async def replay_handled() -> bool:
            return (await cases.effects()).get(eid(buggy)) == 1 and view.deliveries.count(eid(buggy)) == 2

        await until(replay_handled, "cases handled the replayed event, view was handed it again")
        assert await cases.effects() == {eid(good): 1, eid(buggy): 1}
        assert await view.effects() == {eid(good): 1, eid(buggy): 1}  # the inbox skipped the replay
    finally:
        await bus.stop()
    again = cli("replay", "-t", f"{TOPIC}.dlq", "--data-dir", str(var))
    assert f"{TOPIC}: replayed 0, skipped 0, replayed before 1" in again.stdout
    listed = cli("list", "--all", "--data-dir", str(var))
    assert f"{TOPIC}.dlq: 1 stored" in listed.stdout and "replayed " in listed.stdout


@pytest.mark.integration
async def test_replay_on_kafka(tmp_path: Path) -> None:
    from bkcore.bus.kafka import KafkaBus
    from bkcore.testing.kafka import kafka_mock_cluster

    buggy = event("site-2")
    cases = Service(tmp_path / "cases.sqlite", "cases", bug_for={eid(buggy)})
    await cases.create()
    with kafka_mock_cluster() as bootstrap:
        bus = KafkaBus(
            bootstrap,
            "cases",
            topic_partitions=2,
            replication_factor=1,
            retry_backoff_s=0.01,
            request_timeout_ms=10_000,
            session_timeout_ms=3_000,
        )
        bus.subscribe(TOPIC, "cases", cases.handle, max_attempts=2)
        await bus.start()
        try:
            await bus.publish(TOPIC, buggy)

            async def dead_lettered() -> bool:
                return len(await bus.dead_letters(TOPIC)) == 1

            await until(dead_lettered, "the buggy event dead-lettered")
            cases.bug_for.clear()
            kafka = {"BK_BUS": "kafka", "BK_KAFKA_BOOTSTRAP": bootstrap}
            dry = cli("replay", "--dry-run", "-t", TOPIC, env=kafka)
            assert f"{TOPIC}: would replay 1" in dry.stdout, dry.stdout + dry.stderr
            done = cli("replay", "-t", TOPIC, env=kafka)  # while the service keeps consuming
            assert f"{TOPIC}: replayed 1, skipped 0, replayed before 0" in done.stdout, (
                done.stdout + done.stderr
            )

            async def handled() -> bool:
                return (await cases.effects()).get(eid(buggy)) == 1

            await until(handled, "the replayed event handled once")
            again = cli("replay", "-t", TOPIC, env=kafka)
            assert f"{TOPIC}: replayed 0, skipped 0, replayed before 1" in again.stdout
        finally:
            await bus.stop()
