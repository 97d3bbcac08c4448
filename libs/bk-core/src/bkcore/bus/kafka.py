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
    Handler,
    PublishError,
    RecentIds,
    Record,
    check_topic,
    dead_letter_headers,
    dead_letter_topic,
    encode_event,
    finish_tasks,
    handle_record,
)

log = logging.getLogger("bkcore.bus.kafka")
_TOPIC_ALREADY_EXISTS = 36


@dataclass(slots=True)
class _Subscription:
    topic: str
    handler: Handler
    max_attempts: int


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
                 session_timeout_ms: int = 10_000, stop_timeout_s: float = 15.0) -> None:
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

    async def _start_group(self, group: str) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, client_id=self.client_id, group_id=group,
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=self._max_poll_records,
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
        while not self._stopping.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            if not batches:
                continue
            async with busy:
                await asyncio.gather(*(self._partition(group, consumer, tp, msgs, seen)
                                       for tp, msgs in batches.items()))

    async def _partition(self, group: str, consumer: AIOKafkaConsumer, tp: TopicPartition,
                         messages: list[ConsumerRecord], seen: RecentIds) -> None:
        sub = self._groups[group][tp.topic]
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
