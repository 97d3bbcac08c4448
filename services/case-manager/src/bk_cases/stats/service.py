"""Statistics data functions: load the facts the pure rules (``stats.rules``) work on, store the
inputs that arrive as events, and remember what was published."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.cases import service as cases
from bk_cases.cases.models import Case
from bk_cases.directory.models import Site, Tenant
from bk_cases.stats import rules
from bk_cases.stats.models import LedgerDayRecord, PublishedScore, SiteRating
from bk_cases.stats.rules import CaseFact, LedgerDay, Ratings, ScoringRules, SiteInputs
from bkcore.auth import Principal

_CASE_COLS = (
    Case.site_id,
    Case.org_path,
    Case.case_type,
    Case.source,
    Case.risk_class,
    Case.created_at,
    Case.closed_at,
    Case.verdict,
    Case.card_level,
    Case.deadline,
)


async def case_facts(
    *,
    db_session: AsyncSession,
    principal: Principal | None,
    tenant_id: str | None = None,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
    site_id: str | None = None,
    case_type: str | None = None,
) -> list[CaseFact]:
    """Cases created in [since, until): in ``principal``'s scope, or a whole tenant's (publishing)."""
    if principal is not None:
        stmt = cases.scoped(select(*_CASE_COLS), principal)
    else:
        stmt = select(*_CASE_COLS).where(Case.tenant_id == tenant_id)
    if since is not None:
        stmt = stmt.where(Case.created_at >= since)
    if until is not None:
        stmt = stmt.where(Case.created_at < until)
    if site_id:
        stmt = stmt.where(Case.site_id == site_id)
    if case_type:
        stmt = stmt.where(Case.case_type == case_type)
    rows = (await db_session.execute(stmt)).all()
    return [
        CaseFact(
            site_id=r.site_id,
            org_path=r.org_path,
            case_type=r.case_type,
            source=r.source,
            risk_class=r.risk_class,
            created_at=r.created_at,
            closed_at=r.closed_at,
            verdict=r.verdict,
            card_level=r.card_level,
            # overdue: carded, or past the deadline and still open (or closed after it)
            overdue=r.card_level > 0 or (r.deadline is not None and (r.closed_at or now) > r.deadline),
        )
        for r in rows
    ]


async def tenant_rules(*, db_session: AsyncSession, tenant_id: str) -> tuple[ScoringRules, ZoneInfo]:
    """The tenant's scoring rules and timezone, from its record (defaults where it sets none)."""
    row = (
        await db_session.execute(select(Tenant.timezone, Tenant.score_rules).where(Tenant.id == tenant_id))
    ).first()
    if row is None:
        return ScoringRules(), rules.tz_of("Asia/Shanghai")
    return ScoringRules.from_mapping(row.score_rules), rules.tz_of(row.timezone or "Asia/Shanghai")


async def set_tenant_rules(*, db_session: AsyncSession, tenant_id: str, overrides: dict[str, Any]) -> None:
    tenant = await db_session.get(Tenant, tenant_id)
    if tenant is None:
        raise LookupError(tenant_id)
    tenant.score_rules = overrides or None


async def tenant_ids(*, db_session: AsyncSession) -> list[str]:
    return list((await db_session.execute(select(Tenant.id).order_by(Tenant.id))).scalars())


async def tenant_sites(*, db_session: AsyncSession, tenant_id: str) -> dict[str, str]:
    """site id → org path, every site of the tenant (a clean site is scored too)."""
    rows = await db_session.execute(
        select(Site.id, Site.org_path).where(Site.tenant_id == tenant_id).order_by(Site.id)
    )
    return {r.id: r.org_path for r in rows}


def local_days(since: datetime, until: datetime, tz: ZoneInfo) -> tuple[str, str]:
    """The local days [first, last) that [since, until) covers, as ISO strings."""
    return since.astimezone(tz).date().isoformat(), until.astimezone(tz).date().isoformat()


async def ledger_days(
    *,
    db_session: AsyncSession,
    tenant_id: str,
    first_day: str,
    end_day: str,
    org_paths: dict[str, str],
    site_id: str | None = None,
) -> list[LedgerDay]:
    """Completeness of the local days [first_day, end_day) of the sites in ``org_paths``."""
    stmt = select(LedgerDayRecord).where(
        LedgerDayRecord.tenant_id == tenant_id,
        LedgerDayRecord.day >= first_day,
        LedgerDayRecord.day < end_day,
    )
    if site_id:
        stmt = stmt.where(LedgerDayRecord.site_id == site_id)
    rows = (await db_session.execute(stmt.order_by(LedgerDayRecord.site_id, LedgerDayRecord.day))).scalars()
    return [
        LedgerDay(r.site_id, org_paths[r.site_id], r.day, r.score, dict(r.items or {}))
        for r in rows
        if r.site_id in org_paths
    ]


async def site_ratings(
    *, db_session: AsyncSession, tenant_id: str, since: datetime, until: datetime
) -> dict[str, Ratings]:
    rows = await db_session.execute(
        select(SiteRating.site_id, SiteRating.score).where(
            SiteRating.tenant_id == tenant_id, SiteRating.rated_at >= since, SiteRating.rated_at < until
        )
    )
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        counts[r.site_id][r.score] += 1
    return {sid: Ratings(c["satisfied"], c["neutral"], c["dissatisfied"]) for sid, c in counts.items()}


async def score_inputs(
    *, db_session: AsyncSession, tenant_id: str, since: datetime, until: datetime, now: datetime, tz: ZoneInfo
) -> list[SiteInputs]:
    """Every site's inputs for the window [since, until): cases, ledger days, ratings."""
    org_paths = await tenant_sites(db_session=db_session, tenant_id=tenant_id)
    facts = await case_facts(
        db_session=db_session, principal=None, tenant_id=tenant_id, since=since, until=until, now=now
    )
    first, end = local_days(since, until, tz)
    days = await ledger_days(
        db_session=db_session, tenant_id=tenant_id, first_day=first, end_day=end, org_paths=org_paths
    )
    votes = await site_ratings(db_session=db_session, tenant_id=tenant_id, since=since, until=until)
    by_site: dict[str, list[CaseFact]] = defaultdict(list)
    for f in facts:
        by_site[f.site_id].append(f)
    days_by_site: dict[str, list[LedgerDay]] = defaultdict(list)
    for d in days:
        days_by_site[d.site_id].append(d)
    return [
        SiteInputs(
            site_id=sid,
            org_path=path,
            facts=by_site.get(sid, []),
            ledger_days=days_by_site.get(sid, []),
            ratings=votes.get(sid, Ratings()),
        )
        for sid, path in org_paths.items()
    ]


async def record_rating(
    *,
    db_session: AsyncSession,
    tenant_id: str,
    rating_id: str,
    site_id: str,
    score: str,
    day: str,
    rated_at: datetime,
) -> None:
    if await db_session.get(SiteRating, (tenant_id, rating_id)) is None:
        db_session.add(
            SiteRating(
                tenant_id=tenant_id,
                rating_id=rating_id,
                site_id=site_id,
                score=score,
                day=day,
                rated_at=rated_at,
            )
        )


async def record_ledger_day(
    *,
    db_session: AsyncSession,
    tenant_id: str,
    site_id: str,
    day: str,
    score: float,
    items: dict[str, float],
    reported_at: datetime,
) -> bool:
    """Keep the latest report of a site-day; False when an older report arrived late (ignored)."""
    row = await db_session.get(LedgerDayRecord, (tenant_id, site_id, day))
    if row is None:
        db_session.add(
            LedgerDayRecord(
                tenant_id=tenant_id,
                site_id=site_id,
                day=day,
                score=score,
                items=items,
                reported_at=reported_at,
            )
        )
        return True
    if row.reported_at > reported_at:
        return False
    row.score, row.items, row.reported_at = score, items, reported_at
    return True


async def published(*, db_session: AsyncSession, tenant_id: str) -> dict[str, PublishedScore]:
    rows = await db_session.execute(select(PublishedScore).where(PublishedScore.tenant_id == tenant_id))
    return {r.site_id: r for r in rows.scalars()}


async def mark_published(
    *,
    db_session: AsyncSession,
    known: dict[str, PublishedScore],
    tenant_id: str,
    site_id: str,
    fingerprint: str,
    at: datetime,
) -> None:
    row = known.get(site_id)
    if row is None:
        db_session.add(
            PublishedScore(tenant_id=tenant_id, site_id=site_id, fingerprint=fingerprint, published_at=at)
        )
    else:
        row.fingerprint, row.published_at = fingerprint, at
