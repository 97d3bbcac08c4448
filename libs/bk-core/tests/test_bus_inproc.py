"""The in-process bus keeps the contract of bkcore.bus.base (the same semantics as Kafka)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from google.protobuf.message import Message

from bkcore.bus.base import (
    H_ATTEMPTS,
    H_ERROR,
    H_EVENT_ID,
    H_GROUP,
    H_SOURCE_TOPIC,
    TOPICS,
    Delivery,
    PublishError,
    new_meta,
)
from bkcore.bus.factory import make_bus
from bkcore.bus.inproc import InProcessBus
from bkcore.settings import BusKind, CoreSettings

pytestmark = pytest.mark.timeout(60)
WAIT_S = 5.0


class Crash(BaseException):
    """Stands for the process dying inside a handler: not an Exception, so nothing retries it."""


def event(topic: str, key: str, *, event_id: str | None = None, tenant: str = "t-1") -> Message:
    return TOPICS[topic](meta=new_meta(tenant_id=tenant, key=key, producer="test", event_id=event_id))


class Sink:
    """A handler that records deliveries and lets a test await them with a deadline."""

    def __init__(self) -> None:
        self.seen: list[Delivery] = []
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()

    async def __call__(self, d: Delivery) -> None:
        self.seen.append(d)
        self._queue.put_nowait(d)

    async def next(self) -> Delivery:
        return await asyncio.wait_for(self._queue.get(), WAIT_S)

    async def take(self, n: int) -> list[Delivery]:
        return [await self.next() for _ in range(n)]


async def eventually_not_ready(bus: InProcessBus) -> bool:
    for _ in range(100):
        if not await bus.ready():
            return True
        await asyncio.sleep(0.02)
    return False


@pytest.fixture
async def bus() -> AsyncIterator[InProcessBus]:
    b = InProcessBus(retry_backoff_s=0.01)
    yield b
    await b.stop()


@pytest.mark.parametrize("topic", sorted(TOPICS))
async def test_roundtrip_every_topic(bus: InProcessBus, topic: str) -> None:
    sink = Sink()
    bus.subscribe(topic, "g", sink)
    await bus.start()
    sent = event(topic, "site-1", tenant="t-42")
    await bus.publish(topic, sent)
    got = await sink.next()
    assert isinstance(got.event, TOPICS[topic])
    assert got.event == sent
    assert (got.topic, got.key, got.tenant_id, got.attempt) == (topic, "site-1", "t-42", 1)
    assert got.event_id == sent.meta.event_id  # type: ignore[attr-defined]
    assert await bus.ready()


async def test_every_group_gets_each_event_once(bus: InProcessBus) -> None:
    a, b = Sink(), Sink()
    bus.subscribe("cases.v1", "a", a)
    bus.subscribe("cases.v1", "b", b)
    await bus.start()
    await bus.publish("cases.v1", event("cases.v1", "case-1"))
    assert (await a.next()).event_id == (await b.next()).event_id
    await bus.publish("cases.v1", sentinel := event("cases.v1", "case-2"))
    assert (await a.next()).event_id == sentinel.meta.event_id  # type: ignore[attr-defined]
    assert len(a.seen) == 2


async def test_order_holds_per_key(bus: InProcessBus) -> None:
    sink = Sink()
    bus.subscribe("detections.v1", "g", sink)
    await bus.start()
    keys, per_key = [f"cam-{i}" for i in range(6)], 40
    sent: dict[str, list[str]] = {k: [] for k in keys}

    async def producer(key: str) -> None:
        for _ in range(per_key):
            e = event("detections.v1", key)
            sent[key].append(e.meta.event_id)  # type: ignore[attr-defined]
            await bus.publish("detections.v1", e)

    await asyncio.gather(*(producer(k) for k in keys))  # keys interleave across partitions
    await sink.take(len(keys) * per_key)
    for key in keys:
        assert [d.event_id for d in sink.seen if d.key == key] == sent[key]
    assert len({d.partition for d in sink.seen}) > 1  # keys really were spread


async def test_duplicate_event_id_is_handled_once(bus: InProcessBus) -> None:
    sink = Sink()
    bus.subscribe("ledger.alerts.v1", "g", sink)
    await bus.start()
    dup = event("ledger.alerts.v1", "site-1", event_id="same-id")
    await bus.publish("ledger.alerts.v1", dup)
    await bus.publish("ledger.alerts.v1", dup)  # a producer retry
    await bus.publish("ledger.alerts.v1", event("ledger.alerts.v1", "site-1", event_id="next"))
    assert [d.event_id for d in await sink.take(2)] == ["same-id", "next"]
    assert len(sink.seen) == 2


async def test_malformed_bytes_go_to_dlq_and_partition_moves_on(bus: InProcessBus) -> None:
    sink = Sink()
    bus.subscribe("detections.v1", "g", sink)
    await bus.start()
    await bus.publish_raw("detections.v1", b"cam-1", b"\xff\xfenot protobuf", {"x": "y"})
    await bus.publish("detections.v1", good := event("detections.v1", "cam-1"))
    assert (await sink.next()).event_id == good.meta.event_id  # type: ignore[attr-defined]
    [dead] = await bus.dead_letters("detections.v1")
    assert dead.value == b"\xff\xfenot protobuf" and dead.key == b"cam-1"
    assert dead.topic == "detections.v1.dlq"
    assert dead.headers[H_SOURCE_TOPIC] == "detections.v1"
    assert dead.headers[H_GROUP] == "g" and dead.headers["x"] == "y"
    assert "MalformedEvent" in dead.headers[H_ERROR]
    assert sink.seen == [sink.seen[0]]


async def test_failing_handler_retries_then_dead_letters(bus: InProcessBus) -> None:
    attempts: list[int] = []
    sink = Sink()
    bad = event("notifications.v1", "case-9")

    async def handler(d: Delivery) -> None:
        if d.event_id == bad.meta.event_id:  # type: ignore[attr-defined]
            attempts.append(d.attempt)
            raise RuntimeError("smtp down")
        await sink(d)

    bus.subscribe("notifications.v1", "g", handler, max_attempts=3)
    await bus.start()
    await bus.publish("notifications.v1", bad)
    await bus.publish("notifications.v1", after := event("notifications.v1", "case-9"))
    assert (await sink.next()).event_id == after.meta.event_id  # type: ignore[attr-defined]
    assert attempts == [1, 2, 3]
    [dead] = await bus.dead_letters("notifications.v1.dlq")
    assert dead.headers[H_EVENT_ID] == bad.meta.event_id  # type: ignore[attr-defined]
    assert dead.headers[H_ERROR] == "RuntimeError: smtp down"
    assert dead.headers[H_ATTEMPTS] == "3"


async def test_transient_failure_is_retried_not_dead_lettered(bus: InProcessBus) -> None:
    sink = Sink()
    failed = False

    async def flaky(d: Delivery) -> None:
        nonlocal failed
        if not failed:
            failed = True
            raise ConnectionError("db blip")
        await sink(d)

    bus.subscribe("cases.v1", "g", flaky)
    await bus.start()
    await bus.publish("cases.v1", event("cases.v1", "case-1"))
    # A connection error is an outage, not the message's fault: retried, and not counted as an attempt.
    assert (await sink.next()).attempt == 1
    assert failed
    assert await bus.dead_letters("cases.v1") == []


async def test_at_least_once_across_consumer_crash(tmp_path: Path) -> None:
    path = tmp_path / "bus.sqlite"
    first, crash_on = Sink(), event("cases.v1", "case-1")

    async def crashing(d: Delivery) -> None:
        await first(d)
        if d.event_id == crash_on.meta.event_id:  # type: ignore[attr-defined]
            raise Crash  # dies after the work, before the commit

    bus1 = InProcessBus(path)
    bus1.subscribe("cases.v1", "g", crashing)
    await bus1.start()
    await bus1.publish("cases.v1", done := event("cases.v1", "case-1"))
    await bus1.publish("cases.v1", crash_on)
    await first.take(2)
    assert await eventually_not_ready(bus1)  # the dead consumer shows on /readyz
    await bus1.stop()

    bus2, second = InProcessBus(path), Sink()
    bus2.subscribe("cases.v1", "g", second)
    await bus2.start()
    assert (await second.next()).event_id == crash_on.meta.event_id  # type: ignore[attr-defined]
    await bus2.stop()

    bus3, third = InProcessBus(path), Sink()
    bus3.subscribe("cases.v1", "g", third)
    await bus3.start()
    await bus3.publish("cases.v1", sentinel := event("cases.v1", "case-1"))
    assert (await third.next()).event_id == sentinel.meta.event_id  # type: ignore[attr-defined]
    await bus3.stop()
    handled_by_later = [d.event_id for d in second.seen + third.seen]
    assert done.meta.event_id not in handled_by_later  # type: ignore[attr-defined]
    assert handled_by_later.count(crash_on.meta.event_id) == 1  # type: ignore[attr-defined]


async def test_published_events_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "bus.sqlite"
    bus1 = InProcessBus(path)
    await bus1.start()  # no consumer yet: events wait in the file
    sent = [event("complaints.v1", f"site-{i % 3}") for i in range(20)]
    for e in sent:
        await bus1.publish("complaints.v1", e)
    await bus1.stop()

    bus2, sink = InProcessBus(path), Sink()
    bus2.subscribe("complaints.v1", "g", sink)
    await bus2.start()
    got = await sink.take(len(sent))
    await bus2.stop()
    assert sorted(d.event_id for d in got) == sorted(e.meta.event_id for e in sent)  # type: ignore[attr-defined]


async def test_second_process_cannot_open_the_same_file(tmp_path: Path) -> None:
    bus1 = InProcessBus(tmp_path / "bus.sqlite")
    await bus1.start()
    try:
        other = InProcessBus(tmp_path / "bus.sqlite")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await other.start()
        assert not await other.ready()
    finally:
        await bus1.stop()


async def test_burst_is_batched(bus: InProcessBus) -> None:
    sink, n = Sink(), 3000
    bus.subscribe("detections.v1", "g", sink)
    await bus.start()
    started = time.monotonic()
    await asyncio.gather(
        *(bus.publish("detections.v1", event("detections.v1", f"cam-{i % 50}")) for i in range(n))
    )
    await sink.take(n)
    assert time.monotonic() - started < 20  # thousands per second, with generous slack for CI


async def test_contract_errors(bus: InProcessBus) -> None:
    with pytest.raises(PublishError):
        await bus.publish("cases.v1", event("cases.v1", "c"))  # not started
    with pytest.raises(ValueError, match="unknown topic"):
        bus.subscribe("cases.v2", "g", Sink())
    await bus.start()
    with pytest.raises(TypeError):
        await bus.publish("cases.v1", event("detections.v1", "c"))
    with pytest.raises(ValueError, match="unknown topic"):
        await bus.publish_raw("nope.v1", b"k", b"v")


def test_factory_shares_one_inproc_bus_per_file(tmp_path: Path) -> None:
    settings = CoreSettings(bus=BusKind.INPROC, data_dir=tmp_path)
    bus = make_bus(settings)
    assert isinstance(bus, InProcessBus)
    assert bus.path == (tmp_path / "bus.sqlite").resolve()
    assert make_bus(settings) is bus


def test_factory_builds_kafka_bus() -> None:
    from bkcore.bus.kafka import KafkaBus

    settings = CoreSettings(bus=BusKind.KAFKA, kafka_bootstrap="k:9092", service_name="cases")
    bus = make_bus(settings)
    assert isinstance(bus, KafkaBus)
    assert (bus.bootstrap, bus.client_id) == ("k:9092", "cases")


async def test_handled_events_are_counted_by_outcome(bus: InProcessBus) -> None:
    """bk_events_handled_total feeds the BKEventHandlingFailing alert: ok, retried, dead_lettered."""
    from bkcore.metrics import EVENTS_HANDLED

    def count(outcome: str) -> float:
        return EVENTS_HANDLED.labels("metrics-g", "cases.v1", outcome)._value.get()

    before = {o: count(o) for o in ("ok", "retried", "dead_lettered", "duplicate")}
    sink = Sink()
    bad = event("cases.v1", "case-1")

    async def handler(d: Delivery) -> None:
        if d.event_id == bad.meta.event_id:  # type: ignore[attr-defined]
            raise KeyError("a bug for this one event")
        await sink(d)

    bus.subscribe("cases.v1", "metrics-g", handler, max_attempts=2)
    await bus.start()
    good = event("cases.v1", "case-1")
    await bus.publish("cases.v1", bad)
    await bus.publish("cases.v1", good)
    await bus.publish("cases.v1", good)  # a producer retry: same event id
    await bus.publish("cases.v1", last := event("cases.v1", "case-1"))
    assert [d.event_id for d in await sink.take(2)] == [good.meta.event_id, last.meta.event_id]  # type: ignore[attr-defined]
    assert count("ok") - before["ok"] == 2
    assert count("retried") - before["retried"] == 1
    assert count("dead_lettered") - before["dead_lettered"] == 1
    assert count("duplicate") - before["duplicate"] == 1
