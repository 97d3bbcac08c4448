"""Purchase and supplier data functions, and the licence-expiry sweep."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.common import records
from bk_ledger.common.columns import as_utc, new_id
from bk_ledger.common.config import RuleConfig
from bk_ledger.common.findings import Finding
from bk_ledger.purchase import rules
from bk_ledger.purchase.models import PurchaseIn, SupplierIn, purchases, suppliers, tenant_suppliers
from bk_ledger.sites.models import SiteInfo
from bkcore.auth import Principal


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


async def register_supplier(
    session: AsyncSession,
    body: SupplierIn,
    *,
    site: SiteInfo,
    principal: Principal,
    now: datetime,
    licence_photos: list[str],
) -> dict[str, Any]:
    """Write a site's supplier, linked to the tenant's one record of it (by licence number)."""
    one = await tenant_supplier_id(
        session, tenant_id=site.tenant_id, licence_no=body.business_licence_no, name=body.name, now=now
    )
    return await records.insert(
        session,
        suppliers,
        site=site,
        principal=principal,
        now=now,
        values={
            **body.model_dump(exclude={"site_id"}),
            "licence_photos": licence_photos,
            "tenant_supplier_id": one,
        },
    )


async def record_purchase(
    session: AsyncSession,
    body: PurchaseIn,
    *,
    site: SiteInfo,
    principal: Principal,
    now: datetime,
    certificate_photos: list[str],
    invoice_photos: list[str],
) -> dict[str, Any]:
    """Write a purchase inspection with its expiry and retention dates (``purchase.rules``)."""
    expiry = rules.expiry_date(body.production_date, body.shelf_life_days)
    values = {
        **body.model_dump(exclude={"site_id"}),
        "expiry_date": expiry,
        "retain_until": rules.retain_until(purchase_date=body.purchase_date, expiry=expiry),
        "certificate_photos": certificate_photos,
        "invoice_photos": invoice_photos,
    }
    return await records.insert(session, purchases, site=site, principal=principal, now=now, values=values)
