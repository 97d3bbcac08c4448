"""Sample data functions: recording a disposal, and which samples are a dish's."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_
from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.common.columns import as_utc
from bk_ledger.sample.models import sample_retentions


async def mark_disposed(session: AsyncSession, *, record_id: str, disposed_at: datetime, by: str) -> None:
    t = sample_retentions
    await session.execute(
        t.update().where(t.c.id == record_id).values(disposed_at=as_utc(disposed_at), disposed_by=by)
    )


def of_dish(dish: Mapping[str, Any]) -> ColumnElement[bool]:
    """The retained samples of a dish served: the same site, day, meal and dish name (a sample is
    recorded by the dish's name, not linked to the dish record)."""
    t = sample_retentions
    return and_(
        t.c.tenant_id == dish["tenant_id"],
        t.c.site_id == dish["site_id"],
        t.c.meal_date == dish["meal_date"],
        t.c.meal == dish["meal"],
        t.c.dish == dish["dish"],
    )
