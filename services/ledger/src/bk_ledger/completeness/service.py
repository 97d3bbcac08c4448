"""Counting one site's ledgers for one local day."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.completeness.models import DayCounts
from bk_ledger.disinfection.models import disinfections
from bk_ledger.meal.models import accompanying_meals, dishes_served
from bk_ledger.morning_check.service import checked_staff
from bk_ledger.pesticide.models import pesticide_tests
from bk_ledger.sample.models import sample_retentions
from bk_ledger.sites.models import SiteInfo
from bk_ledger.staff.service import active_staff_ids


async def _count(s: AsyncSession, table, site: SiteInfo, *cond) -> int:  # type: ignore[no-untyped-def]
    return (
        await s.execute(
            select(func.count())
            .select_from(table)
            .where(table.c.tenant_id == site.tenant_id, table.c.site_id == site.site_id, *cond)
        )
    ).scalar_one()


async def day_counts(s: AsyncSession, site: SiteInfo, day: date) -> DayCounts:
    tz = ZoneInfo(site.timezone)
    lo = datetime.combine(day, time(0), tz)
    hi = lo + timedelta(days=1)
    staff = await active_staff_ids(s, tenant_id=site.tenant_id, site_id=site.site_id)
    checked = await checked_staff(s, tenant_id=site.tenant_id, site_id=site.site_id, day=day)
    d, t, a = dishes_served, sample_retentions, accompanying_meals
    base = (d.c.tenant_id == site.tenant_id, d.c.site_id == site.site_id, d.c.meal_date == day)
    meals = {r[0] for r in await s.execute(select(distinct(d.c.meal)).where(*base))}
    sampled = (
        await s.execute(
            select(func.count(distinct(d.c.id)))
            .select_from(d)
            .join(
                t,
                and_(
                    t.c.tenant_id == d.c.tenant_id,
                    t.c.site_id == d.c.site_id,
                    t.c.meal_date == d.c.meal_date,
                    t.c.meal == d.c.meal,
                    t.c.dish == d.c.dish,
                ),
            )
            .where(*base)
        )
    ).scalar_one()
    accompanied = {
        r[0]
        for r in await s.execute(
            select(distinct(a.c.meal)).where(
                a.c.tenant_id == site.tenant_id, a.c.site_id == site.site_id, a.c.meal_date == day
            )
        )
    }
    return DayCounts(
        staff=len(staff),
        staff_checked=len(checked & staff) if staff else len(checked),
        meals_served=frozenset(meals),
        dishes_served=await _count(s, d, site, d.c.meal_date == day),
        dishes_sampled=sampled,
        samples=await _count(s, t, site, t.c.meal_date == day),
        disinfections=await _count(
            s, disinfections, site, disinfections.c.started_at >= lo, disinfections.c.started_at < hi
        ),
        pesticide_tests=await _count(
            s, pesticide_tests, site, pesticide_tests.c.tested_at >= lo, pesticide_tests.c.tested_at < hi
        ),
        accompanied_meals=frozenset(accompanied),
    )
