"""``POST /v1/warehouse/exports``: write a window of one tenant's ledgers to the warehouse, now."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException

from bk_ledger.common.context import LedgerContext
from bk_ledger.common.deps import get_ctx, roles
from bk_ledger.warehouse import flows
from bk_ledger.warehouse.tables import TABLES
from bkcore.auth import Principal
from bkcore.warehouse import verify
from bkcore.warehouse_api import EXPORTERS, SCOPE, ExportIn, ExportOut, may_export

router = APIRouter(prefix="/v1/warehouse", tags=["warehouse 数据总仓"])


@router.post("/exports", summary="Export a window of a tenant's ledgers and sensor readings (Parquet)")
async def export(
    body: ExportIn,
    p: Principal = Depends(roles(*EXPORTERS, scope=SCOPE)),
    ctx: LedgerContext = Depends(get_ctx),
) -> ExportOut:
    if not may_export(p, body.tenant_id):
        raise HTTPException(404, detail="unknown tenant 未知租户")
    window = body.window(TABLES)
    manifests = [await flows.export_tenant_day(ctx, body.tenant_id, day, body.tables) for day in window]
    problems = [x for m in manifests for x in await verify(ctx.store, m)]
    return ExportOut(manifests=manifests, problems=problems)
