"""Routes: loop statistics, site risk scores and the monthly red/black list."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.context import Context
from bk_cases.deps import SUPERVISING, db_session, get_ctx, roles
from bk_cases.directory import service as directory
from bk_cases.stats import rules
from bk_cases.stats.service import case_facts
from bkcore.auth import Principal
from bkcore.inputs import Instant, Month, month_bounds

router = APIRouter(prefix="/stats", tags=["statistics"])


@router.get("/summary", summary="Captured, handled, closure rate, time to close, overdue — grouped")
async def summary(
    group_by: str = Query("none", description="none, org_unit, district, site, type, day, month, risk_class"),
    since: Instant | None = None,
    until: Instant | None = None,
    site_id: str | None = None,
    case_type: str | None = None,
    p: Principal = Depends(roles(*SUPERVISING)),
    ctx: Context = Depends(get_ctx),
    session: AsyncSession = Depends(db_session),
) -> dict[str, Any]:
    key = rules.org_level_key(2) if group_by == "district" else rules.GROUPINGS.get(group_by)
    if key is None:
        raise HTTPException(422, detail=f"group_by must be one of {[*rules.GROUPINGS, 'district']}")
    facts = await case_facts(
        db_session=session,
        principal=p,
        since=since,
        until=until,
        now=ctx.runtime.clock.now(),
        site_id=site_id,
        case_type=case_type,
    )
    return {"group_by": group_by, "groups": [asdict(g) for g in rules.group(facts, key)]}


async def _scores(session: AsyncSession, p: Principal, ctx: Context, month: str) -> list[rules.SiteScore]:
    start, end = month_bounds(month)
    facts = await case_facts(
        db_session=session, principal=p, since=start, until=end, now=ctx.runtime.clock.now()
    )
    by_site: dict[str, list[rules.CaseFact]] = defaultdict(list)
    for f in facts:
        by_site[f.site_id].append(f)
    sites = await directory.list_sites(db_session=session, principal=p)  # clean sites score 100
    return [rules.risk_score(s.id, by_site.get(s.id, [])) for s in sites]


@router.get("/risk-scores", summary="Site risk score (食安指数) for a month")
async def risk_scores(
    month: Month,
    p: Principal = Depends(roles(*SUPERVISING)),
    ctx: Context = Depends(get_ctx),
    session: AsyncSession = Depends(db_session),
) -> list[dict[str, Any]]:
    return [asdict(s) for s in sorted(await _scores(session, p, ctx, month), key=lambda s: s.score)]


@router.get("/red-black-list", summary="Monthly red list (best) and black list (worst), 红黑榜")
async def red_black(
    month: Month,
    size: int = Query(10, ge=1, le=100),
    p: Principal = Depends(roles(*SUPERVISING)),
    ctx: Context = Depends(get_ctx),
    session: AsyncSession = Depends(db_session),
) -> dict[str, Any]:
    red, black = rules.red_black_list(await _scores(session, p, ctx, month), size=size)
    return {"month": month, "red": [asdict(s) for s in red], "black": [asdict(s) for s in black]}
