"""Small data functions over any ledger table that carries ``record_columns``."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import HTTPException
from sqlalchemy import Column, DateTime, Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.common.columns import as_utc, new_id

__all__ = ["get_one", "insert", "list_records", "new_id", "row_dict", "scoped"]
from bk_ledger.sites.models import SiteInfo, directory, sites
from bkcore.auth import Principal
from bkcore.auth_http import scope_to_principal


def row_dict(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    for k, v in out.items():
        if isinstance(v, datetime):
            out[k] = as_utc(v)
    return out


async def insert(
    session: AsyncSession,
    table: Table,
    *,
    site: SiteInfo,
    principal: Principal,
    now: datetime,
    values: dict[str, Any],
) -> dict[str, Any]:
    record = {
        "id": new_id(),
        "tenant_id": site.tenant_id,
        "site_id": site.site_id,
        "org_path": site.org_path,
        "created_at": now,
        "created_by": principal.subject,
        # In UTC: SQLite keeps a datetime's wall time and drops its offset, so 07:00+08:00 was read
        # back as 07:00Z, eight hours off, and day windows missed it (#21).
        **{k: as_utc(v) if isinstance(v, datetime) else v for k, v in values.items()},
    }
    await session.execute(table.insert().values(**record))
    return record


def scoped(table: Table, principal: Principal):  # type: ignore[no-untyped-def]
    return scope_to_principal(
        select(table),
        principal,
        tenant_col=table.c.tenant_id,
        org_path_col=table.c.org_path,
        site_id_col=table.c.site_id,
    )


async def get_one(
    session: AsyncSession, table: Table, principal: Principal, record_id: str
) -> dict[str, Any]:
    row = (await session.execute(scoped(table, principal).where(table.c.id == record_id))).first()
    if row is None:
        raise HTTPException(404, detail="record not found")
    return row_dict(row)


async def list_records(
    session: AsyncSession,
    table: Table,
    principal: Principal,
    *,
    date_col: Column,
    site_id: str | None,
    start: date | datetime | None,
    end: date | datetime | None,
    limit: int = 500,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Records with ``date_col`` in [start, end], both days included. Against an instant column the
    days are local days (the site's timezone, or the caller's tenant's): from the first day's local
    midnight up to, not including, the midnight after the last (``<= end`` compared an instant with
    the last day's first midnight, so start = end = today found nothing, #21)."""
    stmt = scoped(table, principal)
    if site_id:
        stmt = stmt.where(table.c.site_id == site_id)
    days = isinstance(date_col.type, DateTime) and any(
        d is not None and not isinstance(d, datetime) for d in (start, end)
    )
    tz = await _day_zone(session, principal, site_id) if days else UTC
    if start is not None:
        stmt = stmt.where(date_col >= (_midnight(start, tz) if days else start))
    if end is not None:
        if days and not isinstance(end, datetime):
            stmt = stmt.where(date_col < _midnight(end + timedelta(days=1), tz))
        else:
            stmt = stmt.where(date_col <= end)
    stmt = stmt.order_by(date_col.desc(), table.c.id).limit(limit).offset(offset)
    return [row_dict(r) for r in (await session.execute(stmt))]


def _midnight(day: date | datetime, tz: tzinfo) -> datetime:
    """A day's first instant where it is local, in UTC (SQLite compares the stored UTC text)."""
    return day if isinstance(day, datetime) else datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


async def _day_zone(session: AsyncSession, principal: Principal, site_id: str | None) -> tzinfo:
    """Whose days a listing's dates are: the site's, else the caller's tenant's (UTC if unknown)."""
    if site_id:
        stmt = select(sites.c.timezone).where(
            sites.c.tenant_id == principal.tenant_id, sites.c.site_id == site_id
        )
    else:
        t = directory.tenants
        stmt = select(t.c.timezone).where(t.c.tenant_id == principal.tenant_id)
    name = await session.scalar(stmt)
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC
