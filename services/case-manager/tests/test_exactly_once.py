"""Exactly-once effects on the real Kafka protocol (librdkafka mock cluster) and PostgreSQL.

Duplicated events, events reordered across keys, and a consumer that fails after its database
commit but before the offset commit (so the event is redelivered) must all yield the same cases.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from cm_demo import DEMO
from cm_pg import fresh_database
from cm_testkit import SECRET, detection, eventually
from sqlalchemy import func, select

from bk_cases.cases import consumers
from bk_cases.cases.models import Case
from bk_cases.service import create_service
from bk_cases.settings import CaseSettings
from bkcore.bus.kafka import KafkaBus
from bkcore.clock import FakeClock
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing.kafka import kafka_mock_cluster
from bkcore.testing.tokens import new_token_issuer

pytestmark = pytest.mark.integration
TYPES = ["no_mask", "smoking", "rodent", "phone_use"]
CAMERAS = [
    ("lakeside-primary", "lakeside-primary-prep"),
    ("lakeside-primary", "lakeside-primary-cooking"),
    ("hillview-noodle", "hillview-noodle-cooking"),
]


def _events(clock: FakeClock) -> list:
    """4 types × 3 cameras × 5 repeats; per site and type one case (cameras of a site aggregate)."""
    return [
        detection(clock, vtype, site, cam, offset_s=i * 10 + n)
        for i in range(5)
        for n, (vtype, (site, cam)) in enumerate((t, c) for t in TYPES for c in CAMERAS)
    ]


async def _start(
    tmp: Path, url: str, bootstrap: str, clock: FakeClock, crash_ids: set[str], batch: bool = False
):  # type: ignore[no-untyped-def]
    settings = CaseSettings(
        data_dir=tmp,
        database_url=url,
        jwt_secret=SECRET,
        url_signing_secret=SECRET,
        bus="kafka",
        kafka_bootstrap=bootstrap,
        outbox_poll_s=0.05,
        sweep_interval_s=3600,
    )
    bus = KafkaBus(bootstrap, "case-test", topic_partitions=4, replication_factor=1)
    runtime = Runtime(
        settings=settings,
        bus=bus,
        store=LocalObjectStore(tmp / "o", SECRET, "http://t/o"),
        tokens=new_token_issuer(),
        clock=clock,
    )
    svc = create_service(runtime, settings)
    await svc.migrate()
    # The "crash": the handler's transaction commits, then it fails before the bus commits the offset,
    # exactly like a pod killed between the two; the bus redelivers the event.
    crashed: set[str] = set()
    delivered: list[str] = []
    for topic, body in consumers.CONSUMERS.items():
        if batch and topic in consumers.BATCH_CONSUMERS:
            real_batch = consumers.batch_handler(svc.ctx, consumers.BATCH_CONSUMERS[topic])

            async def handle_batch(ds, real_batch=real_batch):  # type: ignore[no-untyped-def]
                await real_batch(ds)
                delivered.extend(d.event_id for d in ds)
                hit = {d.event_id for d in ds} & (crash_ids - crashed)
                if hit:  # the whole batch committed, then the "crash": every event comes back
                    crashed.update(hit)
                    raise RuntimeError("simulated crash after the DB commit")

            bus.subscribe_batch(topic, settings.consumer_group, handle_batch, max_batch=7, max_attempts=5)
            continue
        real = consumers.handler(svc.ctx, body)

        async def handle(d, real=real):  # type: ignore[no-untyped-def]
            await real(d)
            delivered.append(d.event_id)
            if d.event_id in crash_ids and d.event_id not in crashed:
                crashed.add(d.event_id)
                raise RuntimeError("simulated crash after the DB commit")

        bus.subscribe(topic, settings.consumer_group, handle, max_attempts=5)
    svc._consumers_subscribed = True
    await svc.start()
    await bus.start()
    return svc, bus, delivered


async def _counts(svc) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    async with svc.db.session() as s:
        row = (
            await s.execute(
                select(func.count(), func.coalesce(func.sum(Case.occurrences), 0)).select_from(Case)
            )
        ).one()
    return int(row[0]), int(row[1])


@pytest.mark.parametrize("batch", [False, True], ids=["per-event", "batched"])
async def test_duplicates_reordering_and_crash_yield_the_same_cases(tmp_path: Path, batch: bool) -> None:
    clock = FakeClock()
    events = _events(clock)
    expected = (len(TYPES) * 2, len(events))  # 2 sites × 4 types; every distinct event counted once
    rng = random.Random(7)
    with kafka_mock_cluster() as bootstrap:
        async with fresh_database() as url:
            crash_ids = {e.meta.event_id for e in rng.sample(events, 15)}
            svc, bus, _ = await _start(tmp_path, url, bootstrap, clock, crash_ids, batch)
            await svc.seed_demo(DEMO)
            # Reordering across keys (and even within one): shuffle the whole stream.
            mixed = list(events)
            rng.shuffle(mixed)
            stream = mixed + rng.sample(events, 20)  # plus 20 duplicates
            if batch:  # in bursts, so the consumer really gets batches
                await bus.publish_many([("detections.v1", e) for e in stream])
            else:
                for e in stream:
                    await bus.publish("detections.v1", e)

            async def settled():
                return await _counts(svc) == expected

            await eventually(settled, timeout_s=60)
            await bus.stop()
            await svc.stop()
            # A fresh consumer (empty in-memory dedupe) receives every event once more: the inbox holds.
            svc, bus, delivered = await _start(tmp_path, url, bootstrap, clock, set(), batch)
            replays = rng.sample(events, 30)
            for e in replays:
                await bus.publish("detections.v1", e)

            async def replayed():
                return len(set(delivered)) >= len({e.meta.event_id for e in replays})

            await eventually(replayed, timeout_s=30)
            assert await _counts(svc) == expected
            await bus.stop()
            await svc.stop()
