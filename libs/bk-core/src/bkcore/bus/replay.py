"""Replaying dead letters to their source topic (``brightkitchen dlq list|replay``).

A dead letter keeps the original bytes, so a replayed event keeps its event id: every consumer group
that handled it before finds the id in its inbox (``bkcore.db.claim_event``) and does nothing; the
group that gave up handles it now. Replay is therefore safe to repeat, and it remembers how far it got
per dead-letter partition (offsets of the ``bk-dlq-replay`` group on ``<topic>.dlq``), so a second
run replays only what came since. Dead letters stay on their topic after replay (Kafka keeps them for
the topic's retention, the embedded bus keeps them for good): ``dlq list --all`` still shows them.

Two kinds are listed but never replayed, because replaying cannot help:
- undecodable bytes (they would be dead-lettered again at once);
- dead letters no consumer group gave up on (no ``dlq_group`` header): a handler wrote them itself
  after handling the event (e.g. a webhook receiver that kept failing), so the inbox would skip it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bkcore.bus.base import (
    DEAD_LETTER_SUFFIX,
    H_ATTEMPTS,
    H_ERROR,
    H_EVENT_ID,
    H_GROUP,
    H_SOURCE_OFFSET,
    H_SOURCE_PARTITION,
    H_SOURCE_TOPIC,
    MalformedEvent,
    Record,
    check_topic,
    decode_event,
)

#: Added to a replayed event's headers: which dead letter it came from (``<dlq>/<partition>/<offset>``).
H_REPLAYED_FROM = "dlq_replayed_from"
# Headers that describe one dead-lettering; a replayed event starts without them.
_DLQ_HEADERS = frozenset(
    {H_ERROR, H_SOURCE_TOPIC, H_SOURCE_PARTITION, H_SOURCE_OFFSET, H_GROUP, H_ATTEMPTS, "dlq_webhook_url"}
)
MARK_EVERY = 100  # remember progress at least this often (a crash replays at most this many again)


class DeadLetterStore(Protocol):
    """What replay needs from a bus adapter (both ``InProcessBus`` and ``KafkaBus`` provide it)."""

    async def dead_letters(self, topic: str) -> list[Record]: ...

    async def replayed_offsets(self, topic: str) -> dict[int, int]: ...

    async def mark_replayed(self, topic: str, partition: int, next_offset: int) -> None: ...

    async def publish_raw(
        self, topic: str, key: bytes, value: bytes, headers: dict[str, str] | None = None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead letter as an operator sees it."""

    record: Record  # as stored on ``<topic>.dlq``
    source_topic: str
    event_id: str
    group: str  # the consumer group that gave up ("" when a handler wrote it itself)
    error: str
    replayed: bool  # before the replay group's mark: replayed (or skipped) by an earlier run
    skip_reason: str  # "" when it can be replayed

    @property
    def where(self) -> str:
        return f"{self.record.topic}/{self.record.partition}/{self.record.offset}"


def source_topic_of(topic: str) -> str:
    """``detections.v1`` for ``detections.v1`` or ``detections.v1.dlq``; ValueError for other names."""
    source = topic.removesuffix(DEAD_LETTER_SUFFIX)
    check_topic(source)
    return source


def describe(record: Record, *, replayed_before: int) -> DeadLetter:
    """What ``record`` (read from a ``.dlq`` topic) is, and whether and why it would be replayed."""
    source = record.topic.removesuffix(DEAD_LETTER_SUFFIX)
    headers = record.headers
    skip = ""
    event_id = headers.get(H_EVENT_ID, "")
    try:
        event = decode_event(source, record.value)
        event_id = event.meta.event_id  # type: ignore[attr-defined]
    except MalformedEvent:
        skip = "undecodable: it would be dead-lettered again"
    if not skip and not headers.get(H_GROUP):
        skip = (
            "written by a handler after it handled the event (no consumer group gave up): "
            "the inbox would skip it"
        )
    return DeadLetter(
        record=record,
        source_topic=source,
        event_id=event_id,
        group=headers.get(H_GROUP, ""),
        error=headers.get(H_ERROR, ""),
        replayed=record.offset < replayed_before,
        skip_reason=skip,
    )


def replay_headers(record: Record) -> dict[str, str]:
    """The original event's headers (ids, tenant, type, extras), plus where the replay came from."""
    headers = {k: v for k, v in record.headers.items() if k not in _DLQ_HEADERS}
    headers[H_REPLAYED_FROM] = f"{record.topic}/{record.partition}/{record.offset}"
    return headers


async def list_dead_letters(store: DeadLetterStore, topic: str) -> list[DeadLetter]:
    """Every stored dead letter of ``topic`` (oldest first per partition), marked replayed or not."""
    source = source_topic_of(topic)
    marks = await store.replayed_offsets(source)
    return [describe(r, replayed_before=marks.get(r.partition, 0)) for r in await store.dead_letters(source)]


@dataclass(slots=True)
class ReplayReport:
    topic: str
    replayed: int = 0
    skipped: int = 0
    already: int = 0  # replayed by an earlier run


async def replay(
    store: DeadLetterStore,
    topic: str,
    *,
    dry_run: bool = False,
    progress: Callable[[DeadLetter, str], None] = lambda _d, _what: None,
) -> ReplayReport:
    """Publish ``topic``'s not-yet-replayed dead letters back to it, in offset order per partition.

    ``progress(dead_letter, what)`` is called for each, ``what`` being ``"replayed"``,
    ``"would replay"`` (dry run), ``"skipped"`` or ``"would skip"``. A dry run publishes and marks
    nothing. Progress is marked every ``MARK_EVERY`` dead letters and at the end of each partition.
    """
    source = source_topic_of(topic)
    report = ReplayReport(source)
    pending: dict[int, int] = {}  # partition -> next offset to mark

    async def mark() -> None:
        for partition, next_offset in sorted(pending.items()):
            await store.mark_replayed(source, partition, next_offset)
        pending.clear()

    for letter in await list_dead_letters(store, source):
        if letter.replayed:
            report.already += 1
            continue
        if letter.skip_reason:
            report.skipped += 1
            progress(letter, "would skip" if dry_run else "skipped")
        else:
            report.replayed += 1
            if not dry_run:
                r = letter.record
                await store.publish_raw(source, r.key, r.value, replay_headers(r))
            progress(letter, "would replay" if dry_run else "replayed")
        if dry_run:
            continue
        if letter.record.partition not in pending and pending:
            await mark()  # a new partition: the previous one is done
        pending[letter.record.partition] = letter.record.offset + 1
        if (report.replayed + report.skipped) % MARK_EVERY == 0:
            await mark()
    await mark()
    return report
