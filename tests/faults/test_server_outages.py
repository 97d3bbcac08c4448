"""Faults of the servers under the platform, one after the other on one stack (fault_stack): the
Kafka-protocol broker cut off, PostgreSQL restarted, the object store down for a minute.

Each test takes its server away right as a violation is raised, checks that the operator is told
while it lasts, brings it back and waits until the stack has recovered by itself: a violation raised
afterwards reaches a case, every violation the detector ever answered is published and counted once
(fault_truth), nothing is dead-lettered (an outage is not poison), and no process was restarted.
The stack is shared (module scope) to pay its start once; each test also stands alone (``-k``).

The servers are the test's own: a PostgreSQL cluster it may restart, SeaweedFS it may stop and start
on the same ports and data, and Tansu (a real Kafka-protocol broker) behind a link it may cut — the
link, not the broker, goes away, because Tansu keeps its log in memory only while a real broker keeps
it on disk across a restart. Tansu has no idempotent producers: the services run with
``BK_KAFKA_IDEMPOTENCE=false``, and consumers dedupe retried sends by event id.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from fault_net import TcpCut
from fault_stack import Servers, ServiceProcess, Stack, wait_until

from bkcore.testing.postgres import PrivateCluster, private_cluster
from bkcore.testing.s3 import SeaweedHandle, restartable_seaweedfs_s3
from bkcore.testing.tansu import tansu_broker

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
BROKER_DOWN_S = 20.0
DATABASE_DOWN_S = 10.0
STORE_DOWN_S = 60.0


@dataclass(frozen=True)
class Outages:
    """The stack and the handles that take its servers away."""

    stack: Stack
    link: TcpCut
    database: PrivateCluster
    store: SeaweedHandle


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def outages(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Outages]:
    workdir = tmp_path_factory.mktemp("server-outages")
    with (
        private_cluster() as database,
        restartable_seaweedfs_s3() as store,
        TcpCut() as link,
        tansu_broker(advertised_port=link.port) as broker,
    ):
        link.target_port = broker.listen_port
        db_url = await database.create_database("bk_faults")
        servers = Servers(db_url, broker.bootstrap, store.server, kafka_idempotence=False)
        async with Stack(workdir, servers) as stack:
            yield Outages(stack, link, database, store)


async def _down_then_back(
    stack: Stack,
    take: Callable[[], None],
    give: Callable[[], None],
    down_s: float,
    told: Callable[[], object],
    what: str,
) -> datetime:
    """Take a server away as a violation is raised; within ``down_s`` the operator must be told
    (``told``); give it back after ``down_s``; returns when it was back."""
    await stack.violation_raised()
    await asyncio.to_thread(take)
    loop = asyncio.get_running_loop()
    down_at = loop.time()
    try:
        await wait_until(told, down_s, what, stack.logs)
        await asyncio.sleep(max(0.0, down_s - (loop.time() - down_at)))
    finally:
        await asyncio.to_thread(give)
    return datetime.now(UTC)


async def _not_ready(services: tuple[ServiceProcess, ...], check: str) -> bool:
    for service in services:
        code, body = await service.readiness()
        if code != 503 or body["checks"].get(check) is not False:
            return False
    return True


async def _recovered(stack: Stack, since: datetime, before: dict[str, int]) -> None:
    for process in stack.processes:
        await process.wait_ready(90)
    await stack.wait_recovered(since=since)
    assert await stack.settle() == []
    assert await stack.dead_letters() == {}
    stack.assert_survivors(before, *stack.processes)


async def test_broker_down_and_back(outages: Outages) -> None:
    """Every connection to the broker reset and new ones refused for ``BROKER_DOWN_S``: producers retry,
    consumers resume from their committed offsets; /readyz says the bus is down while it is."""
    stack, before = outages.stack, outages.stack.starts()

    async def told() -> bool:
        return await _not_ready((stack.cases, stack.gateway), "bus")

    back = await _down_then_back(
        stack,
        outages.link.cut,
        outages.link.mend,
        BROKER_DOWN_S,
        told,
        "/readyz of the case-manager or gateway still says the bus is up",
    )
    await _recovered(stack, back, before)


async def test_postgres_restarted_mid_stream(outages: Outages) -> None:
    """``pg_ctl stop -m fast`` (every client disconnected), started again after ``DATABASE_DOWN_S``: a
    consumer meeting the outage pauses and retries without committing; /readyz says so."""
    stack, before = outages.stack, outages.stack.starts()

    async def told() -> bool:
        return await _not_ready((stack.cases, stack.gateway), "database")

    back = await _down_then_back(
        stack,
        lambda: outages.database.stop("fast"),
        outages.database.start,
        DATABASE_DOWN_S,
        told,
        "/readyz of the case-manager or gateway still says the database is up",
    )
    await _recovered(stack, back, before)


async def test_object_store_down_for_a_minute(outages: Outages) -> None:
    """S3 down for ``STORE_DOWN_S``: a violation raised meanwhile cannot be made durable, so the
    detector keeps it and retries (its metrics show it), and publishes it once the store is back."""
    stack, before = outages.stack, outages.stack.starts()
    detector = stack.detector
    retries = await detector.metric("bk_detector_evidence_retries_total")

    async def told() -> bool:
        waiting = await detector.metric("bk_detector_evidence_pending")
        return waiting > 0 and await detector.metric("bk_detector_evidence_retries_total") > retries

    back = await _down_then_back(
        stack,
        outages.store.stop,
        outages.store.start,
        STORE_DOWN_S,
        told,
        "no evidence waited for the store during its outage",
    )
    await _recovered(stack, back, before)
    assert await detector.metric("bk_detector_evidence_dropped_total") == 0
