"""Reading the rows of one export, in the caller's scope."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.common import records
from bk_ledger.exports.models import Exportable
from bkcore.auth import Principal

MAX_ROWS = 100_000


async def rows(
    s: AsyncSession,
    p: Principal,
    exp: Exportable,
    *,
    site_id: str | None,
    start: date | None,
    end: date | None,
) -> list[dict[str, Any]]:
    return await records.list_records(
        s, exp.table, p, date_col=exp.date_col, site_id=site_id, start=start, end=end, limit=MAX_ROWS
    )
