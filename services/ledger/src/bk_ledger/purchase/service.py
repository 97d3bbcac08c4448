"""Purchase and supplier data functions, and the licence-expiry sweep."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.common.columns import as_utc, new_id
from bk_ledger.common.config import RuleConfig
from bk_ledger.common.findings import Finding
from bk_ledger.purchase import rules
from bk_ledger.purchase.models import suppliers, tenant_suppliers
from bk_ledger.sites.models import SiteInfo


async def get_supplier(session: AsyncSession, *, tenant_id: str, supplier_id: str) -> dict[str, Any] | None:
    row = (
        await session.execute(
            select(suppliers).where(suppliers.c.tenant_id == tenant_id, suppliers.c.id == supplier_id)
        )
    ).first()
    return dict(row._mapping) if row else None


async def tenant_supplier_id(
    session: AsyncSession, *, tenant_id: str, licence_no: str, name: str, now: datetime
) -> str:
    """The tenant's one supplier with this credit code, registered now if it is new."""
    t = tenant_suppliers
    found = select(t.c.id).where(t.c.tenant_id == tenant_id, t.c.licence_no == licence_no)
    if (row := (await session.execute(found)).first()) is not None:
        return str(row.id)
    new = new_id()
    # Two sites registering the same new supplier at once: the unique (tenant, licence) lets one in;
    # the other's request fails and is retried by its client, then finds the row.
    await session.execute(
        t.insert().values(id=new, tenant_id=tenant_id, licence_no=licence_no, name=name, created_at=now)
    )
    return new


def supplier_findings(sup: dict[str, Any], site: SiteInfo, cfg: RuleConfig, now: datetime) -> list[Finding]:
    today = as_utc(now).astimezone(ZoneInfo(site.timezone)).date()
    return rules.licence_findings(
        site_id=site.site_id,
        supplier_id=sup["id"],
        name=sup["name"],
        food_licence_expires=sup["food_licence_expires"],
        business_licence_expires=sup["business_licence_expires"],
        today=today,
        cfg=cfg.expiry,
        tz=site.timezone,
    )


async def sweep_site(session: AsyncSession, site: SiteInfo, cfg: RuleConfig, now: datetime) -> list[Finding]:
    rows = await session.execute(
        select(suppliers).where(suppliers.c.tenant_id == site.tenant_id, suppliers.c.site_id == site.site_id)
    )
    out: list[Finding] = []
    for row in rows:
        out.extend(supplier_findings(dict(row._mapping), site, cfg, now))
    return out
