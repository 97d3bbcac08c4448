"""Kafka bus for production (aiokafka).

Producer: idempotent, ``acks=all``; ``publish`` returns only once the broker acknowledged the write.
Consumers: one AIOKafkaConsumer per group (subscribed to all of that group's topics), auto-commit off.
Each fetched batch is handled partition by partition in parallel, sequentially within a partition, and
a partition's offset is committed right after its messages were handled or dead-lettered. A rebalance
waits for the batch in hand, so a partition changes owner only after its work was committed.
A partition whose handler hit an outage is sought back to that message and paused (``consumer.pause``)
for its backoff, while the loop keeps polling: the group membership stays alive however long the
outage lasts, and the other partitions go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from google.protobuf.message import Message

from bkcore.bus.base import (
    DEAD_LETTER_SUFFIX,
    DLQ_REPLAY_GROUP,
    TOPICS,
    BatchHandler,
    Handler,
    Outcome,
    PublishError,
    RecentIds,
    Record,
    check_topic,
    count_dead_letter,
    dead_letter_headers,
    dead_letter_topic,
    encode_event,
    finish_tasks,
    handle_batch,
    handle_record,
)
from bkcore.bus.outages import OutageInfo, Outages

log = logging.getLogger("bkcore.bus.kafka")
_TOPIC_ALREADY_EXISTS = 36


@dataclass(slots=True)
class _Subscription:
    topic: str
    handler: Handler | None
    max_attempts: int
    batch_handler: BatchHandler | None = None
    max_batch: int = 1


class _WaitForBatch(ConsumerRebalanceListener):  # type: ignore[misc]
    """Holds a rebalance until the batch in hand is handled and committed (no double handling);
    then lets go of the revoked partitions' pauses (their new owner retries on its own)."""

    def __init__(self, busy: asyncio.Lock, on_revoked: Callable[[set[TopicPartition]], None]) -> None:
        self._busy = busy
        self._on_revoked = on_revoked

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._busy:
            self._on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: object) -> None:
        return None


class KafkaBus:
    def __init__(
        self,
        bootstrap: str,
        client_id: str,
        *,
        topic_partitions: int = 12,
        replication_factor: int = 3,
        create_topics: bool = True,
        request_timeout_ms: int = 30_000,
        retry_backoff_s: float = 0.2,
        retry_backoff_max_s: float = 10.0,
        outage_backoff_s: float = 0.5,
        outage_backoff_max_s: float = 10.0,
        dedupe_capacity: int = 10_000,
        max_poll_records: int = 500,
        session_timeout_ms: int = 10_000,
        stop_timeout_s: float = 15.0,
        batch_linger_s: float = 0.05,
        producer_batch_bytes: int = 256 * 1024,
        idempotent: bool = True,
    ) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self._topic_partitions = topic_partitions
        self._replication_factor = replication_factor
        self._create_topics = create_topics
        self._request_timeout_ms = request_timeout_ms
        self._backoff = (retry_backoff_s, retry_backoff_max_s)
        self._outages = Outages(backoff_s=outage_backoff_s, backoff_max_s=outage_backoff_max_s)
        # Per group: partitions paused by an outage and when (loop time) to resume fetching them.
        self._resume_at: dict[str, dict[TopicPartition, float]] = {}
        self._dedupe_capacity = dedupe_capacity
        self._max_poll_records = max_poll_records
        self._session_timeout_ms = session_timeout_ms
        self._stop_timeout_s = stop_timeout_s
        self._batch_linger_s = batch_linger_s
        self._producer_batch_bytes = producer_batch_bytes
        # Off only for brokers without idempotent producers (Tansu in tests): a retried send may then
        # be written twice, which consumers absorb by event id.
        self._idempotent = idempotent
        self._groups: dict[str, dict[str, _Subscription]] = {}
        self._producer: AIOKafkaProducer | None = None
        self._consumers: dict[str, AIOKafkaConsumer] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._producer is not None:
            return
        self._stopping = asyncio.Event()
        if self._create_topics:
            await self._ensure_topics()
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            enable_idempotence=self._idempotent,
            acks="all",
            request_timeout_ms=self._request_timeout_ms,
            max_batch_size=self._producer_batch_bytes,  # publish_many bursts travel in few requests
        )
        await producer.start()
        self._producer = producer
        for group in self._groups:
            await self._start_group(group)

    async def stop(self) -> None:
        if self._producer is None:
            return
        self._stopping.set()  # loops finish and commit the batch in hand, then leave
        await finish_tasks(self._tasks, self._stop_timeout_s)
        self._tasks = []
        for group, consumer in self._consumers.items():
            self._release(group, set(consumer.assignment()) | set(self._resume_at.get(group, {})))
            await consumer.stop()  # leaves the group, so the next member takes over at once
        self._consumers = {}
        producer, self._producer = self._producer, None
        await producer.stop()  # flushes what is in flight

    @property
    def started(self) -> bool:
        """Started and not yet stopped: it can take a publish."""
        return self._producer is not None

    async def ready(self) -> bool:
        if self._producer is None or self._stopping.is_set() or any(t.done() for t in self._tasks):
            return False
        try:
            async with asyncio.timeout(5):
                await self._producer.client.fetch_all_metadata()
        except (KafkaError, TimeoutError):
            return False
        return True

    def outages(self) -> list[OutageInfo]:
        return self._outages.current()

    async def _ensure_topics(self) -> None:
        """Create the contract's topics and their dead-letter topics; brokers that refuse (no rights,
        no CreateTopics support) are left to auto-create them or to the operators."""
        names = [*TOPICS, *(dead_letter_topic(t) for t in TOPICS)]
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            request_timeout_ms=self._request_timeout_ms,
        )
        try:
            await admin.start()
            response = await admin.create_topics(
                [NewTopic(n, self._topic_partitions, self._replication_factor) for n in names]
            )
            for name, code, *_ in response.topic_errors:
                if code not in (0, _TOPIC_ALREADY_EXISTS):
                    log.warning("could not create topic %s (error code %s)", name, code)
        except Exception as exc:  # the mock broker and locked-down clusters end up here: not fatal
            log.warning("could not create topics (%r); relying on existing or auto-created ones", exc)
        finally:
            await admin.close()

    # --- publishing -------------------------------------------------------------------------------

    async def publish(self, topic: str, event: Message) -> None:
        key, value, headers = encode_event(topic, event)
        await self._send(topic, key, value, headers)

    async def publish_raw(
        self, topic: str, key: bytes, value: bytes, headers: dict[str, str] | None = None
    ) -> None:
        check_topic(topic, allow_dlq=True)
        await self._send(topic, key, value, headers or {})

    async def publish_many(self, items: Sequence[tuple[str, Message]]) -> None:
        """Queue every event with the producer in order, then await all acknowledgements together.

        The producer keeps one request in flight per partition (idempotent), so per-key order holds.
        """
        encoded = [(topic, *encode_event(topic, event)) for topic, event in items]
        if self._producer is None:
            raise PublishError("Kafka bus is not started; cannot publish")
        try:
            acks = [
                await self._producer.send(
                    topic, value=value, key=key, headers=[(k, v.encode()) for k, v in headers.items()]
                )
                for topic, key, value, headers in encoded
            ]
        except KafkaError as exc:
            raise PublishError(f"Kafka did not accept events: {exc!r}") from exc
        for result in await asyncio.gather(*acks, return_exceptions=True):
            if isinstance(result, BaseException):
                raise PublishError(f"Kafka did not accept events: {result!r}") from result

    async def _send(self, topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> None:
        if self._producer is None:
            raise PublishError(f"Kafka bus is not started; cannot publish to {topic}")
        try:
            # aiokafka retries retriable errors itself until request_timeout_ms; what escapes is final.
            await self._producer.send_and_wait(
                topic, value=value, key=key, headers=[(k, v.encode()) for k, v in headers.items()]
            )
        except KafkaError as exc:
            raise PublishError(f"Kafka did not accept an event on {topic}: {exc!r}") from exc
        count_dead_letter(topic, headers)

    # --- consuming --------------------------------------------------------------------------------

    def subscribe(self, topic: str, group: str, handler: Handler, *, max_attempts: int = 3) -> None:
        check_topic(topic)
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        subs = self._groups.setdefault(group, {})
        if topic in subs:
            raise ValueError(f"group {group!r} already subscribed to {topic}")
        if self._producer is not None:  # a group's consumer subscribes to all its topics at once
            raise RuntimeError("subscribe before start")
        subs[topic] = _Subscription(topic, handler, max_attempts)

    def subscribe_batch(
        self, topic: str, group: str, handler: BatchHandler, *, max_batch: int = 500, max_attempts: int = 3
    ) -> None:
        check_topic(topic)
        if max_attempts < 1 or max_batch < 1:
            raise ValueError("max_attempts and max_batch must be >= 1")
        subs = self._groups.setdefault(group, {})
        if topic in subs:
            raise ValueError(f"group {group!r} already subscribed to {topic}")
        if self._producer is not None:
            raise RuntimeError("subscribe before start")
        subs[topic] = _Subscription(topic, None, max_attempts, handler, max_batch)

    async def _start_group(self, group: str) -> None:
        # One poll is shared by all of the group's partitions: batch handlers need room for full
        # batches on each partition, or they get max_poll_records / partitions events at a time.
        batches = [s.max_batch for s in self._groups[group].values() if s.batch_handler is not None]
        max_poll = max(self._max_poll_records, max(batches, default=0) * self._topic_partitions)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=max_poll,
            request_timeout_ms=self._request_timeout_ms,
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=max(self._session_timeout_ms // 3, 100),
        )
        busy = asyncio.Lock()
        self._resume_at[group] = {}
        consumer.subscribe(
            list(self._groups[group]), listener=_WaitForBatch(busy, partial(self._release, group))
        )
        await consumer.start()
        self._consumers[group] = consumer
        task = asyncio.create_task(self._consume(group, consumer, busy), name=f"bk-kafka-{group}")
        self._tasks.append(task)

    async def _consume(self, group: str, consumer: AIOKafkaConsumer, busy: asyncio.Lock) -> None:
        seen = RecentIds(self._dedupe_capacity)
        subs = self._groups[group].values()
        fill = max((s.max_batch for s in subs if s.batch_handler is not None), default=0)
        while not self._stopping.is_set():
            batches = await consumer.getmany(timeout_ms=self._resume_due(group, consumer))
            if not batches:
                continue
            if fill:
                await self._top_up(consumer, batches, fill)
            async with busy:
                await asyncio.gather(
                    *(self._partition(group, consumer, tp, msgs, seen) for tp, msgs in batches.items())
                )

    async def _top_up(
        self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[ConsumerRecord]], fill: int
    ) -> None:
        """Keep fetching for up to ``batch_linger_s`` while a partition's batch is short of ``fill``.

        A fetch brings about one producer batch per partition (tens of events); a batch handler pays
        per call (a transaction), so waiting a few milliseconds for a full batch is cheaper under load.
        Idle partitions cost nothing: the linger only starts once something arrived.
        """
        deadline = asyncio.get_running_loop().time() + self._batch_linger_s
        while min(len(m) for m in batches.values()) < fill and not self._stopping.is_set():
            left_ms = int((deadline - asyncio.get_running_loop().time()) * 1000)
            if left_ms <= 0:
                return
            more = await consumer.getmany(timeout_ms=left_ms)
            if not more:
                return
            for tp, msgs in more.items():
                batches.setdefault(tp, []).extend(msgs)

    def _resume_due(self, group: str, consumer: AIOKafkaConsumer) -> int:
        """Resume the paused partitions whose backoff is over; returns how long (ms) the next poll
        may wait, so the next resume is not late."""
        paused = self._resume_at[group]
        now = asyncio.get_running_loop().time()
        assigned = consumer.assignment()
        for tp, at in list(paused.items()):
            if at <= now:
                del paused[tp]
                if tp in assigned:  # revoked meanwhile: its new owner fetches it
                    consumer.resume(tp)
        wait_s = min((at - now for at in paused.values()), default=0.5)
        return max(1, min(500, int(wait_s * 1000)))

    def _pause(self, group: str, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> None:
        """An outage on ``tp`` at ``offset``: fetch it from there again, after its backoff."""
        consumer.seek(tp, offset)
        consumer.pause(tp)
        wait_s = self._outages.wait_s(tp.topic, group, tp.partition)
        self._resume_at[group][tp] = asyncio.get_running_loop().time() + wait_s

    def _release(self, group: str, partitions: set[TopicPartition]) -> None:
        """``partitions`` are no longer ours (revoked, or the bus stops): drop their pauses."""
        for tp in partitions:
            self._resume_at.get(group, {}).pop(tp, None)
            self._outages.forget(tp.topic, group, tp.partition)

    async def _partition(
        self,
        group: str,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        messages: list[ConsumerRecord],
        seen: RecentIds,
    ) -> None:
        sub = self._groups[group][tp.topic]
        if sub.batch_handler is not None:
            await self._partition_batches(group, consumer, tp, messages, seen, sub)
            return
        assert sub.handler is not None
        done: int | None = None
        try:
            for msg in messages:
                outcome = (
                    Outcome.STOPPING
                    if self._stopping.is_set()
                    else await handle_record(
                        _record(msg),
                        group=group,
                        handler=sub.handler,
                        max_attempts=sub.max_attempts,
                        seen=seen,
                        wait_retry=self._wait_retry,
                        dead_letter=partial(self._dead_letter, group),
                        outages=self._outages,
                    )
                )
                if outcome is Outcome.OUTAGE:
                    self._pause(group, consumer, tp, msg.offset)
                    break
                if outcome is Outcome.STOPPING:
                    consumer.seek(tp, msg.offset)  # the fetch moved past it: read it again later
                    break
                done = msg.offset + 1
        finally:
            if done is not None:  # handlers that returned stay done, even if a later one crashed
                await self._commit(consumer, tp, done)

    async def _partition_batches(
        self,
        group: str,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        messages: list[ConsumerRecord],
        seen: RecentIds,
        sub: _Subscription,
    ) -> None:
        assert sub.batch_handler is not None
        done: int | None = None
        try:
            for i in range(0, len(messages), sub.max_batch):
                chunk = messages[i : i + sub.max_batch]
                finished, outcome = (
                    (0, Outcome.STOPPING)
                    if self._stopping.is_set()
                    else await handle_batch(
                        [_record(m) for m in chunk],
                        group=group,
                        handler=sub.batch_handler,
                        max_attempts=sub.max_attempts,
                        seen=seen,
                        wait_retry=self._wait_retry,
                        dead_letter=partial(self._dead_letter, group),
                        outages=self._outages,
                    )
                )
                if finished:
                    done = chunk[finished - 1].offset + 1
                if outcome is Outcome.OUTAGE:
                    self._pause(group, consumer, tp, chunk[finished].offset)
                    break
                if outcome is Outcome.STOPPING:
                    consumer.seek(tp, chunk[finished].offset)  # read the rest again later
                    break
        finally:
            if done is not None:
                await self._commit(consumer, tp, done)

    async def _commit(self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> None:
        try:
            await consumer.commit({tp: offset})
        except KafkaError as exc:  # e.g. the partition moved away: its new owner re-handles (at-least-once)
            log.warning("offset commit failed for %s[%d]@%d: %r", tp.topic, tp.partition, offset, exc)

    async def _dead_letter(self, group: str, record: Record, error: BaseException, attempts: int) -> bool:
        """Write one dead letter; a ``PublishError`` (broker down) pauses the partition like any outage,
        so the offset never moves on before the dead letter landed."""
        headers = dead_letter_headers(record, group=group, error=error, attempts=attempts)
        await self._send(dead_letter_topic(record.topic), record.key, record.value, headers)
        return True

    async def _wait_retry(self, attempt: int) -> bool:
        base, cap = self._backoff
        try:
            async with asyncio.timeout(min(base * 2 ** (attempt - 1), cap)):
                await self._stopping.wait()
        except TimeoutError:
            return True
        return False

    # --- operations ---------------------------------------------------------------------------------

    async def dead_letters(self, topic: str, *, timeout_s: float = 10.0) -> list[Record]:
        """Read a dead-letter topic from the start to its current end, outside any group."""
        dlq = topic if topic.endswith(DEAD_LETTER_SUFFIX) else dead_letter_topic(topic)
        check_topic(dlq, allow_dlq=True)
        if self._producer is None:
            raise RuntimeError("start the bus before reading dead letters")
        partitions = await self._producer.partitions_for(dlq)  # waits for the topic's metadata
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            group_id=None,
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            parts = [TopicPartition(dlq, p) for p in sorted(partitions)]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            ends = await consumer.end_offsets(parts)
            out: list[Record] = []
            async with asyncio.timeout(timeout_s):
                while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
                    for msgs in (await consumer.getmany(timeout_ms=200)).values():
                        out += [_record(m) for m in msgs]
            return sorted(out, key=lambda r: (r.partition, r.offset))
        finally:
            await consumer.stop()

    async def replayed_offsets(self, topic: str) -> dict[int, int]:
        """Per partition of ``topic``'s dead-letter topic, the offset ``dlq replay`` goes on from
        (the offsets the replay group committed there; 0 where it never did)."""
        async with self._replay_consumer(topic) as (consumer, parts):
            return {tp.partition: await consumer.committed(tp) or 0 for tp in parts}

    async def mark_replayed(self, topic: str, partition: int, next_offset: int) -> None:
        """Remember that dead letters of ``topic`` before ``next_offset`` on ``partition`` were replayed."""
        async with self._replay_consumer(topic) as (consumer, parts):
            tp = next((tp for tp in parts if tp.partition == partition), None)
            if tp is None:
                raise ValueError(f"{tp} has no partition {partition}")
            await consumer.commit({tp: next_offset})

    @asynccontextmanager
    async def _replay_consumer(
        self, topic: str
    ) -> AsyncIterator[tuple[AIOKafkaConsumer, list[TopicPartition]]]:
        """A consumer of the replay group, assigned (not subscribed) to every partition of the DLQ:
        it reads and commits the group's offsets without joining or disturbing any group."""
        dlq = topic if topic.endswith(DEAD_LETTER_SUFFIX) else dead_letter_topic(topic)
        check_topic(dlq, allow_dlq=True)
        if self._producer is None:
            raise RuntimeError("start the bus before replaying dead letters")
        partitions = await self._producer.partitions_for(dlq)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            group_id=DLQ_REPLAY_GROUP,
            enable_auto_commit=False,
            request_timeout_ms=self._request_timeout_ms,
        )
        await consumer.start()
        try:
            parts = [TopicPartition(dlq, p) for p in sorted(partitions)]
            consumer.assign(parts)
            yield consumer, parts
        finally:
            await consumer.stop()


def _record(msg: ConsumerRecord) -> Record:
    headers = {k: v.decode(errors="replace") for k, v in msg.headers}
    return Record(msg.topic, msg.partition, msg.offset, msg.key or b"", msg.value or b"", headers)
