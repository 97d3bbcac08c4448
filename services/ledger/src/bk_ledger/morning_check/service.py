"""Data functions of the morning check: who was checked on a day, and the opening-time sweep."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.common.config import RuleConfig
from bk_ledger.common.findings import Finding
from bk_ledger.morning_check import rules
from bk_ledger.morning_check.models import morning_checks
from bk_ledger.sites.models import SiteInfo
from bk_ledger.staff.service import active_staff_ids


async def checked_staff(session: AsyncSession, *, tenant_id: str, site_id: str, day: date) -> set[str]:
    t = morning_checks
    rows = await session.execute(
        select(t.c.staff_id).where(t.c.tenant_id == tenant_id, t.c.site_id == site_id, t.c.check_date == day)
    )
    return {r.staff_id for r in rows}


async def sweep_site(session: AsyncSession, site: SiteInfo, cfg: RuleConfig, now: datetime) -> list[Finding]:
    day = now.astimezone(ZoneInfo(site.timezone)).date()
    deadline = rules.opening_deadline(day, site.opening, site.timezone, cfg.morning_check.grace_min)
    if now < deadline:
        return []
    staff = await active_staff_ids(session, tenant_id=site.tenant_id, site_id=site.site_id)
    checked = await checked_staff(session, tenant_id=site.tenant_id, site_id=site.site_id, day=day)
    finding = rules.missing_checks(
        site_id=site.site_id, day=day, now=now, deadline=deadline, staff_ids=staff, checked_ids=checked
    )
    return [finding] if finding else []
