"""Scoring a tenant and publishing ``site_scores.v1``: the one place the public figures are made.

``tenant_scores`` is what the API answers and what the publisher sends, so the console, the public
API and the mini-program cannot disagree. ``publish_tenant`` sends a site's score only when it
changed (or when the last send is older than ``republish_after``), in the same transaction that
remembers it (outbox), so a crash neither loses nor doubles a change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.context import Context
from bk_cases.db import enqueue
from bk_cases.stats import rules
from bk_cases.stats import service as stats
from bk_cases.stats.rules import Placement, ScoringRules, SiteScore
from bkcore.bus.base import new_meta
from bkproto.events.v1.site_scores_pb2 import SiteScore as SiteScoreEvent

TOPIC = "site_scores.v1"
PRODUCER = "case-manager"
#: Scores sent (changed, or due again); a tenant whose inputs change but whose count stands still
#: is one the publisher cannot score (its errors are logged by the loop, ``site-scores``).
SCORES_PUBLISHED = Counter(
    "bk_cases_site_scores_published_total", "site_scores.v1 events enqueued, per tenant", ["tenant"]
)


@dataclass(frozen=True, slots=True)
class TenantScores:
    rules: ScoringRules
    tz: ZoneInfo
    since: datetime
    until: datetime
    scores: list[SiteScore]
    placements: dict[str, Placement]


async def tenant_scores(
    session: AsyncSession,
    *,
    tenant_id: str,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
) -> TenantScores:
    """Every site's score and list place over [since, until) — by default the tenant's rolling window."""
    scoring, tz = await stats.tenant_rules(db_session=session, tenant_id=tenant_id)
    if since is None or until is None:
        since, until = rules.window(now, scoring)
    inputs = await stats.score_inputs(
        db_session=session, tenant_id=tenant_id, since=since, until=until, now=now, tz=tz
    )
    scores = [rules.risk_score(i, scoring) for i in inputs]
    placements = {p.site_id: p for p in rules.red_black_list(scores, scoring)}
    return TenantScores(scoring, tz, since, until, scores, placements)


def score_event(
    tenant_id: str, s: SiteScore, p: Placement, *, since: datetime, until: datetime, digest: str, at: datetime
) -> SiteScoreEvent:
    ev = SiteScoreEvent(
        meta=new_meta(tenant_id=tenant_id, key=s.site_id, producer=PRODUCER, occurred_at=at),
        site_id=s.site_id,
        org_path=s.org_path,
        score=s.score,
        grade=s.grade,
        inspection_frequency=s.inspection_frequency,
        list=p.list,
        rank=p.rank,
        list_reason=p.reason,
        violations=s.violations,
        complaints=s.complaints,
        ledger_findings=s.ledger_findings,
        overdue=s.overdue,
        mean_close_h=s.mean_close_h if s.mean_close_h is not None else -1.0,
        ledger_completeness=s.ledger_completeness if s.ledger_completeness is not None else -1.0,
        ledger_days=s.ledger_days,
        ratings_satisfied=s.ratings.satisfied,
        ratings_neutral=s.ratings.neutral,
        ratings_dissatisfied=s.ratings.dissatisfied,
        deductions=s.deductions,
        rules_version=digest,
    )
    ev.window_start.FromDatetime(since)
    ev.window_end.FromDatetime(until)
    return ev


def fingerprint(ev: SiteScoreEvent) -> str:
    """What a reader would see change: everything but the event's identity and the sliding window."""
    body = SiteScoreEvent()
    body.CopyFrom(ev)
    body.ClearField("meta")
    body.ClearField("window_start")
    body.ClearField("window_end")
    return hashlib.sha256(body.SerializeToString(deterministic=True)).hexdigest()


async def publish_tenant(ctx: Context, tenant_id: str, *, republish_after: timedelta) -> int:
    """Score the tenant now and enqueue ``site_scores.v1`` for every site whose figures changed;
    returns how many were enqueued."""
    now = ctx.runtime.clock.now()
    async with ctx.db.session() as session:
        ts = await tenant_scores(session, tenant_id=tenant_id, now=now)
        known = await stats.published(db_session=session, tenant_id=tenant_id)
        digest, sent = ts.rules.digest(), 0
        for s in ts.scores:
            ev = score_event(
                tenant_id, s, ts.placements[s.site_id], since=ts.since, until=ts.until, digest=digest, at=now
            )
            fp, last = fingerprint(ev), known.get(s.site_id)
            if last is not None and last.fingerprint == fp and now - last.published_at < republish_after:
                continue
            await enqueue(session, TOPIC, ev)
            await stats.mark_published(
                db_session=session,
                known=known,
                tenant_id=tenant_id,
                site_id=s.site_id,
                fingerprint=fp,
                at=now,
            )
            sent += 1
    if sent:
        SCORES_PUBLISHED.labels(tenant_id).inc(sent)
        ctx.wake_relay()
    return sent
