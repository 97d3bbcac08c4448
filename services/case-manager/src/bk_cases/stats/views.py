"""Routes: loop statistics, ledger completeness, site risk scores, the red/black list, scoring rules.

Scores and lists are computed tenant-wide (``flows.tenant_scores``, the same call that publishes
``site_scores.v1``) and then narrowed to what the caller may see, so a district supervisor reads the
same numbers and the same list places as the public.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.context import Context
from bk_cases.deps import STAFF, SUPERVISING, db_session, get_ctx, roles
from bk_cases.stats import rules
from bk_cases.stats import service as stats
from bk_cases.stats.flows import TenantScores, tenant_scores
from bkcore.auth import Principal, Role
from bkcore.inputs import Instant, Month

router = APIRouter(prefix="/stats", tags=["statistics"])
_ID = Query(None, max_length=64, pattern=r"^[A-Za-z0-9_\-.]+$")


def _refused(exc: rules.RulesError, where: str = "query") -> HTTPException:
    return HTTPException(422, detail=[{"loc": [where, exc.field], "msg": exc.message, "type": "value_error"}])


@router.get("/summary", summary="Captured, handled, closure rate, time to close, overdue — grouped")
async def summary(
    group_by: str = Query(
        "none", description=f"one of {', '.join(rules.GROUPS)} (periods: tenant's timezone)"
    ),
    since: Instant | None = None,
    until: Instant | None = None,
    site_id: str | None = _ID,
    case_type: str | None = Query(None, max_length=64),
    p: Principal = Depends(roles(*SUPERVISING)),
    ctx: Context = Depends(get_ctx),
    session: AsyncSession = Depends(db_session),
) -> dict[str, Any]:
    _, tz = await stats.tenant_rules(db_session=session, tenant_id=p.tenant_id)
    try:
        key = rules.grouping(group_by, tz)
    except rules.RulesError as exc:
        raise _refused(exc) from None
    facts = await stats.case_facts(
        db_session=session,
        principal=p,
        since=since,
        until=until,
        now=ctx.runtime.clock.now(),
        site_id=site_id,
        case_type=case_type,
    )
    return {
        "group_by": group_by,
        "timezone": tz.key,
        "groups": [asdict(g) for g in rules.group(facts, key)],
    }


@router.get(
    "/ledger-completeness", summary="Ledger completeness (台账完整率): site-days, mean, complete share"
)
async def ledger_completeness(
    since: Instant,
    until: Instant,
    group_by: str = Query("none", description="none, site, org_unit, district, day, month"),
    site_id: str | None = _ID,
    p: Principal = Depends(roles(*SUPERVISING)),
    session: AsyncSession = Depends(db_session),
) -> dict[str, Any]:
    if until <= since:
        raise HTTPException(
            422, detail=[{"loc": ["query", "until"], "msg": "must be after since", "type": "value_error"}]
        )
    _, tz = await stats.tenant_rules(db_session=session, tenant_id=p.tenant_id)
    try:
        key = rules.ledger_grouping(group_by)
    except rules.RulesError as exc:
        raise _refused(exc) from None
    sites = await stats.tenant_sites(db_session=session, tenant_id=p.tenant_id)
    visible = {sid: path for sid, path in sites.items() if p.can_see_site(p.tenant_id, sid, path)}
    first, end = stats.local_days(since, until, tz)
    days = await stats.ledger_days(
        db_session=session,
        tenant_id=p.tenant_id,
        first_day=first,
        end_day=end,
        org_paths=visible,
        site_id=site_id,
    )
    return {
        "group_by": group_by,
        "timezone": tz.key,
        "first_day": first,
        "end_day": end,
        "groups": [asdict(g) for g in rules.group_completeness(days, key)],
    }


async def _scores(session: AsyncSession, p: Principal, ctx: Context, month: str | None) -> TenantScores:
    """The tenant's scores: the rolling window now (what ``site_scores.v1`` says), or a local month."""
    now = ctx.runtime.clock.now()
    if month is None:
        return await tenant_scores(session, tenant_id=p.tenant_id, now=now)
    _, tz = await stats.tenant_rules(db_session=session, tenant_id=p.tenant_id)
    start, end = rules.local_month_bounds(month, tz)
    return await tenant_scores(session, tenant_id=p.tenant_id, now=now, since=start, until=min(end, now))


def score_out(s: rules.SiteScore, place: rules.Placement) -> dict[str, Any]:
    """One site's score as every reader sees it (the fields of ``site_scores.v1``)."""
    d = asdict(s)
    d.pop("has_class_i")
    return {
        **d,
        "grade_label": rules.GRADE_LABELS[s.grade],
        "inspection_label": rules.FREQUENCY_LABELS[s.inspection_frequency],
        "list": place.list,
        "rank": place.rank,
        "list_reason": place.reason,
    }


def _visible(ts: TenantScores, p: Principal) -> list[rules.SiteScore]:
    return [s for s in ts.scores if p.can_see_site(p.tenant_id, s.site_id, s.org_path)]


def _window(ts: TenantScores) -> dict[str, datetime | str]:
    return {"since": ts.since, "until": ts.until, "rules_version": ts.rules.digest()}


@router.get("/risk-scores", summary="Site risk scores (食安指数), grades and inspection frequencies")
async def risk_scores(
    month: Month | None = Query(None, description="a local month; default: the rolling window now"),
    p: Principal = Depends(roles(*SUPERVISING)),
    ctx: Context = Depends(get_ctx),
    session: AsyncSession = Depends(db_session),
) -> dict[str, Any]:
    ts = await _scores(session, p, ctx, month)
    visible = sorted(_visible(ts, p), key=lambda s: (s.score, s.site_id))
    return {**_window(ts), "sites": [score_out(s, ts.placements[s.site_id]) for s in visible]}


@router.get("/red-black-list", summary="Red list (best) and black list (worst), 红黑榜")
async def red_black(
    month: Month | None = Query(None, description="a local month; default: the rolling window now"),
    p: Principal = Depends(roles(*SUPERVISING)),
    ctx: Context = Depends(get_ctx),
    session: AsyncSession = Depends(db_session),
) -> dict[str, Any]:
    ts = await _scores(session, p, ctx, month)
    by_list: dict[str, list[dict[str, Any]]] = {rules.RED: [], rules.BLACK: []}
    for s in _visible(ts, p):
        place = ts.placements[s.site_id]
        if place.list:
            by_list[place.list].append(score_out(s, place))
    for entries in by_list.values():
        entries.sort(key=lambda e: e["rank"])
    return {**_window(ts), "month": month, **by_list}


@router.get("/sites/{site_id}/score", summary="One site's score, grade, inspection frequency and list place")
async def site_score(
    site_id: str,
    p: Principal = Depends(roles(*STAFF)),
    ctx: Context = Depends(get_ctx),
    session: AsyncSession = Depends(db_session),
) -> dict[str, Any]:
    ts = await _scores(session, p, ctx, None)
    for s in ts.scores:
        if s.site_id == site_id and p.can_see_site(p.tenant_id, s.site_id, s.org_path):
            return {**_window(ts), **score_out(s, ts.placements[site_id])}
    raise HTTPException(404, detail="not found")


@router.get("/rules", summary="The tenant's scoring rules in force (weights, thresholds, window)")
async def get_rules(
    p: Principal = Depends(roles(*SUPERVISING)), session: AsyncSession = Depends(db_session)
) -> dict[str, Any]:
    scoring, tz = await stats.tenant_rules(db_session=session, tenant_id=p.tenant_id)
    return {"timezone": tz.key, "version": scoring.digest(), "rules": asdict(scoring)}


@router.put(
    "/rules", summary="Override the tenant's scoring rules (platform admin); {} restores the defaults"
)
async def put_rules(
    request: Request,
    overrides: dict[str, Any] = Body(..., examples=[{"class_i": 12, "list_size": 5}]),
    p: Principal = Depends(roles(Role.PLATFORM_ADMIN)),
    session: AsyncSession = Depends(db_session),
) -> dict[str, Any]:
    try:
        scoring = rules.ScoringRules.from_mapping(overrides)
    except rules.RulesError as exc:
        raise _refused(exc, "body") from None
    try:
        await stats.set_tenant_rules(db_session=session, tenant_id=p.tenant_id, overrides=overrides)
    except LookupError:
        raise HTTPException(404, detail="tenant not found") from None
    await session.commit()
    request.app.state.scores.mark(p.tenant_id)  # re-scored and published at the next step
    return {"version": scoring.digest(), "rules": asdict(scoring)}
