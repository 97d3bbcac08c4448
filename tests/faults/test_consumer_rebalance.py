"""Fault: one of two case-manager replicas is killed (``kill -9``) mid-stream; the consumer group
rebalances its partitions onto the survivor, which is not restarted.

On Tansu, a real Kafka-protocol broker over TCP with consumer groups and rebalances. Both replicas
consume ``detections.v1`` before the kill; afterwards the survivor handles the rest, including what
the dead one had handled but not committed (the inbox skips it) and a producer's retries of events
already sent. Every detection is one occurrence of one case, nothing is dead-lettered.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fault_stack import (
    Credentials,
    Servers,
    ServiceProcess,
    dead_letters,
    detection_cases,
    seed_directory,
    service_env,
    wait_until,
)
from fault_truth import Started, miscounted

from bkcore.bus.base import new_meta
from bkcore.bus.kafka import KafkaBus
from bkcore.testing.s3 import S3Server
from bkcore.testing.tansu import TansuBroker, tansu_broker
from bkproto.events.v1.detections_pb2 import ViolationDetected, ViolationPhase
from brightkitchen import demo_data

pytestmark = [pytest.mark.faults, pytest.mark.integration]
TYPES = ("rodent", "smoking", "no_mask")
EVENTS = 600


@pytest.fixture
def tansu() -> Iterator[TansuBroker]:
    with tansu_broker() as broker:
        yield broker


def _detections(n: int) -> list[ViolationDetected]:
    sites = [s for s in demo_data.SITES if s.cameras]
    start = datetime.now(UTC) - timedelta(hours=1)
    out = []
    for i in range(n):
        site = sites[i % len(sites)]
        cam = site.cameras[i % len(site.cameras)]
        when = start + timedelta(seconds=i)
        e = ViolationDetected(
            meta=new_meta(
                tenant_id=demo_data.TENANT_ID, key=cam.id, producer="fault-suite", occurred_at=when
            ),
            violation_id=str(uuid.uuid4()),
            phase=ViolationPhase.VIOLATION_PHASE_STARTED,
            violation_type=TYPES[(i // len(sites)) % len(TYPES)],
            site_id=site.id,
            camera_id=cam.id,
            zone=cam.zone,
            score=0.9,
        )
        e.started_at.FromDatetime(when)
        out.append(e)
    return out


async def _handled(member: ServiceProcess) -> float:
    return await member.metric("bk_events_handled_total", topic="detections.v1")


async def test_replica_killed_and_its_partitions_rebalanced(
    tmp_path: Path, pg_url: str, s3_server: S3Server, tansu: TansuBroker
) -> None:
    servers = Servers(pg_url, tansu.bootstrap, s3_server, kafka_idempotence=False)
    credentials = Credentials()
    await seed_directory(servers, tmp_path / "data", credentials)
    members = [
        ServiceProcess(
            f"case-manager-{i}",
            "bk_cases",
            service_env(servers, tmp_path / f"data{i}", credentials, signs=True),
            tmp_path / f"case-manager-{i}.log",
        )
        for i in range(2)
    ]
    doomed, survivor = members
    events = _detections(EVENTS)
    producer = KafkaBus(tansu.bootstrap, "fault-suite-producer", idempotent=False)
    try:
        for member in members:
            member.start()
        for member in members:
            await member.wait_ready()
        await producer.start()

        async def both_consume() -> bool:  # both joined the group and own partitions
            await producer.publish_many([("detections.v1", e) for e in events[:10]])
            return all([await _handled(m) > 0 for m in members])

        await wait_until(
            both_consume,
            60,
            "the two replicas never both consumed",
            lambda: doomed.log_tail() + survivor.log_tail(),
        )
        for e in events[:300]:  # a burst, and kill -9 one replica while it works through its share
            await producer.publish("detections.v1", e)
        doomed.kill()
        for e in events[300:]:  # the stream goes on while the group rebalances
            await producer.publish("detections.v1", e)
        await producer.publish_many([("detections.v1", e) for e in events[:50]])  # a producer's retries

        started = [
            Started(
                e.violation_id,
                e.meta.event_id,
                e.site_id,
                e.camera_id,
                e.violation_type,
                e.started_at.ToDatetime(tzinfo=UTC),
            )
            for e in events
        ]

        async def all_counted() -> bool:
            return not miscounted(started, await detection_cases(survivor.base_url))

        await wait_until(
            all_counted, 90, "the survivor did not take over the dead replica's partitions", survivor.log_tail
        )
        await asyncio.sleep(2.0)  # nothing more trickles in afterwards either
        assert miscounted(started, await detection_cases(survivor.base_url)) == []
        assert await dead_letters(tansu.bootstrap) == {}
        assert survivor.alive() and survivor.starts == 1
    finally:
        await producer.stop()
        for member in members:
            await asyncio.to_thread(member.stop)
