"""Completeness route: one site, a range of local days (at most a quarter)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends

from bk_ledger.common.context import LedgerContext
from bk_ledger.common.crud import READERS
from bk_ledger.common.deps import get_ctx, roles
from bk_ledger.common.errors import field_error
from bk_ledger.completeness import rules, service
from bk_ledger.sites.service import visible_site
from bkcore.auth import Principal
from bkcore.inputs import Day

MAX_DAYS = 92

router = APIRouter(prefix="/v1/completeness", tags=["completeness 台账完整率"])


@router.get("/{site_id}", summary="Daily completeness of a site's ledgers")
async def completeness(
    site_id: str,
    start: Day,
    end: Day | None = None,
    p: Principal = Depends(roles(*READERS)),
    ctx: LedgerContext = Depends(get_ctx),
) -> list[dict[str, Any]]:
    end = end or start
    if end < start:
        raise field_error(("query", "end"), "must not be before start")
    if (end - start).days >= MAX_DAYS:
        raise field_error(("query", "end"), f"at most {MAX_DAYS} days per request")
    out = []
    async with ctx.db.session() as s:
        site = await visible_site(s, p, site_id)
        day = start
        while day <= end:
            result = rules.score(await service.day_counts(s, site, day), is_school=site.is_school)
            out.append({"site_id": site_id, "date": day, **asdict(result)})
            day += timedelta(days=1)
    return out
