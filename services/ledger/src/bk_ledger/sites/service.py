"""Reading the ledger's ``sites`` table, and projecting the directory's sites into it."""

from __future__ import annotations

import logging
import re
from datetime import datetime

from fastapi import HTTPException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.common.config import RuleConfig
from bk_ledger.common.models import rule_configs
from bk_ledger.db import metadata
from bk_ledger.sites.models import DEFAULT_OPENING, SiteInfo, sites
from bkcore.auth import ALL_TENANTS, Principal
from bkcore.auth_http import ensure_site_visible
from bkcore.directory import DirectorySite

log = logging.getLogger(__name__)

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


async def save_rule_config(
    session: AsyncSession, *, tenant_id: str, config: RuleConfig, now: datetime
) -> None:
    """Replace the tenant's rule thresholds (created on first save)."""
    values = {"config": config.model_dump(mode="json"), "updated_at": now}
    done = await session.execute(
        rule_configs.update().where(rule_configs.c.tenant_id == tenant_id).values(**values)
    )
    if done.rowcount == 0:
        await session.execute(rule_configs.insert().values(tenant_id=tenant_id, **values))


async def project_site(session: AsyncSession, site: DirectorySite, *, default_timezone: str) -> None:
    """Write one directory site into ``sites`` (``bkcore.directory``'s hook, in its transaction).

    A deleted site stays, inactive: its records keep their place, the sweeps stop asking for more.
    """
    opening = site.opening_hours
    if not _OPENING_RE.match(opening):
        if opening:
            log.warning(
                "site opening hours unreadable; the ledger uses the default",
                extra={"tenant_id": site.tenant_id, "site_id": site.site_id, "opening": opening},
            )
        opening = DEFAULT_OPENING
    values = {
        "name": site.name,
        "kind": site.kind,
        "org_path": site.org_path,
        "opening": opening,
        "timezone": site.timezone or default_timezone,
        "active": not site.deleted,
    }
    held = await get_site(session, tenant_id=site.tenant_id, site_id=site.site_id)
    if held is None:
        await session.execute(sites.insert().values(tenant_id=site.tenant_id, site_id=site.site_id, **values))
        return
    await session.execute(
        sites.update()
        .where(sites.c.tenant_id == site.tenant_id, sites.c.site_id == site.site_id)
        .values(**values)
    )
    if held.org_path != site.org_path:
        await _follow_site(session, site)


async def _follow_site(session: AsyncSession, site: DirectorySite) -> None:
    """A site moved to another org unit: its records follow it. Each ledger record copies its site's
    path (supervisors' subtree queries need no join), so every table that does is re-pathed — the
    old unit's supervisors lose the site's records, the new one's gain them."""
    for table in metadata.sorted_tables:
        if table is sites or table.name.startswith("directory_"):
            continue
        if not {"tenant_id", "site_id", "org_path"} <= set(table.c.keys()):
            continue
        await session.execute(
            table.update()
            .where(
                table.c.tenant_id == site.tenant_id,
                table.c.site_id == site.site_id,
                table.c.org_path != site.org_path,
            )
            .values(org_path=site.org_path)
        )
