"""Statistics data functions: load the caller's case facts for a period."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.cases import service as cases
from bk_cases.cases.models import Case
from bk_cases.stats.rules import CaseFact
from bkcore.auth import Principal


async def case_facts(
    *,
    db_session: AsyncSession,
    principal: Principal,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
    site_id: str | None = None,
    case_type: str | None = None,
) -> list[CaseFact]:
    cols = (
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
    stmt = cases.scoped(select(*cols), principal)
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
