"""A 30-second PostgreSQL outage mid-stream: the case-manager's real consumers pause and retry, and
after recovery every one of 100 detections is handled exactly once (inbox), none is dead-lettered,
and nothing is restarted. A poison detection still goes to the dead-letter topic at once, and
``bkcore.bus.replay`` brings it back once its cause is fixed. On both bus adapters.

PostgreSQL is a private cluster (``bkcore.testing.postgres.private_cluster``) the test stops and
starts; the Kafka-protocol broker is librdkafka's mock cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cm_demo import DEMO
from cm_testkit import SECRET, detection
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text

from bk_cases.cases.models import Case
from bk_cases.db import inbox
from bk_cases.service import CaseService, create_service
from bk_cases.settings import CaseSettings
from bkcore.bus.inproc import InProcessBus
from bkcore.bus.kafka import KafkaBus
from bkcore.bus.replay import replay
from bkcore.clock import FakeClock
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing.kafka import kafka_mock_cluster
from bkcore.testing.postgres import private_cluster
from bkcore.testing.tokens import new_token_issuer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]
TOPIC = "detections.v1"
GROUP = "case-manager"
OUTAGE_S = 30.0  # how long PostgreSQL stays down
WAIT_S = 120.0  # bound on every wait for the consumers
TYPES = ["no_mask", "smoking", "rodent", "phone_use"]
CAMERAS = [
    ("lakeside-primary", "lakeside-primary-prep"),
    ("lakeside-primary", "lakeside-primary-cooking"),
    ("hillview-noodle", "hillview-noodle-cooking"),
]
POISON_TYPE = "unrecognised_" + "x" * 90  # longer than cases.case_type (varchar 64): never fits


async def until(check: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> None:
    for _ in range(int(timeout_s / 0.1)):  # consumers run in the background: poll, bounded
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {timeout_s}s: {what}")


async def handled(svc: CaseService) -> set[str]:
    async with svc.db.session() as s:
        return set((await s.execute(select(inbox.c.event_id).where(inbox.c.consumer == GROUP))).scalars())


async def occurrences(svc: CaseService, *, case_type: str | None = None) -> int:
    query = select(func.coalesce(func.sum(Case.occurrences), 0))
    if case_type is not None:
        query = query.where(Case.case_type == case_type)
    async with svc.db.session() as s:
        return int(await s.scalar(query) or 0)


def metric(name: str) -> float:
    return REGISTRY.get_sample_value(name, {"topic": TOPIC, "consumer_group": GROUP}) or 0.0


@pytest.mark.parametrize("adapter", ["inproc", "kafka"])
async def test_database_outage_pauses_consumers_and_loses_nothing(
    tmp_path: Path, adapter: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bkcore.bus")
    clock = FakeClock()
    events = [detection(clock, TYPES[i % 4], *CAMERAS[i % 3], offset_s=i) for i in range(100)]
    poison = detection(clock, POISON_TYPE, *CAMERAS[0], offset_s=500)
    backoff = {"outage_backoff_s": 0.2, "outage_backoff_max_s": 2.0, "retry_backoff_s": 0.02}
    with private_cluster() as pg, contextlib.ExitStack() as servers:
        url = await pg.create_database("bk_cases")
        if adapter == "kafka":
            bootstrap = servers.enter_context(kafka_mock_cluster())
            bus: Any = KafkaBus(
                bootstrap,
                "case-test",
                topic_partitions=4,
                replication_factor=1,
                request_timeout_ms=10_000,
                session_timeout_ms=3_000,
                **backoff,
            )
        else:
            bus = InProcessBus(tmp_path / "bus.sqlite", **backoff)
        settings = CaseSettings(
            data_dir=tmp_path,
            database_url=url,
            jwt_secret=SECRET,
            url_signing_secret=SECRET,
            outbox_poll_s=0.05,
            sweep_interval_s=3600,
            **({"bus": "kafka", "kafka_bootstrap": bootstrap} if adapter == "kafka" else {}),
        )
        runtime = Runtime(
            settings=settings,
            bus=bus,
            store=LocalObjectStore(tmp_path / "o", SECRET, "http://t/o"),
            tokens=new_token_issuer(),
            clock=clock,
        )
        svc = create_service(runtime, settings)
        await svc.start()
        await bus.start()
        await svc.seed_demo(DEMO)
        retries_before, dead_before = (
            metric("bk_bus_outage_retries_total"),
            metric("bk_bus_dead_letters_total"),
        )
        try:
            # Before the outage: 30 detections and one poison, which is dead-lettered at once.
            for e in events[:30]:
                await bus.publish(TOPIC, e)
            await bus.publish(TOPIC, poison)

            async def first_part_in() -> bool:
                return len(await handled(svc)) == 30 and len(await bus.dead_letters(TOPIC)) == 1

            await until(first_part_in, "30 detections handled and the poison dead-lettered")

            pg.stop("fast")  # the outage: every connection dies, new ones are refused
            for e in events[30:70]:
                await bus.publish(TOPIC, e)

            async def paused() -> bool:
                return metric("bk_bus_consumer_outage") == 1

            await until(paused, "the consumer reports the outage")
            assert any(o.topic == TOPIC and o.group == GROUP for o in bus.outages())
            await asyncio.sleep(OUTAGE_S)  # the outage lasts; the consumers keep retrying meanwhile
            assert len(await bus.dead_letters(TOPIC)) == 1  # still only the poison
            pg.start()
            for e in events[70:]:
                await bus.publish(TOPIC, e)

            async def all_in() -> bool:
                return len(await handled(svc)) >= 100

            await until(all_in, "all 100 detections handled after the database came back")
            assert await handled(svc) == {e.meta.event_id for e in events}
            assert await occurrences(svc) == 100  # each detection counted exactly once
            [dead] = await bus.dead_letters(TOPIC)
            assert dead.headers["event_id"] == poison.meta.event_id
            assert "varchar(64)" in dead.headers["dlq_error"] or "too long" in dead.headers["dlq_error"]
            assert metric("bk_bus_dead_letters_total") == dead_before + 1
            assert metric("bk_bus_outage_retries_total") > retries_before
            assert metric("bk_bus_consumer_outage") == 0 and bus.outages() == []
            ours = [
                r.getMessage()
                for r in caplog.records
                if f"group {GROUP} " in r.getMessage() and f" {TOPIC} " in r.getMessage()
            ]
            assert sum(m.startswith("outage: ") for m in ours) == 1, ours  # once at the start
            assert sum(m.startswith("outage over: ") for m in ours) == 1, ours  # once at the end
            assert await bus.ready()  # the same consumers, never restarted

            # The fix (a migration widening the column), then the dead letter goes back, once.
            async with svc.db.session() as s:
                await s.execute(text("ALTER TABLE cases ALTER COLUMN case_type TYPE varchar(200)"))
            report = await replay(bus, TOPIC)
            assert (report.replayed, report.skipped) == (1, 0)

            async def replayed_in() -> bool:
                return len(await handled(svc)) == 101

            await until(replayed_in, "the replayed detection handled")
            assert await occurrences(svc, case_type=POISON_TYPE) == 1
            again = await replay(bus, TOPIC)
            assert (again.replayed, again.already) == (0, 1)
            assert len(await bus.dead_letters(TOPIC)) == 1 and await occurrences(svc) == 101
        finally:
            await bus.stop()
            await svc.stop()
