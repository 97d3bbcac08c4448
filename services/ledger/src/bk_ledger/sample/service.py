"""Sample data functions: recording a disposal."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.common.columns import as_utc
from bk_ledger.sample.models import sample_retentions


async def mark_disposed(session: AsyncSession, *, record_id: str, disposed_at: datetime, by: str) -> None:
    t = sample_retentions
    await session.execute(
        t.update().where(t.c.id == record_id).values(disposed_at=as_utc(disposed_at), disposed_by=by)
    )
