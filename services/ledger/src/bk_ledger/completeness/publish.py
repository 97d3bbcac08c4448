"""Completeness → ``ledger.completeness.v1``: the case-manager's risk score input (台账完整率).

Every ``completeness_publish_s`` each site's last ``LOOKBACK_DAYS`` finished local days are measured
(late entries still count), and a day is sent when its figure differs from what this process sent
last (after a restart each is sent once more; the case-manager keeps the latest). A day without a
single ledger record is a day the kitchen did not open (weekends, school holidays) and is not
reported: missing records on an opening day are the morning-check and sample rules' findings.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.common.context import LedgerContext
from bk_ledger.completeness import rules
from bk_ledger.completeness.models import Completeness, DayCounts
from bk_ledger.completeness.service import day_counts
from bk_ledger.db import outbox
from bk_ledger.sites.models import SiteInfo
from bk_ledger.sites.service import list_sites
from bkcore.bus import new_meta
from bkcore.db import enqueue_event
from bkcore.tasks import BackgroundLoop
from bkproto.events.v1.site_scores_pb2 import LedgerCompleteness

log = logging.getLogger(__name__)
TOPIC = "ledger.completeness.v1"
LOOKBACK_DAYS = 2  # yesterday and the day before


def opened(c: DayCounts) -> bool:
    """Whether anything at all was recorded that day (pure)."""
    return bool(
        c.staff_checked
        or c.meals_served
        or c.samples
        or c.disinfections
        or c.pesticide_tests
        or c.accompanied_meals
    )


def to_event(site: SiteInfo, day: date, result: Completeness, now: datetime) -> LedgerCompleteness:
    return LedgerCompleteness(
        meta=new_meta(tenant_id=site.tenant_id, key=site.site_id, producer="ledger", occurred_at=now),
        site_id=site.site_id,
        day=day.isoformat(),
        score=result.score,
        items=result.items,
        gaps=result.gaps,
    )


class CompletenessPublisher:
    def __init__(self, ctx: LedgerContext) -> None:
        self.ctx = ctx
        self._sent: dict[tuple[str, str, str], tuple[float, tuple[tuple[str, float], ...]]] = {}
        interval = ctx.settings.completeness_publish_s
        self.loop = BackgroundLoop(
            "ledger-completeness", self.publish_once, interval_s=interval, initial_delay_s=min(interval, 60.0)
        )

    async def publish_once(self) -> int:
        """Measure and send what changed; returns how many days were sent."""
        now = self.ctx.now()
        async with self.ctx.db.session() as s:
            sites = await list_sites(s)
        sent = 0
        for site in sites:
            try:
                async with self.ctx.db.session() as s:
                    done = await self._site(s, site, now)
                self._sent.update(done)  # only once committed
                sent += len(done)
            except Exception:
                log.exception(
                    "completeness failed for a site",
                    extra={"tenant_id": site.tenant_id, "site_id": site.site_id},
                )
        oldest = (now - timedelta(days=LOOKBACK_DAYS + 2)).date().isoformat()
        self._sent = {k: v for k, v in self._sent.items() if k[2] >= oldest}
        if sent:
            self.ctx.alerts_written()  # wakes the outbox relay
        return sent

    async def _site(self, s: AsyncSession, site: SiteInfo, now: datetime) -> dict:  # type: ignore[type-arg]
        today = now.astimezone(ZoneInfo(site.timezone)).date()
        done = {}
        for back in range(1, LOOKBACK_DAYS + 1):
            day = today - timedelta(days=back)
            counts = await day_counts(s, site, day)
            if not opened(counts):
                continue
            result = rules.score(counts, is_school=site.is_school)
            key = (site.tenant_id, site.site_id, day.isoformat())
            value = (result.score, tuple(sorted(result.items.items())))
            if self._sent.get(key) == value:
                continue
            await enqueue_event(s, outbox, TOPIC, to_event(site, day, result, now))
            done[key] = value
        return done
