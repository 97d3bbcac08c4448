"""``POST /warehouse/exports``: write a window of one tenant's cases, directory and scores, now."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.audit import service as audit
from bk_cases.context import Context
from bk_cases.deps import db_session, get_ctx, roles
from bk_cases.warehouse import flows
from bk_cases.warehouse.tables import TABLES
from bkcore.auth import Principal
from bkcore.warehouse import verify
from bkcore.warehouse_api import EXPORTERS, SCOPE, ExportIn, ExportOut, may_export

router = APIRouter(prefix="/warehouse", tags=["warehouse 数据总仓"])


@router.post("/exports", summary="Export a window of a tenant's cases, directory and site scores (Parquet)")
async def export(
    body: ExportIn,
    p: Principal = Depends(roles(*EXPORTERS, scope=SCOPE)),
    ctx: Context = Depends(get_ctx),
    session: AsyncSession = Depends(db_session),
) -> ExportOut:
    if not may_export(p, body.tenant_id):
        raise HTTPException(404, detail="unknown tenant 未知租户")
    window = body.window(TABLES)
    # On record before anything is written: who exported which window (and whether names left raw).
    await audit.record(
        session,
        tenant_id=body.tenant_id,
        actor_id=p.subject,
        action="warehouse_export",
        entity_type="tenant",
        entity_id=body.tenant_id,
        data={
            "start": body.start.isoformat(),
            "end": body.end.isoformat(),
            "tables": body.tables or list(TABLES),
            "raw_personal_data": body.tenant_id in ctx.settings.warehouse_raw_personal_tenants,
        },
    )
    await session.commit()
    manifests = [await flows.export_tenant_day(ctx, body.tenant_id, day, body.tables) for day in window]
    problems = [x for m in manifests for x in await verify(ctx.runtime.store, m)]
    return ExportOut(manifests=manifests, problems=problems)
