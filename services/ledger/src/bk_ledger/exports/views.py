"""Export route: ``GET /v1/exports/{ledger}.csv`` or ``.xlsx``."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Response

from bk_ledger.common.context import LedgerContext
from bk_ledger.common.crud import READERS
from bk_ledger.common.deps import get_ctx, roles
from bk_ledger.exports import rules, service
from bk_ledger.exports.models import EXPORTS
from bkcore.auth import Principal
from bkcore.inputs import Day

TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

router = APIRouter(prefix="/v1/exports", tags=["exports 导出"])


@router.get("/{ledger}.{fmt}", summary="Export a ledger as CSV or XLSX")
async def export(
    ledger: str,
    fmt: Literal["csv", "xlsx"],
    site_id: str | None = None,
    start: Day | None = None,
    end: Day | None = None,
    p: Principal = Depends(roles(*READERS)),
    ctx: LedgerContext = Depends(get_ctx),
) -> Response:
    exp = EXPORTS.get(ledger)
    if exp is None:
        raise HTTPException(404, detail=f"unknown ledger; known: {sorted(EXPORTS)}")
    async with ctx.db.session() as s:
        data = await service.rows(s, p, exp, site_id=site_id, start=start, end=end)
    body = rules.to_csv(exp.columns, data) if fmt == "csv" else rules.to_xlsx(ledger, exp.columns, data)
    return Response(
        body,
        media_type=TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{ledger}.{fmt}"'},
    )
