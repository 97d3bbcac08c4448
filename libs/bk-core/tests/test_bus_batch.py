"""``subscribe_batch`` and ``publish_many`` keep the bus contract on both adapters.

Each test runs on the in-process bus and on the Kafka bus (librdkafka's mock cluster via kcat).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message

from bkcore.bus.base import H_ATTEMPTS, H_EVENT_ID, TOPICS, Delivery, new_meta
from bkcore.testing.buses import bus_factory

pytestmark = [pytest.mark.timeout(120)]
WAIT_S = 25.0  # the mock cluster takes ~3 s to form a group
TOPIC = "detections.v1"

Factory = Callable[[], Any]


class Crash(BaseException):
    """Stands for the process dying inside a handler: not an Exception, so nothing retries it."""


def event(key: str, *, event_id: str | None = None) -> Message:
    return TOPICS[TOPIC](meta=new_meta(tenant_id="t-1", key=key, producer="test", event_id=event_id))


def eid(e: Message) -> str:
    return e.meta.event_id  # type: ignore[attr-defined,no-any-return]


class BatchSink:
    """A batch handler that records what it handled (only batches that succeed count)."""

    def __init__(self, fail_on: set[str] | None = None, crash_once: bool = False) -> None:
        self.batches: list[list[Delivery]] = []
        self.calls = 0
        self.crashed: list[str] = []
        self.called = asyncio.Event()
        self._fail_on = fail_on or set()
        self._crash_once = crash_once
        self._changed = asyncio.Event()

    async def __call__(self, batch: list[Delivery]) -> None:
        self.calls += 1
        self.called.set()
        if self._crash_once:
            self._crash_once = False
            self.crashed = [d.event_id for d in batch]
            raise Crash
        if any(d.event_id in self._fail_on for d in batch):
            raise RuntimeError("poison")
        self.batches.append(batch)
        self._changed.set()

    @property
    def handled(self) -> list[Delivery]:
        return [d for b in self.batches for d in b]

    async def wait_for(self, n: int) -> list[Delivery]:
        async with asyncio.timeout(WAIT_S):
            while len(self.handled) < n:
                self._changed.clear()
                await self._changed.wait()
        return self.handled


@pytest.fixture(params=["inproc", "kafka"])
async def new_bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Factory]:
    async with bus_factory(request.param, tmp_path, retry_backoff_s=0.01) as make:
        yield make


async def test_publish_many_then_batches_keep_order_per_key_and_dedupe(new_bus: Factory) -> None:
    bus, sink = new_bus(), BatchSink()
    bus.subscribe_batch(TOPIC, "g", sink, max_batch=50)
    await bus.start()
    sent = [event(f"cam-{i % 4}") for i in range(300)]
    retried = event("cam-2", event_id=eid(sent[10]))  # a producer retry of an event already sent
    await bus.publish_many([(TOPIC, e) for e in [*sent[:150], retried, *sent[150:]]])
    handled = await sink.wait_for(len(sent))
    await asyncio.sleep(0.3)  # nothing more comes: the duplicate was dropped
    assert sorted(d.event_id for d in sink.handled) == sorted(eid(e) for e in sent)
    for key in (f"cam-{k}" for k in range(4)):
        assert [d.event_id for d in handled if d.key == key] == [eid(e) for e in sent if e.meta.key == key]  # type: ignore[attr-defined]
    assert max(len(b) for b in sink.batches) > 1  # really batched
    assert max(len(b) for b in sink.batches) <= 50  # max_batch holds
    assert sink.calls < len(sent)


async def test_poison_event_is_dead_lettered_alone(new_bus: Factory) -> None:
    sent = [event("cam-1") for _ in range(40)]
    bad = sent[17]
    bus, sink = new_bus(), BatchSink(fail_on={eid(bad)})
    bus.subscribe_batch(TOPIC, "g", sink, max_attempts=2)
    await bus.start()
    await bus.publish_many([(TOPIC, e) for e in sent[:30]])
    await bus.publish_raw(TOPIC, b"cam-1", b"\xff\xfenot protobuf")  # malformed, mid-stream
    await bus.publish_many([(TOPIC, e) for e in sent[30:]])
    handled = await sink.wait_for(len(sent) - 1)
    assert [d.event_id for d in handled] == [eid(e) for e in sent if e is not bad]  # order kept
    dead = await bus.dead_letters(TOPIC)
    assert len(dead) == 2
    poison = [d for d in dead if d.headers.get(H_EVENT_ID) == eid(bad)]
    assert len(poison) == 1 and poison[0].headers[H_ATTEMPTS] == "2"
    assert any(d.value == b"\xff\xfenot protobuf" for d in dead)
    # splitting, not one by one: far fewer calls than events
    assert sink.calls < len(sent)


async def test_batch_is_committed_only_after_the_handler_succeeded(new_bus: Factory) -> None:
    sent = [event(f"cam-{i % 3}") for i in range(30)]
    bus1, crashing = new_bus(), BatchSink(crash_once=True)
    bus1.subscribe_batch(TOPIC, "g", crashing)
    await bus1.start()
    await bus1.publish_many([(TOPIC, e) for e in sent])
    await asyncio.wait_for(crashing.called.wait(), WAIT_S)
    await bus1.stop()  # the process "died" in the handler: nothing was committed

    bus2, second = new_bus(), BatchSink()
    bus2.subscribe_batch(TOPIC, "g", second)
    await bus2.start()
    await second.wait_for(len(sent) - len(crashing.handled))
    await asyncio.sleep(0.3)
    assert crashing.crashed and set(crashing.crashed) <= {d.event_id for d in second.handled}
    handled = [d.event_id for d in crashing.handled + second.handled]
    assert sorted(handled) == sorted(eid(e) for e in sent)  # redelivered once, nothing skipped


async def test_batch_and_single_subscriptions_coexist(new_bus: Factory) -> None:
    bus, batches, singles = new_bus(), BatchSink(), BatchSink()

    async def one(d: Delivery) -> None:
        await singles([d])

    bus.subscribe_batch(TOPIC, "batch", batches)
    bus.subscribe(TOPIC, "single", one)
    await bus.start()
    sent = [event("cam-1") for _ in range(20)]
    await bus.publish_many([(TOPIC, e) for e in sent])
    assert [d.event_id for d in await batches.wait_for(20)] == [eid(e) for e in sent]
    assert [d.event_id for d in await singles.wait_for(20)] == [eid(e) for e in sent]
