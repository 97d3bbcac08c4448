"""Gathering one site's day for the public window."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.common.records import row_dict
from bk_ledger.completeness import rules as completeness
from bk_ledger.completeness.service import day_counts
from bk_ledger.disinfection.models import disinfections
from bk_ledger.meal.models import accompanying_meals
from bk_ledger.morning_check.models import morning_checks
from bk_ledger.pesticide.models import pesticide_tests
from bk_ledger.publicity import rules
from bk_ledger.sample.models import sample_retentions
from bk_ledger.sites.models import SiteInfo


async def _rows(s: AsyncSession, table, site: SiteInfo, *cond) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    stmt = select(table).where(table.c.tenant_id == site.tenant_id, table.c.site_id == site.site_id, *cond)
    return [row_dict(r) for r in await s.execute(stmt)]


async def summary(s: AsyncSession, site: SiteInfo, day: date) -> dict[str, Any]:
    lo = datetime.combine(day, time(0), ZoneInfo(site.timezone))
    hi = lo + timedelta(days=1)
    pt, dt = pesticide_tests, disinfections
    return {
        "site_id": site.site_id,
        "site_name": site.name,
        "date": day,
        "morning_check": rules.morning_summary(
            await _rows(s, morning_checks, site, morning_checks.c.check_date == day)
        ),
        "pesticide_tests": rules.public(
            await _rows(s, pt, site, pt.c.tested_at >= lo, pt.c.tested_at < hi), rules.PESTICIDE
        ),
        "disinfections": rules.public(
            await _rows(s, dt, site, dt.c.started_at >= lo, dt.c.started_at < hi), rules.DISINFECTION
        ),
        "samples": rules.public(
            await _rows(s, sample_retentions, site, sample_retentions.c.meal_date == day), rules.SAMPLE
        ),
        "accompanying_meals": rules.public(
            await _rows(s, accompanying_meals, site, accompanying_meals.c.meal_date == day),
            rules.ACCOMPANYING,
        ),
        "completeness": completeness.score(await day_counts(s, site, day), is_school=site.is_school).score,
    }
