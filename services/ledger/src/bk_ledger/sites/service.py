"""Reading and seeding the local ``sites`` table."""

from __future__ import annotations

import re
from collections.abc import Iterable

from fastapi import HTTPException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.sites.models import SiteInfo, SiteSeed, sites
from bkcore.auth import ALL_TENANTS, Principal
from bkcore.auth_http import ensure_site_visible
from bkcore.db import Database

_OPENING_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")


def _info(row) -> SiteInfo:  # type: ignore[no-untyped-def]
    return SiteInfo(row.tenant_id, row.site_id, row.name, row.kind, row.org_path, row.opening, row.timezone)


async def get_site(session: AsyncSession, *, tenant_id: str, site_id: str) -> SiteInfo | None:
    row = (
        await session.execute(select(sites).where(sites.c.tenant_id == tenant_id, sites.c.site_id == site_id))
    ).first()
    return _info(row) if row else None


async def visible_site(
    session: AsyncSession, principal: Principal, site_id: str, tenant_id: str | None = None
) -> SiteInfo:
    """The site, if the caller may see it; 404 otherwise (never confirm a site exists).

    ``tenant_id`` matters only for cross-tenant service callers (tenant "*")."""
    tid = tenant_id if principal.tenant_id == ALL_TENANTS and tenant_id else principal.tenant_id
    site = await get_site(session, tenant_id=tid, site_id=site_id)
    if site is None:
        raise HTTPException(404, detail="site not found")
    ensure_site_visible(principal, site.tenant_id, site.site_id, site.org_path)
    return site


async def list_sites(session: AsyncSession, *, tenant_id: str | None = None) -> list[SiteInfo]:
    stmt = select(sites).where(sites.c.active.is_(True))
    if tenant_id is not None:
        stmt = stmt.where(sites.c.tenant_id == tenant_id)
    return [_info(r) for r in (await session.execute(stmt.order_by(sites.c.tenant_id, sites.c.site_id)))]


async def seed_sites(
    db: Database, *, tenant_id: str, sites_: Iterable[SiteSeed], timezone: str = "Asia/Shanghai"
) -> int:
    """Insert or update sites of one tenant; returns how many were written. Idempotent."""
    count = 0
    async with db.session() as session:
        for seed in sites_:
            if not _OPENING_RE.match(seed.opening):
                raise ValueError(f"site {seed.site_id}: opening {seed.opening!r} is not HH:MM-HH:MM")
            values = {
                "name": seed.name,
                "kind": seed.kind,
                "org_path": seed.org_path,
                "opening": seed.opening,
                "timezone": seed.timezone or timezone,
                "active": True,
            }
            exists = await get_site(session, tenant_id=tenant_id, site_id=seed.site_id)
            if exists:
                await session.execute(
                    sites.update()
                    .where(sites.c.tenant_id == tenant_id, sites.c.site_id == seed.site_id)
                    .values(**values)
                )
            else:
                await session.execute(
                    sites.insert().values(tenant_id=tenant_id, site_id=seed.site_id, **values)
                )
            count += 1
    return count
