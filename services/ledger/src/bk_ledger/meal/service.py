"""Dishes served: stored with the purchase batches they used."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.common import records
from bk_ledger.common.errors import field_error
from bk_ledger.meal.models import DishServedIn, dish_ingredients, dishes_served
from bk_ledger.purchase.models import purchases
from bk_ledger.sites.models import SiteInfo
from bkcore.auth import Principal


async def record_dish(
    session: AsyncSession, body: DishServedIn, *, site: SiteInfo, principal: Principal, now: datetime
) -> str:
    """Write a dish served and the purchase batches it was made from; returns the dish's id."""
    rec = await records.insert(
        session,
        dishes_served,
        site=site,
        principal=principal,
        now=now,
        values={"meal_date": body.meal_date, "meal": body.meal.value, "dish": body.dish},
    )
    await link_ingredients(
        session,
        tenant_id=site.tenant_id,
        site_id=site.site_id,
        dish_id=rec["id"],
        purchase_ids=body.purchase_ids,
    )
    return str(rec["id"])


async def link_ingredients(
    session: AsyncSession, *, tenant_id: str, site_id: str, dish_id: str, purchase_ids: list[str]
) -> None:
    wanted = sorted(set(purchase_ids))
    if not wanted:
        return
    found = {
        r.id
        for r in await session.execute(
            select(purchases.c.id).where(
                purchases.c.tenant_id == tenant_id, purchases.c.site_id == site_id, purchases.c.id.in_(wanted)
            )
        )
    }
    for i, pid in enumerate(purchase_ids):
        if pid not in found:
            raise field_error(("body", "purchase_ids", i), f"no purchase {pid} at this site")
    await session.execute(
        dish_ingredients.insert(), [{"dish_served_id": dish_id, "purchase_id": p} for p in wanted]
    )
