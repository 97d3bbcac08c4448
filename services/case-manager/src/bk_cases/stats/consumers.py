"""Score inputs that arrive as events, and the loop that keeps ``site_scores.v1`` current.

``ratings.v1`` (public-api) and ``ledger.completeness.v1`` (ledger) are stored exactly once
(inbox claim in the same transaction, ``cases.consumers.handler``); they, every ``cases.v1`` change
and every ``directory.v1`` change mark the tenant for re-scoring. The publisher re-scores marked
tenants every ``score_publish_s`` and every tenant every ``score_refresh_s``.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.cases.consumers import handler
from bk_cases.context import Context
from bk_cases.stats import service as stats
from bk_cases.stats.flows import publish_tenant
from bkcore.bus.base import Delivery
from bkcore.tasks import BackgroundLoop
from bkproto.events.v1.site_scores_pb2 import LedgerCompleteness, SiteRated

log = logging.getLogger(__name__)
SCORES_GROUP_SUFFIX = "-scores"  # the group that only marks tenants (no inbox: marking is idempotent)
_RATINGS = frozenset({"satisfied", "neutral", "dissatisfied"})


class ScorePublisher:
    """Re-scores tenants whose inputs changed, and all of them now and then."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._dirty: set[str] = set()
        self._last_full = float("-inf")
        self.loop = BackgroundLoop(
            "site-scores", self._step, interval_s=ctx.settings.score_publish_s, error_delay_s=5.0
        )

    def mark(self, tenant_id: str) -> None:
        if tenant_id:
            self._dirty.add(tenant_id)

    async def publish(self, tenant_ids: list[str] | None = None) -> int:
        """Re-score ``tenant_ids`` (default: every tenant) now; returns the scores enqueued."""
        if tenant_ids is None:
            async with self.ctx.db.session() as s:
                tenant_ids = await stats.tenant_ids(db_session=s)
        republish = timedelta(seconds=self.ctx.settings.score_republish_s)
        sent, failed = 0, []
        for tenant_id in tenant_ids:
            try:
                sent += await publish_tenant(self.ctx, tenant_id, republish_after=republish)
            except Exception as exc:  # one tenant's failure must not hold the others back
                self._dirty.add(tenant_id)  # tried again at the next step
                failed.append((tenant_id, exc))
        if failed:
            tenant_id, exc = failed[0]
            raise RuntimeError(f"re-scoring failed for {len(failed)} tenant(s), first {tenant_id!r}") from exc
        return sent

    async def _step(self) -> None:
        full = time.monotonic() - self._last_full >= self.ctx.settings.score_refresh_s
        dirty, self._dirty = self._dirty, set()
        if full:
            await self.publish(None)
            self._last_full = time.monotonic()
        elif dirty:
            await self.publish(sorted(dirty))


async def _on_rating(publisher: ScorePublisher, session: AsyncSession, d: Delivery) -> None:
    e: SiteRated = d.event  # type: ignore[assignment]
    if e.score not in _RATINGS or not e.site_id or not e.rating_id:
        raise ValueError(f"ratings.v1: bad rating {e.rating_id!r} ({e.score!r}) for site {e.site_id!r}")
    await stats.record_rating(
        db_session=session,
        tenant_id=d.tenant_id,
        rating_id=e.rating_id,
        site_id=e.site_id,
        score=e.score,
        day=e.day,
        rated_at=e.meta.occurred_at.ToDatetime(tzinfo=UTC),
    )
    publisher.mark(d.tenant_id)


async def _on_completeness(publisher: ScorePublisher, session: AsyncSession, d: Delivery) -> None:
    e: LedgerCompleteness = d.event  # type: ignore[assignment]
    if not e.site_id or len(e.day) != 10 or not 0.0 <= e.score <= 100.0:
        raise ValueError(f"ledger.completeness.v1: bad report {e.site_id!r} {e.day!r} {e.score!r}")
    changed = await stats.record_ledger_day(
        db_session=session,
        tenant_id=d.tenant_id,
        site_id=e.site_id,
        day=e.day,
        score=e.score,
        items=dict(e.items),
        reported_at=e.meta.occurred_at.ToDatetime(tzinfo=UTC),
    )
    if changed:
        publisher.mark(d.tenant_id)


def subscribe(ctx: Context, publisher: ScorePublisher) -> None:
    bus, group = ctx.runtime.bus, ctx.settings.consumer_group

    def stored(body):  # type: ignore[no-untyped-def]
        async def run(c: Context, session: AsyncSession, d: Delivery) -> None:
            await body(publisher, session, d)

        return handler(ctx, run)

    bus.subscribe("ratings.v1", group, stored(_on_rating), max_attempts=5)
    bus.subscribe("ledger.completeness.v1", group, stored(_on_completeness), max_attempts=5)

    async def mark(d: Delivery) -> None:
        publisher.mark(d.tenant_id)

    for topic in ("cases.v1", "directory.v1"):
        bus.subscribe(topic, group + SCORES_GROUP_SUFFIX, mark)
