"""Retention of the messaging tables: published outbox rows and old inbox rows are deleted, in bounded
batches, every ``interval_s`` (the outbox relay runs it beside itself).

- ``bus_outbox``: a row is needed until it is published; after that it is only a record of what went
  out. Unpublished rows are never deleted, whatever their age (an outage must not lose events).
- ``bus_inbox``: a row is what makes a redelivered event a no-op, so it must outlive every way an
  event can come back: the broker's redelivery after a crash or a rebalance (minutes), a consumer
  group reset to the earliest offset (as old as the topic's retention: 7 days in the chart, 168 h),
  and a dead letter replayed with ``brightkitchen dlq replay`` (kept for the DLQ topic's retention,
  the same 7 days). The default, 30 days, is four times the longest of them; the deploy tests hold
  the chart's Kafka retention under half of it. Embedded, the bus keeps dead letters for good:
  replay there what is younger than the inbox retention.

``0`` days keeps a table for good. Each batch is its own short transaction, so retention never holds
locks that the relay or a consumer waits on for long; several replicas may run it at once (a row
deleted twice is deleted once).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge
from sqlalchemy import Table, delete, func, select, tuple_

from bkcore.tasks import BackgroundLoop

if TYPE_CHECKING:
    from bkcore.db import Database
    from bkcore.settings import CoreSettings

log = logging.getLogger(__name__)

RETENTION_DELETED = Counter(
    "bk_bus_retention_deleted_total", "messaging rows deleted by retention", ["service", "table"]
)
OUTBOX_PENDING = Gauge("bk_bus_outbox_pending", "outbox rows not yet published", ["service"])


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long published outbox rows and inbox rows are kept (days; 0 = for good)."""

    service: str
    outbox_days: float = 7.0
    inbox_days: float = 30.0
    interval_s: float = 3600.0
    batch: int = 5000

    @classmethod
    def from_settings(cls, settings: CoreSettings) -> RetentionPolicy:
        return cls(
            service=settings.service_name,
            outbox_days=settings.outbox_retention_days,
            inbox_days=settings.inbox_retention_days,
            interval_s=settings.retention_interval_s,
        )


@dataclass(frozen=True, slots=True)
class Swept:
    """One run's outcome: rows deleted from each table, and outbox rows still waiting to go out."""

    outbox: int
    inbox: int
    pending: int


class MessagingRetention:
    """Deletes what ``policy`` lets go from one service's ``bus_outbox`` and ``bus_inbox``."""

    def __init__(self, db: Database, outbox: Table, inbox: Table, policy: RetentionPolicy) -> None:
        self._db, self._outbox, self._inbox, self.policy = db, outbox, inbox, policy
        self._loop = BackgroundLoop(
            "bus-retention", self._step, interval_s=policy.interval_s, error_delay_s=policy.interval_s
        )
        self._deleted = {
            name: RETENTION_DELETED.labels(policy.service, name) for name in ("bus_outbox", "bus_inbox")
        }
        self._pending = OUTBOX_PENDING.labels(policy.service)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def run_once(self, now: datetime | None = None) -> Swept:
        """Delete everything due at ``now`` (batch after batch); returns what was done."""
        now = now or datetime.now(UTC)
        outbox = inbox = 0
        while (n := await self._outbox_batch(now)) > 0:  # a short batch was the last one
            outbox += n
            if n < self.policy.batch:
                break
        while (n := await self._inbox_batch(now)) > 0:
            inbox += n
            if n < self.policy.batch:
                break
        return Swept(outbox=outbox, inbox=inbox, pending=await self._count_pending())

    async def _step(self) -> bool:
        swept = await self.run_once()
        if swept.outbox or swept.inbox:
            done = {"outbox_deleted": swept.outbox, "inbox_deleted": swept.inbox, "pending": swept.pending}
            log.info("messaging retention", extra=done)
        return False  # run_once went on until nothing was due: wait for the next interval

    async def _outbox_batch(self, now: datetime) -> int:
        if self.policy.outbox_days <= 0:
            return 0
        t = self._outbox
        cutoff = now - timedelta(days=self.policy.outbox_days)
        due = select(t.c.id).where(t.c.published_at < cutoff).order_by(t.c.id).limit(self.policy.batch)
        return await self._delete(delete(t).where(t.c.id.in_(due)), "bus_outbox")

    async def _inbox_batch(self, now: datetime) -> int:
        if self.policy.inbox_days <= 0:
            return 0
        t = self._inbox
        cutoff = now - timedelta(days=self.policy.inbox_days)
        due = select(t.c.consumer, t.c.event_id).where(t.c.handled_at < cutoff).limit(self.policy.batch)
        return await self._delete(delete(t).where(tuple_(t.c.consumer, t.c.event_id).in_(due)), "bus_inbox")

    async def _delete(self, stmt, table: str) -> int:  # type: ignore[no-untyped-def]
        async with self._db.session() as session:
            n = (await session.execute(stmt)).rowcount or 0
        self._deleted[table].inc(n)
        return n

    async def _count_pending(self) -> int:
        t = self._outbox
        async with self._db.session() as session:
            n = int(await session.scalar(select(func.count()).where(t.c.published_at.is_(None))) or 0)
        self._pending.set(n)
        return n
