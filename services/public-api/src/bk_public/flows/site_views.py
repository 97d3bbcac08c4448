"""What a parent sees of a bound site (SQL for ``bk_public.api.site_views``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bk_public.models import case_view
from bk_public.readmodel import CLOSED
from bkcore.db import Database


async def closed_cases(db: Database, *, tenant_id: str, site_id: str, limit: int) -> list[Any]:
    """The site's latest closed cases (read-model rows) that were not false alarms, newest first."""
    cv = case_view.c
    async with db.session() as s:
        return list(
            (
                await s.execute(
                    select(case_view)
                    .where(
                        cv.tenant_id == tenant_id,
                        cv.site_id == site_id,
                        cv.status.in_(CLOSED),
                        cv.verdict != "false_alarm",
                    )
                    .order_by(cv.updated_at.desc())
                    .limit(limit)
                )
            ).all()
        )
