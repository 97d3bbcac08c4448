"""In-process bus for the embedded mode: Kafka's semantics over an SQLite log.

One SQLite database (a file, or memory when ``path`` is None) holds each topic's partitioned log and
each consumer group's committed offsets, so an event published but not yet handled survives a restart.
All SQLite work runs on one dedicated thread (one connection, no locking games); the event loop only
awaits it. Publishes are group-committed: while one transaction is being written, new publishes queue
up and go in the next one, so a busy process pays one transaction per batch, not per event. A
successful write wakes the consumers of the partitions it touched at once (no polling).

One process owns the file (SQLite's exclusive locking mode makes a second one fail loudly): services
that share a process share one instance (see ``bkcore.bus.factory``), and ``start``/``stop`` are
reference-counted for that reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf.message import Message

from bkcore.bus.base import (
    DEAD_LETTER_SUFFIX,
    DLQ_REPLAY_GROUP,
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

log = logging.getLogger("bkcore.bus.inproc")
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
  topic TEXT NOT NULL, part INTEGER NOT NULL, off INTEGER NOT NULL,
  key BLOB NOT NULL, value BLOB NOT NULL, headers TEXT NOT NULL,
  PRIMARY KEY (topic, part, off)) WITHOUT ROWID;
-- next offset per partition, kept apart from the log so pruning never makes offsets repeat
CREATE TABLE IF NOT EXISTS heads (
  topic TEXT NOT NULL, part INTEGER NOT NULL, next_off INTEGER NOT NULL, PRIMARY KEY (topic, part));
CREATE TABLE IF NOT EXISTS offsets (
  grp TEXT NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL, next_off INTEGER NOT NULL,
  PRIMARY KEY (grp, topic, part));
CREATE TABLE IF NOT EXISTS bus_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def partition_for(key: bytes, partitions: int) -> int:
    """Stable across processes and restarts (unlike ``hash``), so a key keeps its partition."""
    return zlib.crc32(key) % partitions


class _SqliteLog:
    """The storage side. Every method runs on the bus's single database thread."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._db: sqlite3.Connection | None = None
        self._heads: dict[tuple[str, int], int] = {}

    @property
    def db(self) -> sqlite3.Connection:
        assert self._db is not None, "log not open"
        return self._db

    def open(self, partitions: int) -> int:
        """Open (creating if needed); returns the partition count the log was created with."""
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        # A short busy timeout: the only contender would be a second process, which must fail fast.
        db = sqlite3.connect(
            self._path or ":memory:", timeout=1.0, check_same_thread=False, isolation_level=None
        )
        if self._path is not None:
            # Exclusive: a second process on the same file must fail, not interleave offsets.
            # WAL + synchronous=NORMAL survives a process crash; an OS crash may lose the last commits.
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        self._db = db
        db.execute("INSERT OR IGNORE INTO bus_settings VALUES ('partitions', ?)", (str(partitions),))
        (stored,) = db.execute("SELECT value FROM bus_settings WHERE name='partitions'").fetchone()
        return int(stored)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _head(self, topic: str, part: int) -> int:
        if (topic, part) not in self._heads:
            sql = "SELECT next_off FROM heads WHERE topic=? AND part=?"
            row = self.db.execute(sql, (topic, part)).fetchone()
            self._heads[(topic, part)] = row[0] if row else 0
        return self._heads[(topic, part)]

    def append(self, rows: list[tuple[str, int, bytes, bytes, str]]) -> None:
        """Append (topic, part, key, value, headers-json) rows in one transaction."""
        heads: dict[tuple[str, int], int] = {}
        out = []
        for topic, part, key, value, headers in rows:
            off = heads[(topic, part)] if (topic, part) in heads else self._head(topic, part)
            heads[(topic, part)] = off + 1
            out.append((topic, part, off, key, value, headers))
        with self._tx():
            self.db.executemany("INSERT INTO log VALUES (?,?,?,?,?,?)", out)
            self.db.executemany(
                "INSERT INTO heads VALUES (?,?,?) ON CONFLICT DO UPDATE SET next_off=excluded.next_off",
                [(t, p, n) for (t, p), n in heads.items()],
            )
        self._heads.update(heads)  # only once committed, so a failed write leaves no gap

    def read(self, topic: str, part: int, from_off: int, limit: int) -> list[Record]:
        rows = self.db.execute(
            "SELECT off, key, value, headers FROM log"
            " WHERE topic=? AND part=? AND off>=? ORDER BY off LIMIT ?",
            (topic, part, from_off, limit),
        ).fetchall()
        return [Record(topic, part, off, key, value, json.loads(h)) for off, key, value, h in rows]

    def read_topic(self, topic: str) -> list[Record]:
        rows = self.db.execute(
            "SELECT part, off, key, value, headers FROM log WHERE topic=? ORDER BY part, off", (topic,)
        ).fetchall()
        return [Record(topic, part, off, key, value, json.loads(h)) for part, off, key, value, h in rows]

    def committed(self, group: str, topic: str, part: int) -> int:
        """The group's next offset; a new group starts at the earliest retained event (like Kafka's
        auto_offset_reset=earliest), and is registered so pruning waits for it."""
        with self._tx():
            self.db.execute("INSERT OR IGNORE INTO offsets VALUES (?,?,?,0)", (group, topic, part))
            (off,) = self.db.execute(
                "SELECT next_off FROM offsets WHERE grp=? AND topic=? AND part=?", (group, topic, part)
            ).fetchone()
        return int(off)

    def commit(self, group: str, topic: str, part: int, next_off: int) -> None:
        with self._tx():
            self.db.execute(
                "UPDATE offsets SET next_off=? WHERE grp=? AND topic=? AND part=?",
                (next_off, group, topic, part),
            )
            if topic.endswith(DEAD_LETTER_SUFFIX):
                return  # dead letters are kept (to list and replay), even once replayed
            # Retention: drop what every known group has consumed.
            self.db.execute(
                "DELETE FROM log WHERE topic=? AND part=? AND off < "
                "(SELECT MIN(next_off) FROM offsets WHERE topic=? AND part=?)",
                (topic, part, topic, part),
            )

    def partitions_of(self, topic: str) -> list[int]:
        rows = self.db.execute("SELECT part FROM heads WHERE topic=? ORDER BY part", (topic,)).fetchall()
        return [part for (part,) in rows]

    def _tx(self) -> _Tx:
        return _Tx(self.db)


class _Tx:
    """COMMIT on success, ROLLBACK on error (the connection runs in autocommit mode otherwise)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")


@dataclass(slots=True)
class _Subscription:
    topic: str
    group: str
    handler: Handler | None
    max_attempts: int
    batch_handler: BatchHandler | None = None
    max_batch: int = 1


class InProcessBus:
    """The embedded-mode bus (see module docstring). ``path=None`` keeps everything in memory."""

    def __init__(
        self,
        path: Path | None = None,
        partitions: int = 4,
        *,
        batch_size: int = 500,
        retry_backoff_s: float = 0.05,
        retry_backoff_max_s: float = 2.0,
        outage_backoff_s: float = 0.5,
        outage_backoff_max_s: float = 10.0,
        dedupe_capacity: int = 10_000,
        stop_timeout_s: float = 10.0,
    ) -> None:
        if partitions < 1:
            raise ValueError("partitions must be >= 1")
        self.path = path
        self.partitions = partitions
        self._batch_size = batch_size
        self._backoff = (retry_backoff_s, retry_backoff_max_s)
        self._outages = Outages(backoff_s=outage_backoff_s, backoff_max_s=outage_backoff_max_s)
        self._dedupe_capacity = dedupe_capacity
        self._stop_timeout_s = stop_timeout_s
        self._log = _SqliteLog(path)
        self._subs: dict[tuple[str, str], _Subscription] = {}
        self._seen: dict[str, RecentIds] = {}
        self._users = 0
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[tuple[tuple[str, int, bytes, bytes, str], asyncio.Future[None]]] = []
        self._wakers: defaultdict[tuple[str, int], set[asyncio.Event]] = defaultdict(set)
        self._consumers: list[asyncio.Task[None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._accepting = False
        self._stopping = asyncio.Event()
        self._write_wanted = asyncio.Event()

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        self._users += 1
        if self._users > 1:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bk-bus-sqlite")
        try:
            stored = await self._run(self._log.open, self.partitions)
        except BaseException:
            self._users, executor, self._executor = 0, self._executor, None
            executor.shutdown(wait=False)
            raise
        if stored != self.partitions:
            log.warning(
                "bus log has %d partitions, not %d; keeping %d so keys keep their order",
                stored,
                self.partitions,
                stored,
            )
            self.partitions = stored
        self._stopping = asyncio.Event()
        self._write_wanted = asyncio.Event()
        self._accepting = True
        self._writer = asyncio.create_task(self._write_loop(), name="bk-bus-writer")
        for sub in self._subs.values():
            self._start_consumers(sub)

    async def stop(self) -> None:
        if self._users == 0:
            return
        self._users -= 1
        if self._users > 0:
            return
        # Consumers first (their handlers may still publish), then the writer drains, then the file.
        self._stopping.set()
        for wakers in self._wakers.values():
            for waker in wakers:
                waker.set()
        await finish_tasks(self._consumers, self._stop_timeout_s)
        self._consumers = []
        self._accepting = False
        self._write_wanted.set()
        if self._writer is not None:
            await finish_tasks([self._writer], self._stop_timeout_s)
        await self._run(self._log.close)
        assert self._executor is not None
        self._executor.shutdown(wait=True)
        self._executor = None

    @property
    def started(self) -> bool:
        """Started and not yet stopped: it can take a publish."""
        return self._executor is not None

    async def ready(self) -> bool:
        return self._accepting and not self._stopping.is_set() and not any(t.done() for t in self._consumers)

    def outages(self) -> list[OutageInfo]:
        return self._outages.current()

    # --- publishing -------------------------------------------------------------------------------

    async def publish(self, topic: str, event: Message) -> None:
        key, value, headers = encode_event(topic, event)
        await self.publish_raw(topic, key, value, headers)

    async def publish_raw(
        self, topic: str, key: bytes, value: bytes, headers: dict[str, str] | None = None
    ) -> None:
        check_topic(topic, allow_dlq=True)
        if not self._accepting:
            raise PublishError(f"in-process bus is not running; cannot publish to {topic}")
        await self._append(topic, key, value, headers or {})

    async def publish_many(self, items: Sequence[tuple[str, Message]]) -> None:
        """All of ``items`` in one queued write (so in one transaction, unless the writer is busy)."""
        encoded = [(topic, *encode_event(topic, event)) for topic, event in items]
        if not self._accepting:
            raise PublishError("in-process bus is not running; cannot publish")
        loop = asyncio.get_running_loop()
        futs: list[asyncio.Future[None]] = []
        for topic, key, value, headers in encoded:  # queued in order, written in order
            futs.append(loop.create_future())
            row = (topic, partition_for(key, self.partitions), key, value, json.dumps(headers))
            self._pending.append((row, futs[-1]))
        self._write_wanted.set()
        await asyncio.gather(*futs)

    async def _append(self, topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        row = (topic, partition_for(key, self.partitions), key, value, json.dumps(headers))
        self._pending.append((row, fut))
        self._write_wanted.set()
        await fut
        count_dead_letter(topic, headers)

    async def _write_loop(self) -> None:
        while True:
            await self._write_wanted.wait()
            self._write_wanted.clear()
            batch, self._pending = self._pending, []
            if not batch:
                if not self._accepting:
                    return
                continue
            try:
                await self._run(self._log.append, [row for row, _ in batch])
            except Exception as exc:
                log.exception("in-process bus write failed")
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(PublishError(f"in-process bus write failed: {exc}"))
                continue
            for _, fut in batch:
                if not fut.done():
                    fut.set_result(None)
            for topic, part in {(row[0], row[1]) for row, _ in batch}:
                for waker in self._wakers.get((topic, part), ()):
                    waker.set()

    # --- consuming --------------------------------------------------------------------------------

    def subscribe(self, topic: str, group: str, handler: Handler, *, max_attempts: int = 3) -> None:
        check_topic(topic)
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if (topic, group) in self._subs:
            raise ValueError(f"group {group!r} already subscribed to {topic}")
        self._add(_Subscription(topic, group, handler, max_attempts))

    def subscribe_batch(
        self, topic: str, group: str, handler: BatchHandler, *, max_batch: int = 500, max_attempts: int = 3
    ) -> None:
        check_topic(topic)
        if max_attempts < 1 or max_batch < 1:
            raise ValueError("max_attempts and max_batch must be >= 1")
        if (topic, group) in self._subs:
            raise ValueError(f"group {group!r} already subscribed to {topic}")
        self._add(_Subscription(topic, group, None, max_attempts, handler, max_batch))

    def _add(self, sub: _Subscription) -> None:
        self._subs[(sub.topic, sub.group)] = sub
        self._seen.setdefault(sub.group, RecentIds(self._dedupe_capacity))
        if self._accepting:  # a service joining a shared, already started bus
            self._start_consumers(sub)

    def _start_consumers(self, sub: _Subscription) -> None:
        for part in range(self.partitions):
            name = f"bk-bus-{sub.group}-{sub.topic}-{part}"
            self._consumers.append(asyncio.create_task(self._consume(sub, part), name=name))

    async def _consume(self, sub: _Subscription, part: int) -> None:
        waker = asyncio.Event()
        self._wakers[(sub.topic, part)].add(waker)
        seen = self._seen[sub.group]
        committed = pos = await self._run(self._log.committed, sub.group, sub.topic, part)

        async def dead_letter(record: Record, error: BaseException, attempts: int) -> bool:
            headers = dead_letter_headers(record, group=sub.group, error=error, attempts=attempts)
            await self._append(dead_letter_topic(record.topic), record.key, record.value, headers)
            return True

        one_batch = partial(
            handle_batch,
            group=sub.group,
            max_attempts=sub.max_attempts,
            seen=seen,
            wait_retry=self._wait_retry,
            dead_letter=dead_letter,
            outages=self._outages,
        )
        one_record = partial(
            handle_record,
            group=sub.group,
            max_attempts=sub.max_attempts,
            seen=seen,
            wait_retry=self._wait_retry,
            dead_letter=dead_letter,
            outages=self._outages,
        )
        try:
            while not self._stopping.is_set():
                waker.clear()  # before reading: a write landing after the read sets it again
                records = await self._run(self._log.read, sub.topic, part, pos, self._batch_size)
                if not records:
                    await waker.wait()
                    continue
                outcome = Outcome.DONE
                if sub.batch_handler is not None:
                    for i in range(0, len(records), sub.max_batch):
                        chunk = records[i : i + sub.max_batch]
                        if self._stopping.is_set():
                            break
                        done, outcome = await one_batch(chunk, handler=sub.batch_handler)
                        if done:
                            pos = chunk[done - 1].offset + 1
                        if outcome is not Outcome.DONE:
                            break
                else:
                    assert sub.handler is not None
                    for record in records:
                        if self._stopping.is_set():
                            break
                        outcome = await one_record(record, handler=sub.handler)
                        if outcome is not Outcome.DONE:
                            break
                        pos = record.offset + 1
                if pos != committed:  # one commit per batch: cheap under load, per event when idle
                    await self._run(self._log.commit, sub.group, sub.topic, part, pos)
                    committed = pos
                if outcome is Outcome.OUTAGE:  # this partition waits; the next read starts at pos again
                    await self._sleep(self._outages.wait_s(sub.topic, sub.group, part))
        finally:
            self._wakers[(sub.topic, part)].discard(waker)
            self._outages.forget(sub.topic, sub.group, part)
            if pos != committed:  # handlers that returned before a crash or cancel stay done
                await self._run(self._log.commit, sub.group, sub.topic, part, pos)

    async def _wait_retry(self, attempt: int) -> bool:
        base, cap = self._backoff
        return await self._sleep(min(base * 2 ** (attempt - 1), cap))

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless the bus stops first; False when it does."""
        try:
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        except TimeoutError:
            return True
        return False

    # --- operations ---------------------------------------------------------------------------------

    async def dead_letters(self, topic: str) -> list[Record]:
        """Dead letters of ``topic`` (or of ``topic`` naming the ``.dlq`` topic itself), oldest first."""
        dlq = topic if topic.endswith(DEAD_LETTER_SUFFIX) else dead_letter_topic(topic)
        check_topic(dlq, allow_dlq=True)
        return await self._run(self._log.read_topic, dlq)

    async def replayed_offsets(self, topic: str) -> dict[int, int]:
        """Per partition of ``topic``'s dead-letter topic, the offset ``dlq replay`` goes on from."""
        dlq = topic if topic.endswith(DEAD_LETTER_SUFFIX) else dead_letter_topic(topic)
        check_topic(dlq, allow_dlq=True)
        parts = await self._run(self._log.partitions_of, dlq)
        return {part: await self._run(self._log.committed, DLQ_REPLAY_GROUP, dlq, part) for part in parts}

    async def mark_replayed(self, topic: str, partition: int, next_offset: int) -> None:
        """Remember that dead letters of ``topic`` before ``next_offset`` on ``partition`` were replayed."""
        dlq = topic if topic.endswith(DEAD_LETTER_SUFFIX) else dead_letter_topic(topic)
        check_topic(dlq, allow_dlq=True)
        await self._run(self._log.commit, DLQ_REPLAY_GROUP, dlq, partition, next_offset)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise PublishError("in-process bus is not started")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
