"""An outage pauses the partition and retries the same message; it never dead-letters, never commits,
never counts as an attempt. Both adapters (in-process; Kafka on librdkafka's mock cluster).

The "database" here is a real dependency that goes down: while it is down, the handler's call
connects to a loopback port nobody listens on and gets the operating system's real refusal.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner
from google.protobuf.message import Message
from prometheus_client import REGISTRY

from bkcore.bus.base import H_ATTEMPTS, H_EVENT_ID, TOPICS, Delivery, new_meta
from bkcore.bus.inproc import InProcessBus, partition_for
from bkcore.testing.buses import bus_factory

pytestmark = [pytest.mark.timeout(120)]
WAIT_S = 25.0  # the mock cluster takes ~3 s to form a group
TOPIC = "cases.v1"
KAFKA_PARTITIONS = 4

Factory = Callable[[], Any]


def event(key: str) -> Message:
    return TOPICS[TOPIC](meta=new_meta(tenant_id="t-1", key=key, producer="test"))


def eid(e: Message) -> str:
    return e.meta.event_id  # type: ignore[attr-defined,no-any-return]


class Database:
    """A dependency that can be down: then every call is refused by the OS, like a stopped server."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self._dead_port = s.getsockname()[1]
        self.down_for: set[str] = set()  # keys whose calls fail (all keys: "*")
        self.refused = 0
        self.refusals = asyncio.Event()

    async def call(self, key: str) -> None:
        if "*" in self.down_for or key in self.down_for:
            self.refused += 1
            self.refusals.set()
            await asyncio.open_connection("127.0.0.1", self._dead_port)  # raises ConnectionRefusedError
            raise AssertionError("nobody listens there")

    async def refused_at_least(self, n: int) -> None:
        async with asyncio.timeout(WAIT_S):
            while self.refused < n:
                self.refusals.clear()
                await self.refusals.wait()


class Sink:
    def __init__(self) -> None:
        self.seen: list[Delivery] = []
        self._changed = asyncio.Event()

    def add(self, ds: list[Delivery]) -> None:
        self.seen.extend(ds)
        self._changed.set()

    async def wait_for(self, n: int) -> list[Delivery]:
        async with asyncio.timeout(WAIT_S):
            while len(self.seen) < n:
                self._changed.clear()
                await self._changed.wait()
        return self.seen


def partition_of(bus: Any, key: str) -> int:
    if isinstance(bus, InProcessBus):
        return partition_for(key.encode(), bus.partitions)
    parts = list(range(KAFKA_PARTITIONS))
    return int(DefaultPartitioner()(key.encode(), parts, parts))


def keys_on_two_partitions(bus: Any) -> tuple[str, str]:
    first = "cam-0"
    other = next(
        k for k in (f"cam-{i}" for i in range(1, 100)) if partition_of(bus, k) != partition_of(bus, first)
    )
    return first, other


def gauge(topic: str, group: str) -> float | None:
    return REGISTRY.get_sample_value("bk_bus_consumer_outage", {"topic": topic, "consumer_group": group})


def counter(name: str, topic: str, group: str) -> float:
    return REGISTRY.get_sample_value(name, {"topic": topic, "consumer_group": group}) or 0.0


def outage_logs(caplog: pytest.LogCaptureFixture, group: str) -> tuple[int, int]:
    msgs = [
        r.getMessage()
        for r in caplog.records
        if r.name == "bkcore.bus" and f"group {group} " in r.getMessage()
    ]
    return sum(m.startswith("outage: ") for m in msgs), sum(m.startswith("outage over: ") for m in msgs)


@pytest.fixture(params=["inproc", "kafka"])
async def new_bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Factory]:
    backoff = {"retry_backoff_s": 0.01, "outage_backoff_s": 0.05, "outage_backoff_max_s": 0.2}
    async with bus_factory(request.param, tmp_path, kafka_partitions=KAFKA_PARTITIONS, **backoff) as make:
        yield make


async def test_outage_pauses_then_resumes_without_dead_letter_commit_or_attempt(
    new_bus: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bkcore.bus")
    bus, db, sink, group = new_bus(), Database(), Sink(), f"g-{uuid.uuid4().hex[:6]}"

    async def handler(d: Delivery) -> None:
        await db.call(d.key)
        sink.add([d])

    bus.subscribe(TOPIC, group, handler, max_attempts=2)
    await bus.start()
    db.down_for.add("*")
    first, second = event("case-1"), event("case-1")  # same key: order must hold across the outage
    await bus.publish(TOPIC, first)
    await bus.publish(TOPIC, second)
    await db.refused_at_least(4)  # twice max_attempts: an attempt count would have dead-lettered it
    assert sink.seen == []
    assert gauge(TOPIC, group) == 1
    [paused] = bus.outages()
    assert (paused.topic, paused.group) == (TOPIC, group) and "ConnectionRefusedError" in paused.cause
    db.down_for.clear()
    handled = await sink.wait_for(2)
    assert [d.event_id for d in handled] == [eid(first), eid(second)]
    assert [d.attempt for d in handled] == [1, 1]
    assert gauge(TOPIC, group) == 0 and bus.outages() == []
    assert counter("bk_bus_outage_retries_total", TOPIC, group) >= 4
    assert await bus.dead_letters(TOPIC) == []
    assert outage_logs(caplog, group) == (1, 1)  # logged when it started and when it ended, not per retry
    assert await bus.ready()


async def test_batch_failing_on_an_outage_is_retried_whole(new_bus: Factory) -> None:
    bus, db, sink, group = new_bus(), Database(), Sink(), f"g-{uuid.uuid4().hex[:6]}"
    calls: list[int] = []

    async def handler(ds: list[Delivery]) -> None:
        calls.append(len(ds))
        await db.call(ds[0].key)
        sink.add(ds)

    bus.subscribe_batch(TOPIC, group, handler, max_batch=50, max_attempts=2)
    sent = [event("case-1") for _ in range(20)]
    db.down_for.add("*")
    await bus.start()
    await bus.publish_many([(TOPIC, e) for e in sent])
    await db.refused_at_least(5)
    db.down_for.clear()
    handled = await sink.wait_for(len(sent))
    assert [d.event_id for d in handled] == [eid(e) for e in sent]
    refused_calls = calls[: db.refused]
    assert min(refused_calls) > 1, f"an outage must not split the batch: {calls}"
    assert await bus.dead_letters(TOPIC) == []


async def test_poison_is_dead_lettered_at_once_while_another_partition_waits_out_an_outage(
    new_bus: Factory,
) -> None:
    bus, db, sink, group = new_bus(), Database(), Sink(), f"g-{uuid.uuid4().hex[:6]}"
    down_key, live_key = keys_on_two_partitions(bus)
    poison = event(live_key)

    async def handler(d: Delivery) -> None:
        if d.event_id == eid(poison):
            raise KeyError("no such case")  # a bug for this one message
        await db.call(d.key)
        sink.add([d])

    bus.subscribe(TOPIC, group, handler, max_attempts=3)
    await bus.start()
    db.down_for.add(down_key)
    waiting = event(down_key)
    await bus.publish(TOPIC, waiting)
    await db.refused_at_least(2)  # that partition is paused now
    dead_before = counter("bk_bus_dead_letters_total", TOPIC, group)
    after_poison = event(live_key)
    await bus.publish(TOPIC, poison)
    await bus.publish(TOPIC, after_poison)
    assert [d.event_id for d in await sink.wait_for(1)] == [eid(after_poison)]  # the poison did not block
    [dead] = await bus.dead_letters(TOPIC)
    assert dead.headers[H_EVENT_ID] == eid(poison) and dead.headers[H_ATTEMPTS] == "3"
    assert counter("bk_bus_dead_letters_total", TOPIC, group) == dead_before + 1
    assert sink.seen[0].event_id != eid(waiting) and gauge(TOPIC, group) == 1
    db.down_for.clear()
    assert [d.event_id for d in await sink.wait_for(2)][1] == eid(waiting)
    assert len(await bus.dead_letters(TOPIC)) == 1
