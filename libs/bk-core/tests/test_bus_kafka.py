"""The Kafka bus against a real Kafka-protocol broker (librdkafka's mock cluster, run by kcat).

Each test gets a fresh cluster (it starts in milliseconds), so topics hold no other test's events.
The mock cluster takes about 3 s to form a consumer group, which bounds how fast these tests can be.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

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
from bkcore.bus.kafka import KafkaBus
from bkcore.testing.kafka import kafka_mock_fixture

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
WAIT_S = 20.0  # forming a group on the mock cluster alone takes ~3 s

kafka_bootstrap = kafka_mock_fixture(scope="function")


class Crash(BaseException):
    """Stands for the process dying inside a handler: not an Exception, so nothing retries it."""


def event(topic: str, key: str, *, event_id: str | None = None, tenant: str = "t-1") -> Message:
    return TOPICS[topic](meta=new_meta(tenant_id=tenant, key=key, producer="test", event_id=event_id))


def eid(e: Message) -> str:
    return e.meta.event_id  # type: ignore[attr-defined,no-any-return]


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


BusFactory = Callable[[], KafkaBus]


@pytest.fixture
async def new_bus(kafka_bootstrap: str) -> AsyncIterator[BusFactory]:
    made: list[KafkaBus] = []

    def make() -> KafkaBus:
        made.append(
            KafkaBus(
                kafka_bootstrap,
                "test",
                retry_backoff_s=0.01,
                request_timeout_ms=10_000,
                session_timeout_ms=3_000,
            )
        )
        return made[-1]

    yield make
    for bus in made:
        await bus.stop()


async def test_roundtrip_every_topic(new_bus: BusFactory) -> None:
    bus, sink = new_bus(), Sink()
    for topic in TOPICS:
        bus.subscribe(topic, "g", sink)
    await bus.start()
    assert await bus.ready()
    sent = {topic: event(topic, f"key-{topic}", tenant="t-42") for topic in TOPICS}
    for topic, e in sent.items():
        await bus.publish(topic, e)
    got = {d.topic: d for d in await sink.take(len(sent))}
    assert set(got) == set(TOPICS)
    for topic, d in got.items():
        assert d.event == sent[topic] and isinstance(d.event, TOPICS[topic])
        assert (d.key, d.tenant_id, d.event_id) == (f"key-{topic}", "t-42", eid(sent[topic]))


async def test_order_holds_per_key(new_bus: BusFactory) -> None:
    bus, sink = new_bus(), Sink()
    bus.subscribe("detections.v1", "g", sink)
    await bus.start()
    keys, per_key = [f"cam-{i}" for i in range(5)], 20
    sent: dict[str, list[str]] = {k: [] for k in keys}

    async def producer(key: str) -> None:
        for _ in range(per_key):
            e = event("detections.v1", key)
            sent[key].append(eid(e))
            await bus.publish("detections.v1", e)

    await asyncio.gather(*(producer(k) for k in keys))
    await sink.take(len(keys) * per_key)
    for key in keys:
        assert [d.event_id for d in sink.seen if d.key == key] == sent[key]
    assert len({d.partition for d in sink.seen}) > 1


async def test_duplicate_event_id_is_handled_once(new_bus: BusFactory) -> None:
    bus, sink = new_bus(), Sink()
    bus.subscribe("ledger.alerts.v1", "g", sink)
    await bus.start()
    dup = event("ledger.alerts.v1", "site-1", event_id="same-id")
    await bus.publish("ledger.alerts.v1", dup)
    await bus.publish("ledger.alerts.v1", dup)
    await bus.publish("ledger.alerts.v1", event("ledger.alerts.v1", "site-1", event_id="next"))
    assert [d.event_id for d in await sink.take(2)] == ["same-id", "next"]
    assert len(sink.seen) == 2


async def test_malformed_bytes_go_to_dlq_and_partition_moves_on(new_bus: BusFactory) -> None:
    bus, sink = new_bus(), Sink()
    bus.subscribe("detections.v1", "g", sink)
    await bus.start()
    await bus.publish_raw("detections.v1", b"cam-1", b"\xff\xfenot protobuf")
    await bus.publish("detections.v1", good := event("detections.v1", "cam-1"))
    assert (await sink.next()).event_id == eid(good)
    [dead] = await bus.dead_letters("detections.v1")
    assert (dead.topic, dead.key, dead.value) == ("detections.v1.dlq", b"cam-1", b"\xff\xfenot protobuf")
    assert dead.headers[H_SOURCE_TOPIC] == "detections.v1" and dead.headers[H_GROUP] == "g"
    assert "MalformedEvent" in dead.headers[H_ERROR]
    assert len(sink.seen) == 1


async def test_failing_handler_retries_then_dead_letters(new_bus: BusFactory) -> None:
    bus, sink, attempts = new_bus(), Sink(), []
    bad = event("notifications.v1", "case-9")

    async def handler(d: Delivery) -> None:
        if d.event_id == eid(bad):
            attempts.append(d.attempt)
            raise RuntimeError("smtp down")
        await sink(d)

    bus.subscribe("notifications.v1", "g", handler, max_attempts=3)
    await bus.start()
    await bus.publish("notifications.v1", bad)
    await bus.publish("notifications.v1", after := event("notifications.v1", "case-9"))
    assert (await sink.next()).event_id == eid(after)
    assert attempts == [1, 2, 3]
    [dead] = await bus.dead_letters("notifications.v1")
    assert dead.headers[H_EVENT_ID] == eid(bad)
    assert (dead.headers[H_ERROR], dead.headers[H_ATTEMPTS]) == ("RuntimeError: smtp down", "3")


async def test_at_least_once_across_consumer_crash(new_bus: BusFactory) -> None:
    first, crash_on = Sink(), event("cases.v1", "case-1")

    async def crashing(d: Delivery) -> None:
        await first(d)
        if d.event_id == eid(crash_on):
            raise Crash  # dies after the work, before the commit

    bus1 = new_bus()
    bus1.subscribe("cases.v1", "g", crashing)
    await bus1.start()
    await bus1.publish("cases.v1", done := event("cases.v1", "case-1"))
    await bus1.publish("cases.v1", crash_on)
    await first.take(2)
    for _ in range(100):  # the consumer task dies just after the handler raised
        if not await bus1.ready():
            break
        await asyncio.sleep(0.02)
    assert not await bus1.ready()
    await bus1.stop()

    bus2, second = new_bus(), Sink()
    bus2.subscribe("cases.v1", "g", second)
    await bus2.start()
    assert (await second.next()).event_id == eid(crash_on)
    await bus2.publish("cases.v1", sentinel := event("cases.v1", "case-1"))
    assert (await second.next()).event_id == eid(sentinel)
    await bus2.stop()

    bus3, third = new_bus(), Sink()
    bus3.subscribe("cases.v1", "g", third)
    await bus3.start()
    await bus3.publish("cases.v1", last := event("cases.v1", "case-1"))
    assert [d.event_id for d in await third.take(1)] == [eid(last)]  # nothing committed comes back
    assert eid(done) not in [d.event_id for d in second.seen]


async def test_publish_needs_a_started_bus(kafka_bootstrap: str) -> None:
    bus = KafkaBus(kafka_bootstrap, "test")
    with pytest.raises(PublishError):
        await bus.publish("cases.v1", event("cases.v1", "c"))
    with pytest.raises(ValueError, match="unknown topic"):
        bus.subscribe("cases.v2", "g", Sink())
