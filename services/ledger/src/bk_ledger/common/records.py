"""Small data functions over any ledger table that carries ``record_columns``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import HTTPException
from sqlalchemy import Column, Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.common.columns import as_utc, new_id

__all__ = ["get_one", "insert", "list_records", "new_id", "row_dict", "scoped"]
from bk_ledger.sites.models import SiteInfo
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
        **values,
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
    stmt = scoped(table, principal)
    if site_id:
        stmt = stmt.where(table.c.site_id == site_id)
    if start is not None:
        stmt = stmt.where(date_col >= start)
    if end is not None:
        stmt = stmt.where(date_col <= end)
    stmt = stmt.order_by(date_col.desc(), table.c.id).limit(limit).offset(offset)
    return [row_dict(r) for r in (await session.execute(stmt))]
