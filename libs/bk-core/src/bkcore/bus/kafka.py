"""Kafka bus for production (aiokafka).

Producer: idempotent, ``acks=all``; ``publish`` returns only once the broker acknowledged the write.
Consumers: one AIOKafkaConsumer per group (subscribed to all of that group's topics), auto-commit off.
Each fetched batch is handled partition by partition in parallel, sequentially within a partition, and
a partition's offset is committed right after its messages were handled or dead-lettered. A rebalance
waits for the batch in hand, so a partition changes owner only after its work was committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from google.protobuf.message import Message

from bkcore.bus.base import (
    DEAD_LETTER_SUFFIX,
    TOPICS,
    BatchHandler,
    Handler,
    PublishError,
    RecentIds,
    Record,
    check_topic,
    dead_letter_headers,
    dead_letter_topic,
    encode_event,
    finish_tasks,
    handle_batch,
    handle_record,
)

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
    """Holds a rebalance until the batch in hand is handled and committed (no double handling)."""

    def __init__(self, busy: asyncio.Lock) -> None:
        self._busy = busy

    async def on_partitions_revoked(self, revoked: object) -> None:
        async with self._busy:
            pass

    async def on_partitions_assigned(self, assigned: object) -> None:
        return None


class KafkaBus:
    def __init__(self, bootstrap: str, client_id: str, *, topic_partitions: int = 12,
                 replication_factor: int = 3, create_topics: bool = True, request_timeout_ms: int = 30_000,
                 retry_backoff_s: float = 0.2, retry_backoff_max_s: float = 10.0,
                 dedupe_capacity: int = 10_000, max_poll_records: int = 500,
                 session_timeout_ms: int = 10_000, stop_timeout_s: float = 15.0,
                 batch_linger_s: float = 0.05, producer_batch_bytes: int = 256 * 1024) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self._topic_partitions = topic_partitions
        self._replication_factor = replication_factor
        self._create_topics = create_topics
        self._request_timeout_ms = request_timeout_ms
        self._backoff = (retry_backoff_s, retry_backoff_max_s)
        self._dedupe_capacity = dedupe_capacity
        self._max_poll_records = max_poll_records
        self._session_timeout_ms = session_timeout_ms
        self._stop_timeout_s = stop_timeout_s
        self._batch_linger_s = batch_linger_s
        self._producer_batch_bytes = producer_batch_bytes
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
            bootstrap_servers=self.bootstrap, client_id=self.client_id, enable_idempotence=True,
            acks="all", request_timeout_ms=self._request_timeout_ms,
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
        for consumer in self._consumers.values():
            await consumer.stop()  # leaves the group, so the next member takes over at once
        self._consumers = {}
        producer, self._producer = self._producer, None
        await producer.stop()  # flushes what is in flight

    async def ready(self) -> bool:
        if self._producer is None or self._stopping.is_set() or any(t.done() for t in self._tasks):
            return False
        try:
            async with asyncio.timeout(5):
                await self._producer.client.fetch_all_metadata()
        except (KafkaError, TimeoutError):
            return False
        return True

    async def _ensure_topics(self) -> None:
        """Create the contract's topics and their dead-letter topics; brokers that refuse (no rights,
        no CreateTopics support) are left to auto-create them or to the operators."""
        names = [*TOPICS, *(dead_letter_topic(t) for t in TOPICS)]
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id=self.client_id,
                                    request_timeout_ms=self._request_timeout_ms)
        try:
            await admin.start()
            response = await admin.create_topics(
                [NewTopic(n, self._topic_partitions, self._replication_factor) for n in names])
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

    async def publish_raw(self, topic: str, key: bytes, value: bytes,
                          headers: dict[str, str] | None = None) -> None:
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
            acks = [await self._producer.send(topic, value=value, key=key,
                                              headers=[(k, v.encode()) for k, v in headers.items()])
                    for topic, key, value, headers in encoded]
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
                topic, value=value, key=key, headers=[(k, v.encode()) for k, v in headers.items()])
        except KafkaError as exc:
            raise PublishError(f"Kafka did not accept an event on {topic}: {exc!r}") from exc

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

    def subscribe_batch(self, topic: str, group: str, handler: BatchHandler, *, max_batch: int = 500,
                        max_attempts: int = 3) -> None:
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
            bootstrap_servers=self.bootstrap, client_id=self.client_id, group_id=group,
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=max_poll,
            request_timeout_ms=self._request_timeout_ms, session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=max(self._session_timeout_ms // 3, 100),
        )
        busy = asyncio.Lock()
        consumer.subscribe(list(self._groups[group]), listener=_WaitForBatch(busy))
        await consumer.start()
        self._consumers[group] = consumer
        task = asyncio.create_task(self._consume(group, consumer, busy), name=f"bk-kafka-{group}")
        self._tasks.append(task)

    async def _consume(self, group: str, consumer: AIOKafkaConsumer, busy: asyncio.Lock) -> None:
        seen = RecentIds(self._dedupe_capacity)
        subs = self._groups[group].values()
        fill = max((s.max_batch for s in subs if s.batch_handler is not None), default=0)
        while not self._stopping.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            if not batches:
                continue
            if fill:
                await self._top_up(consumer, batches, fill)
            async with busy:
                await asyncio.gather(*(self._partition(group, consumer, tp, msgs, seen)
                                       for tp, msgs in batches.items()))

    async def _top_up(self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[ConsumerRecord]],
                      fill: int) -> None:
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

    async def _partition(self, group: str, consumer: AIOKafkaConsumer, tp: TopicPartition,
                         messages: list[ConsumerRecord], seen: RecentIds) -> None:
        sub = self._groups[group][tp.topic]
        if sub.batch_handler is not None:
            await self._partition_batches(group, consumer, tp, messages, seen, sub)
            return
        assert sub.handler is not None
        done: int | None = None
        try:
            for msg in messages:
                record = _record(msg)
                if self._stopping.is_set() or not await handle_record(
                    record, group=group, handler=sub.handler, max_attempts=sub.max_attempts, seen=seen,
                    wait_retry=self._wait_retry, dead_letter=partial(self._dead_letter, group),
                ):
                    consumer.seek(tp, msg.offset)  # the fetch moved past it: read it again later
                    break
                done = msg.offset + 1
        finally:
            if done is not None:  # handlers that returned stay done, even if a later one crashed
                await self._commit(consumer, tp, done)

    async def _partition_batches(self, group: str, consumer: AIOKafkaConsumer, tp: TopicPartition,
                                 messages: list[ConsumerRecord], seen: RecentIds, sub: _Subscription) -> None:
        assert sub.batch_handler is not None
        done: int | None = None
        try:
            for i in range(0, len(messages), sub.max_batch):
                chunk = messages[i:i + sub.max_batch]
                finished = 0 if self._stopping.is_set() else await handle_batch(
                    [_record(m) for m in chunk], group=group, handler=sub.batch_handler,
                    max_attempts=sub.max_attempts, seen=seen, wait_retry=self._wait_retry,
                    dead_letter=partial(self._dead_letter, group),
                )
                if finished:
                    done = chunk[finished - 1].offset + 1
                if finished < len(chunk):
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
        headers = dead_letter_headers(record, group=group, error=error, attempts=attempts)
        attempt = 0
        while True:  # a dead letter must land before the offset moves on, so keep trying
            try:
                await self._send(dead_letter_topic(record.topic), record.key, record.value, headers)
                return True
            except PublishError as exc:
                attempt += 1
                log.error("dead-lettering %s[%d]@%d failed: %s", record.topic, record.partition,
                          record.offset, exc)
                if not await self._wait_retry(attempt):
                    return False

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
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, client_id=self.client_id,
                                    group_id=None, enable_auto_commit=False)
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



def _record(msg: ConsumerRecord) -> Record:
    headers = {k: v.decode(errors="replace") for k, v in msg.headers}
    return Record(msg.topic, msg.partition, msg.offset, msg.key or b"", msg.value or b"", headers)
