"""Dead letters go back to their topic once, keeping their event ids (``bkcore.bus.replay``), on both
adapters (in-process; Kafka on librdkafka's mock cluster)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message

from bkcore.bus.base import (
    H_ERROR,
    H_EVENT_ID,
    H_GROUP,
    H_SOURCE_TOPIC,
    TOPICS,
    Delivery,
    Record,
    encode_event,
    new_meta,
)
from bkcore.bus.replay import H_REPLAYED_FROM, describe, list_dead_letters, replay, replay_headers
from bkcore.testing.buses import bus_factory

pytestmark = [pytest.mark.timeout(120)]
WAIT_S = 25.0
TOPIC = "ledger.alerts.v1"
Factory = Callable[[], Any]


def event(key: str) -> Message:
    return TOPICS[TOPIC](meta=new_meta(tenant_id="t-1", key=key, producer="test"))


def eid(e: Message) -> str:
    return e.meta.event_id  # type: ignore[attr-defined,no-any-return]


def dead_record(e: Message | None, headers: dict[str, str], offset: int = 3) -> Record:
    value = e.SerializeToString() if e is not None else b"\xff\x00junk"
    return Record(f"{TOPIC}.dlq", 1, offset, b"site-1", value, headers)


# --- pure: what a dead letter is, and what a replay carries --------------------------------------------


def test_a_dead_letter_from_a_consumer_group_is_replayable() -> None:
    e = event("site-1")
    _, _, headers = encode_event(TOPIC, e)
    rec = dead_record(e, {**headers, H_ERROR: "KeyError: 'rule'", H_GROUP: "cases", H_SOURCE_TOPIC: TOPIC})
    letter = describe(rec, replayed_before=3)
    assert (letter.source_topic, letter.event_id, letter.group, letter.skip_reason) == (
        TOPIC,
        eid(e),
        "cases",
        "",
    )
    assert letter.error == "KeyError: 'rule'" and not letter.replayed and letter.where == f"{TOPIC}.dlq/1/3"
    assert describe(rec, replayed_before=4).replayed


def test_undecodable_and_handler_written_dead_letters_are_not_replayed() -> None:
    junk = describe(dead_record(None, {H_GROUP: "cases"}), replayed_before=0)
    assert junk.skip_reason.startswith("undecodable")
    _, _, headers = encode_event(TOPIC, e := event("site-1"))
    webhook = describe(dead_record(e, {**headers, "dlq_webhook_url": "http://x"}), replayed_before=0)
    assert "no consumer group gave up" in webhook.skip_reason


def test_a_replay_carries_the_original_headers_and_where_it_came_from() -> None:
    _, _, headers = encode_event(TOPIC, e := event("site-1"))
    rec = dead_record(
        e, {**headers, "x-trace": "abc", H_ERROR: "boom", H_GROUP: "cases", H_SOURCE_TOPIC: TOPIC}
    )
    assert replay_headers(rec) == {**headers, "x-trace": "abc", H_REPLAYED_FROM: f"{TOPIC}.dlq/1/3"}


# --- both adapters ----------------------------------------------------------------------------------


@pytest.fixture(params=["inproc", "kafka"])
async def new_bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Factory]:
    async with bus_factory(request.param, tmp_path, retry_backoff_s=0.01) as make:
        yield make


class Consumer:
    """A group's handler with a bug for some events (until fixed), and the events it handled."""

    def __init__(self, bug_for: set[str] | None = None) -> None:
        self.bug_for = bug_for or set()
        self.handled: list[str] = []
        self.calls = 0
        self._changed = asyncio.Event()

    async def __call__(self, d: Delivery) -> None:
        self.calls += 1
        self._changed.set()
        if d.event_id in self.bug_for:
            raise KeyError("rule")
        self.handled.append(d.event_id)

    async def wait(self, what: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT_S):
            while not what():
                self._changed.clear()
                await self._changed.wait()


async def test_replay_round_trip(new_bus: Factory) -> None:
    bus = new_bus()
    good, buggy = event("site-1"), event("site-2")
    cases, ledger = Consumer(bug_for={eid(buggy)}), Consumer()
    bus.subscribe(TOPIC, "cases", cases, max_attempts=2)
    bus.subscribe(TOPIC, "ledger-view", ledger)
    await bus.start()
    await bus.publish(TOPIC, good)
    await bus.publish(TOPIC, buggy)
    await bus.publish_raw(TOPIC, b"site-3", b"\xff\x00junk")
    _, _, headers = encode_event(TOPIC, good)  # a handler giving up on one receiver writes its own
    await bus.publish_raw(f"{TOPIC}.dlq", b"site-1", good.SerializeToString(), {**headers, H_ERROR: "hook"})
    await cases.wait(lambda: cases.calls >= 3)
    await ledger.wait(lambda: len(ledger.handled) == 2)

    async def dead_letters_stored() -> list[Any]:
        for _ in range(int(WAIT_S / 0.05)):  # written just after the handlers gave up: poll, bounded
            if len(letters := await list_dead_letters(bus, TOPIC)) >= 4:  # junk once per group
                return letters
            await asyncio.sleep(0.05)
        raise AssertionError(f"dead letters: {await list_dead_letters(bus, TOPIC)}")

    letters = await dead_letters_stored()
    assert sorted(d.skip_reason.split(" ")[0].rstrip(":") for d in letters) == [
        "",
        "undecodable",
        "undecodable",
        "written",
    ]
    assert [d.event_id for d in letters if not d.skip_reason] == [eid(buggy)]

    seen: list[tuple[str, str]] = []
    dry = await replay(bus, TOPIC, dry_run=True, progress=lambda d, what: seen.append((what, d.event_id)))
    assert (dry.replayed, dry.skipped, dry.already) == (1, 3, 0)
    assert ("would replay", eid(buggy)) in seen
    assert all(not d.replayed for d in await list_dead_letters(bus, TOPIC))  # a dry run marks nothing

    cases.bug_for.clear()  # the fix is deployed
    report = await replay(bus, f"{TOPIC}.dlq")
    assert (report.replayed, report.skipped, report.already) == (1, 3, 0)
    await cases.wait(lambda: eid(buggy) in cases.handled)
    assert cases.handled.count(eid(buggy)) == 1
    again = await replay(bus, TOPIC)
    assert (again.replayed, again.skipped, again.already) == (0, 0, 4)  # each dead letter replays once
    after = await list_dead_letters(bus, TOPIC)
    assert len(after) == 4 and all(d.replayed for d in after)  # kept after replay, marked
    assert {d.record.headers[H_EVENT_ID] for d in after if not d.skip_reason} == {eid(buggy)}
