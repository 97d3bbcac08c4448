"""One day of one tenant's cases, directory and site scores, written to the warehouse."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, or_, select

from bk_cases.cases.enums import Verdict
from bk_cases.cases.models import Case, CaseEvent, Rectification
from bk_cases.context import Context
from bk_cases.directory.models import OrgUnit, Site, Tenant, User
from bk_cases.stats.flows import tenant_scores
from bk_cases.stats.views import score_out
from bk_cases.warehouse import tables as t
from bkcore.warehouse import Fetch, Manifest, TableSpec, day_bounds, export_day, pseudonymiser_for

Rows = Sequence[Mapping[str, Any]]


def _rows(ctx: Context, table: Table, where: ColumnElement[bool]) -> Fetch:
    async def fetch(start: datetime, end: datetime) -> AsyncIterator[Rows]:
        del start, end  # ``where`` already holds the window, or the table is a snapshot
        async with ctx.db.session() as s:
            yield [dict(r._mapping) for r in await s.execute(select(table).where(where))]

    return fetch


def _in_window(ctx: Context, table: Table, tenant_id: str, at: Any, start: datetime, end: datetime) -> Fetch:
    return _rows(ctx, table, and_(table.c.tenant_id == tenant_id, at >= start, at < end))


def _verdicts(ctx: Context, tenant_id: str, start: datetime, end: datetime) -> Fetch:
    """Closed cases a supervisor judged (confirmed or false alarm) or labelled: the detector's examples."""
    stmt = select(
        *(getattr(Case, c.name if c.name != "case_id" else "id") for c in t.VERDICTS.columns)
    ).where(
        Case.tenant_id == tenant_id,
        Case.closed_at >= start,
        Case.closed_at < end,
        or_(Case.verdict.in_([Verdict.CONFIRMED.value, Verdict.FALSE_ALARM.value]), Case.labels.is_not(None)),
    )

    async def fetch(_start: datetime, _end: datetime) -> AsyncIterator[Rows]:
        async with ctx.db.session() as s:
            rows = [dict(r._mapping) for r in await s.execute(stmt)]
        yield [{"case_id": r.pop("id"), **r} for r in rows]

    return fetch


def _site_scores(ctx: Context, tenant_id: str) -> Fetch:
    """Every site's score as the stats API and ``site_scores.v1`` give it, as of the day's end."""

    async def fetch(_start: datetime, end: datetime) -> AsyncIterator[Rows]:
        async with ctx.db.session() as s:
            ts = await tenant_scores(s, tenant_id=tenant_id, now=end)
        window = {"window_start": ts.since, "window_end": ts.until, "rules_version": ts.rules.digest()}
        yield [
            {"tenant_id": tenant_id, **score_out(x, ts.placements[x.site_id]), **window} for x in ts.scores
        ]

    return fetch


def table_sources(
    ctx: Context, tenant_id: str, names: Sequence[str], start: datetime, end: datetime
) -> list[tuple[TableSpec, Fetch]]:
    sources: dict[str, Fetch] = {
        "cases": _in_window(ctx, Case.__table__, tenant_id, Case.created_at, start, end),
        "case_events": _in_window(ctx, CaseEvent.__table__, tenant_id, CaseEvent.at, start, end),
        "rectifications": _in_window(
            ctx, Rectification.__table__, tenant_id, Rectification.submitted_at, start, end
        ),
        "verdicts": _verdicts(ctx, tenant_id, start, end),
        "dir_tenants": _rows(ctx, Tenant.__table__, Tenant.id == tenant_id),
        "dir_org_units": _rows(ctx, OrgUnit.__table__, OrgUnit.tenant_id == tenant_id),
        "dir_sites": _rows(ctx, Site.__table__, Site.tenant_id == tenant_id),
        "dir_users": _rows(ctx, User.__table__, User.tenant_id == tenant_id),
        "site_scores": _site_scores(ctx, tenant_id),
    }
    return [(t.SPECS[n], sources[n]) for n in names or t.TABLES]


async def export_tenant_day(ctx: Context, tenant_id: str, day: date, tables: Sequence[str] = ()) -> Manifest:
    start, end = day_bounds(day)
    return await export_day(
        ctx.runtime.store,
        producer=t.PRODUCER,
        tenant_id=tenant_id,
        day=day,
        tables=table_sources(ctx, tenant_id, tables, start, end),
        pseudo=pseudonymiser_for(ctx.settings, tenant_id),
    )


async def tenant_ids(ctx: Context) -> list[str]:
    async with ctx.db.session() as s:
        return sorted(await s.scalars(select(Tenant.id)))
