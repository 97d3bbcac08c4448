"""Bus contract shared by the adapters.

Semantics both adapters keep (tests in libs/bk-core/tests/test_bus_*.py hold them to it):
- ``publish`` is at-least-once: when it returns, the event is durably accepted; it raises
  ``PublishError`` otherwise. The partition key is ``event.meta.key``, so order holds per key.
- Each ``subscribe(topic, group, handler)`` is a consumer group: every event reaches one member of
  each group. The offset is committed only after the handler returned (or the event was
  dead-lettered), so a crash re-delivers, never skips.
- Events whose ``meta.event_id`` was already handled by this consumer recently are skipped (cheap
  dedupe of producer retries). Durable exactly-once effects use the database inbox
  (``bkcore.db.claim_event``) inside the handler's own transaction.
- A message that cannot be decoded, or whose handler keeps failing after ``max_attempts``, goes to
  ``<topic>.dlq`` with the error in its headers, and the partition moves on. Dead letters keep their
  bytes (so their event ids) and can be replayed to their topic (``bkcore.bus.replay``).
- A failure that is an outage (``bkcore.outage``: database, broker, bucket or network down) is not the
  message's fault: the partition pauses and the same message is handed over again with backoff, for as
  long as the outage lasts — never committed, never counted as an attempt, never dead-lettered.
  ``bk_bus_consumer_outage{topic,group}`` is 1 meanwhile; the start and the end are logged once each.
- ``subscribe_batch`` keeps all of the above for a handler that takes a list (one partition's events
  in offset order, deduped, at most ``max_batch``): the offsets are committed only after the whole
  list was handled. A list failing on poison is split in halves, down to single events that are
  retried and dead-lettered as above, so one poison event costs a few extra calls, never the rest of
  its batch; a list failing on an outage pauses whole.
- ``publish_many`` publishes several events in the given order (per key, as ``publish`` would) and
  returns once all of them were accepted; on ``PublishError`` any of them may have been written.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from functools import partial
from typing import Protocol

from google.protobuf.message import DecodeError, Message

from bkcore.bus.metrics import DEAD_LETTERS
from bkcore.bus.outages import OutageInfo, Outages
from bkcore.metrics import EVENTS_HANDLED
from bkcore.outage import outage_cause
from bkproto.common.v1.meta_pb2 import EventMeta
from bkproto.events.v1.camera_status_pb2 import CameraStatusChanged
from bkproto.events.v1.cases_pb2 import CaseChanged
from bkproto.events.v1.complaints_pb2 import ComplaintFiled
from bkproto.events.v1.detections_pb2 import ViolationDetected
from bkproto.events.v1.directory_pb2 import DirectoryChanged
from bkproto.events.v1.evidence_pb2 import EvidenceAccessed
from bkproto.events.v1.ledger_alerts_pb2 import LedgerAlert
from bkproto.events.v1.notifications_pb2 import NotificationRequested
from bkproto.events.v1.site_scores_pb2 import LedgerCompleteness, SiteRated, SiteScore

#: Every topic and the one event type it carries.
TOPICS: dict[str, type[Message]] = {
    "camera.status.v1": CameraStatusChanged,
    "detections.v1": ViolationDetected,
    "cases.v1": CaseChanged,
    "ledger.alerts.v1": LedgerAlert,
    "notifications.v1": NotificationRequested,
    "complaints.v1": ComplaintFiled,
    "ratings.v1": SiteRated,
    "ledger.completeness.v1": LedgerCompleteness,
    "site_scores.v1": SiteScore,
    "directory.v1": DirectoryChanged,
    "evidence.access.v1": EvidenceAccessed,
}
DEAD_LETTER_SUFFIX = ".dlq"
#: The consumer group whose offsets on ``<topic>.dlq`` mark how far ``dlq replay`` got.
DLQ_REPLAY_GROUP = "bk-dlq-replay"

# Header names carried next to the payload (Kafka headers / in-process equivalents).
H_EVENT_ID = "event_id"
H_TENANT = "tenant_id"
H_TYPE = "type"
H_ERROR = "dlq_error"
H_SOURCE_TOPIC = "dlq_source_topic"
H_SOURCE_PARTITION = "dlq_source_partition"
H_SOURCE_OFFSET = "dlq_source_offset"
H_GROUP = "dlq_group"
H_ATTEMPTS = "dlq_attempts"

log = logging.getLogger("bkcore.bus")


def _count(group: str, topic: str, outcome: str, n: int = 1) -> None:
    """``bk_events_handled_total``: the consumer group stands for the service (one group per service
    and purpose); ``outcome`` is ok, duplicate, retried, dead_lettered or outage."""
    EVENTS_HANDLED.labels(group, topic, outcome).inc(n)


class PublishError(RuntimeError):
    """The bus did not durably accept an event."""


class MalformedEvent(ValueError):
    """The bytes on a topic are not a valid event of that topic's type."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event handed to a handler."""

    topic: str
    key: str
    event: Message
    event_id: str
    tenant_id: str
    partition: int
    offset: int
    attempt: int = 1  # 1 + this message's failed runs; runs that hit an outage do not count


Handler = Callable[[Delivery], Awaitable[None]]
#: Handles one partition's deliveries, in offset order, all or nothing (e.g. in one transaction).
BatchHandler = Callable[[list[Delivery]], Awaitable[None]]


class Bus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, topic: str, event: Message) -> None:
        """Durably publish ``event`` (its ``meta`` must carry event_id, tenant_id and key)."""

    async def publish_raw(
        self, topic: str, key: bytes, value: bytes, headers: dict[str, str] | None = None
    ) -> None:
        """Publish bytes as they are (dead letters, tests of malformed input)."""

    async def publish_many(self, items: Sequence[tuple[str, Message]]) -> None:
        """Publish (topic, event) pairs in order; returns when all were durably accepted."""

    def subscribe(self, topic: str, group: str, handler: Handler, *, max_attempts: int = 3) -> None:
        """Register a consumer group's handler; call before ``start``."""

    def subscribe_batch(
        self, topic: str, group: str, handler: BatchHandler, *, max_batch: int = 500, max_attempts: int = 3
    ) -> None:
        """Register a consumer group's batch handler (see the module docstring); before ``start``."""

    async def ready(self) -> bool:
        """True when the bus can publish and consume (for /readyz)."""

    def outages(self) -> list[OutageInfo]:
        """Consumer groups paused by an outage right now, with since when and why (for /readyz)."""


def new_meta(
    *,
    tenant_id: str,
    key: str,
    producer: str,
    occurred_at: datetime | None = None,
    event_id: str | None = None,
    trace_id: str = "",
) -> EventMeta:
    """An EventMeta with a fresh id; ``occurred_at`` defaults to now (UTC)."""
    meta = EventMeta(
        event_id=event_id or str(uuid.uuid4()),
        tenant_id=tenant_id,
        key=key,
        producer=producer,
        trace_id=trace_id,
    )
    meta.occurred_at.FromDatetime(occurred_at or datetime.now(UTC))
    return meta


def encode_event(topic: str, event: Message) -> tuple[bytes, bytes, dict[str, str]]:
    """(key, value, headers) for ``event`` on ``topic``; checks type and required meta."""
    expected = TOPICS.get(topic)
    if expected is None:
        raise ValueError(f"unknown topic {topic!r}; known: {sorted(TOPICS)}")
    if not isinstance(event, expected):
        raise TypeError(f"topic {topic} carries {expected.__name__}, not {type(event).__name__}")
    meta: EventMeta = event.meta  # type: ignore[attr-defined]
    for field in ("event_id", "tenant_id", "key"):
        if not getattr(meta, field):
            raise ValueError(f"{expected.__name__}.meta.{field} is required")
    headers = {H_EVENT_ID: meta.event_id, H_TENANT: meta.tenant_id, H_TYPE: expected.DESCRIPTOR.full_name}
    return meta.key.encode(), event.SerializeToString(), headers


def decode_event(topic: str, value: bytes) -> Message:
    """Parse bytes from ``topic``; raises MalformedEvent when they are not a valid event."""
    cls = TOPICS.get(topic)
    if cls is None:
        raise MalformedEvent(f"unknown topic {topic!r}")
    event = cls()
    try:
        event.ParseFromString(value)
    except DecodeError as exc:
        raise MalformedEvent(f"not a {cls.__name__}: {exc}") from None
    meta = event.meta  # type: ignore[attr-defined]
    if not meta.event_id or not meta.tenant_id:
        raise MalformedEvent(f"{cls.__name__} without meta.event_id/tenant_id")
    return event


# --- shared by the adapters: one consumer-side policy, two transports ---------------------------


def dead_letter_topic(topic: str) -> str:
    return topic + DEAD_LETTER_SUFFIX


def check_topic(topic: str, *, allow_dlq: bool = False) -> None:
    """Reject topic names outside the contract (typos would otherwise create stray topics)."""
    base = topic.removesuffix(DEAD_LETTER_SUFFIX) if allow_dlq else topic
    if base not in TOPICS:
        raise ValueError(f"unknown topic {topic!r}; known: {sorted(TOPICS)}")


@dataclass(frozen=True, slots=True)
class Record:
    """One stored message as a transport hands it over (also how dead letters are read back)."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: dict[str, str]


class RecentIds:
    """LRU of recently handled event ids: cheap dedupe of producer retries, not a durable inbox."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def __contains__(self, event_id: str) -> bool:
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return True
        return False

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)


def count_dead_letter(topic: str, headers: dict[str, str]) -> None:
    """Count a message durably written to a ``.dlq`` topic (adapters call it for every write there)."""
    if topic.endswith(DEAD_LETTER_SUFFIX):
        DEAD_LETTERS.labels(topic.removesuffix(DEAD_LETTER_SUFFIX), headers.get(H_GROUP, "")).inc()


def dead_letter_headers(record: Record, *, group: str, error: BaseException, attempts: int) -> dict[str, str]:
    return {
        **record.headers,
        H_ERROR: f"{type(error).__name__}: {error}"[:2000],
        H_SOURCE_TOPIC: record.topic,
        H_SOURCE_PARTITION: str(record.partition),
        H_SOURCE_OFFSET: str(record.offset),
        H_GROUP: group,
        H_ATTEMPTS: str(attempts),
    }


class Outcome(Enum):
    """Where the consumer policy left a record (or the rest of a batch)."""

    DONE = "done"  # handled, skipped or dead-lettered: commit past it
    STOPPING = "stopping"  # the bus is stopping: leave it uncommitted
    OUTAGE = "outage"  # the infrastructure is down: leave it uncommitted, pause, hand it over again later


DeadLetter = Callable[[Record, BaseException, int], Awaitable[bool]]


async def handle_record(
    record: Record,
    *,
    group: str,
    handler: Handler,
    max_attempts: int,
    seen: RecentIds,
    wait_retry: Callable[[int], Awaitable[bool]],
    dead_letter: DeadLetter,
    outages: Outages,
) -> Outcome:
    """Decode, dedupe, run ``handler`` with retries, dead-letter poison.

    A failure that is an outage (``bkcore.outage``) is reported to ``outages`` and ends the call with
    ``Outcome.OUTAGE`` at once: it does not count as an attempt, the record is neither committed nor
    dead-lettered, and the adapter pauses the partition and hands the record over again later.
    ``wait_retry(attempt)`` sleeps before the next attempt at a poison failure and returns False if the
    bus is stopping. Only ``Exception`` is caught: a cancellation or a crash leaves the record uncommitted.
    """
    try:
        event = decode_event(record.topic, record.value)
    except MalformedEvent as exc:
        log.warning(
            "dead-lettering undecodable message",
            extra={
                "topic": record.topic,
                "group": group,
                "partition": record.partition,
                "offset": record.offset,
                "error": str(exc),
            },
        )
        return await _dead_letter(record, exc, 0, group=group, dead_letter=dead_letter, outages=outages)
    meta: EventMeta = event.meta  # type: ignore[attr-defined]
    if meta.event_id in seen:
        _count(group, record.topic, "duplicate")
        return Outcome.DONE
    attempt = 1
    while True:
        delivery = Delivery(
            topic=record.topic,
            key=meta.key,
            event=event,
            event_id=meta.event_id,
            tenant_id=meta.tenant_id,
            partition=record.partition,
            offset=record.offset,
            attempt=attempt,
        )
        try:
            await handler(delivery)
        except Exception as exc:
            if (cause := outage_cause(exc)) is not None:
                outages.failed(record.topic, group, record.partition, cause)
                _count(group, record.topic, "outage")
                return Outcome.OUTAGE
            outages.recovered(record.topic, group, record.partition)  # it got a fair run, and failed
            if attempt >= max_attempts:
                log.error(
                    "handler failed %d times; dead-lettering",
                    attempt,
                    exc_info=exc,
                    extra={"topic": record.topic, "group": group, "event_id": meta.event_id},
                )
                return await _dead_letter(
                    record, exc, attempt, group=group, dead_letter=dead_letter, outages=outages
                )
            log.warning(
                "handler failed (attempt %d/%d); retrying",
                attempt,
                max_attempts,
                extra={"topic": record.topic, "group": group, "event_id": meta.event_id, "error": repr(exc)},
            )
            _count(group, record.topic, "retried")
            if not await wait_retry(attempt):
                return Outcome.STOPPING
            attempt += 1
        else:
            outages.recovered(record.topic, group, record.partition)
            seen.add(meta.event_id)
            _count(group, record.topic, "ok")
            return Outcome.DONE


async def _dead_letter(
    record: Record,
    error: BaseException,
    attempts: int,
    *,
    group: str,
    dead_letter: DeadLetter,
    outages: Outages,
) -> Outcome:
    """Write the dead letter; a broker or bus file that cannot take it is an outage like any other."""
    try:
        written = await dead_letter(record, error, attempts)
    except Exception as exc:
        if (cause := outage_cause(exc)) is None:
            raise
        outages.failed(record.topic, group, record.partition, cause)
        _count(group, record.topic, "outage")
        return Outcome.OUTAGE
    if written:
        _count(group, record.topic, "dead_lettered")
    return Outcome.DONE if written else Outcome.STOPPING


async def handle_batch(
    records: Sequence[Record],
    *,
    group: str,
    handler: BatchHandler,
    max_attempts: int,
    seen: RecentIds,
    wait_retry: Callable[[int], Awaitable[bool]],
    dead_letter: DeadLetter,
    outages: Outages,
) -> tuple[int, Outcome]:
    """``handle_record`` for a batch handler over one partition's ``records`` (offset order).

    Returns how many leading records are finished (handled, skipped or dead-lettered) — the caller
    commits up to there — and why it stopped there (``Outcome.DONE`` when all are finished). A batch
    that fails on an outage is not split: every half would fail the same way, and the single events at
    the bottom would end in the dead-letter topic.
    """
    decoded: list[tuple[Record, Message | MalformedEvent]] = []
    for record in records:
        try:
            decoded.append((record, decode_event(record.topic, record.value)))
        except MalformedEvent as exc:
            decoded.append((record, exc))
    done = 0
    while done < len(decoded):
        record, item = decoded[done]
        if isinstance(item, MalformedEvent):  # dead-lettered in its place, so offsets stay in order
            log.warning(
                "dead-lettering undecodable message",
                extra={
                    "topic": record.topic,
                    "group": group,
                    "partition": record.partition,
                    "offset": record.offset,
                    "error": str(item),
                },
            )
            outcome = await _dead_letter(
                record, item, 0, group=group, dead_letter=dead_letter, outages=outages
            )
            if outcome is not Outcome.DONE:
                return done, outcome
            done += 1
            continue
        end = done
        while end < len(decoded) and not isinstance(decoded[end][1], MalformedEvent):
            end += 1
        segment = [(r, e) for r, e in decoded[done:end] if not isinstance(e, MalformedEvent)]
        finished, outcome = await _handle_segment(
            segment,
            group=group,
            handler=handler,
            max_attempts=max_attempts,
            seen=seen,
            wait_retry=wait_retry,
            dead_letter=dead_letter,
            outages=outages,
        )
        done += finished
        if outcome is not Outcome.DONE:
            return done, outcome
    return done, Outcome.DONE


async def _handle_segment(
    segment: list[tuple[Record, Message]],
    *,
    group: str,
    handler: BatchHandler,
    max_attempts: int,
    seen: RecentIds,
    wait_retry: Callable[[int], Awaitable[bool]],
    dead_letter: DeadLetter,
    outages: Outages,
) -> tuple[int, Outcome]:
    """Hand the not-yet-seen events of ``segment`` to ``handler`` at once; on a poison failure split in
    halves (order kept: the first half finishes before the second starts), single events get the
    per-event retries and dead-lettering; on an outage stop at once. Returns how many leading records
    are finished, and why it stopped."""
    deliveries: list[Delivery] = []
    positions: list[int] = []
    ids: set[str] = set()
    for i, (record, event) in enumerate(segment):
        meta: EventMeta = event.meta  # type: ignore[attr-defined]
        if meta.event_id in seen or meta.event_id in ids:
            continue  # a producer retry, possibly inside this very batch
        ids.add(meta.event_id)
        positions.append(i)
        deliveries.append(
            Delivery(
                topic=record.topic,
                key=meta.key,
                event=event,
                event_id=meta.event_id,
                tenant_id=meta.tenant_id,
                partition=record.partition,
                offset=record.offset,
            )
        )
    if not deliveries:
        return len(segment), Outcome.DONE
    if len(deliveries) == 1:  # one event left: the per-event rules (retries, then dead letter)

        async def one(d: Delivery) -> None:
            await handler([d])

        outcome = await handle_record(
            segment[positions[0]][0],
            group=group,
            handler=one,
            max_attempts=max_attempts,
            seen=seen,
            wait_retry=wait_retry,
            dead_letter=dead_letter,
            outages=outages,
        )
        return (len(segment) if outcome is Outcome.DONE else positions[0]), outcome
    first_record = segment[positions[0]][0]
    try:
        await handler(deliveries)
    except Exception as exc:
        if (cause := outage_cause(exc)) is not None:
            outages.failed(first_record.topic, group, first_record.partition, cause)
            _count(group, first_record.topic, "outage", len(deliveries))
            return positions[0], Outcome.OUTAGE
        outages.recovered(first_record.topic, group, first_record.partition)
        log.warning(
            "batch handler failed on %d events; splitting the batch",
            len(deliveries),
            extra={
                "topic": segment[0][0].topic,
                "group": group,
                "first_offset": segment[0][0].offset,
                "error": repr(exc),
            },
        )
    else:
        outages.recovered(first_record.topic, group, first_record.partition)
        for d in deliveries:
            seen.add(d.event_id)
        _count(group, first_record.topic, "ok", len(deliveries))
        return len(segment), Outcome.DONE
    half = len(segment) // 2
    again = partial(
        _handle_segment,
        group=group,
        handler=handler,
        max_attempts=max_attempts,
        seen=seen,
        wait_retry=wait_retry,
        dead_letter=dead_letter,
        outages=outages,
    )
    first, outcome = await again(segment[:half])
    if outcome is not Outcome.DONE:
        return first, outcome
    second, outcome = await again(segment[half:])
    return half + second, outcome


async def finish_tasks(tasks: list[asyncio.Task[None]], timeout_s: float) -> None:
    """Let tasks end on their own, cancel what still runs after ``timeout_s``; log how any crashed."""
    if not tasks:
        return
    _, late = await asyncio.wait(tasks, timeout=timeout_s)
    for task in late:
        task.cancel()
    for task, result in zip(tasks, await asyncio.gather(*tasks, return_exceptions=True), strict=True):
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            log.error("bus task %s ended with %r", task.get_name(), result)
