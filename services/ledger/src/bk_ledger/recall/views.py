"""Recall routes: supervisors and platform admins recall; anyone who reads ledgers reads their part."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from bk_ledger.common.context import LedgerContext
from bk_ledger.common.crud import READERS
from bk_ledger.common.deps import get_ctx, roles
from bk_ledger.recall import flows
from bk_ledger.recall.models import RecallIn
from bkcore.auth import Principal, Role
from bkcore.inputs import Limit, Offset

#: Who may recall: a supervisor over their org subtree, a platform admin over the whole tenant.
RECALLERS = (Role.PLATFORM_ADMIN, Role.SUPERVISOR)

router = APIRouter(prefix="/v1/recalls", tags=["recall 召回"])


@router.post("", status_code=201, summary="Recall a supplier or one of its batches across the sites you see")
async def create(
    body: RecallIn, p: Principal = Depends(roles(*RECALLERS)), ctx: LedgerContext = Depends(get_ctx)
) -> dict[str, Any]:
    async with ctx.db.session() as s:
        out = await flows.recall(s, p, body, ctx.now())
    if out["sites"]:
        ctx.alerts_written()
    return out


@router.get("", summary="Recent recalls that reached a site you see (or that you made), newest first")
async def list_(
    limit: Limit = 50,
    offset: Offset = 0,
    p: Principal = Depends(roles(*READERS)),
    ctx: LedgerContext = Depends(get_ctx),
) -> list[dict[str, Any]]:
    async with ctx.db.session() as s:
        return await flows.recent(s, p, limit=limit, offset=offset)


@router.get("/{recall_id}", summary="A recall's report: sites, dishes, samples and their cases")
async def get(
    recall_id: str, p: Principal = Depends(roles(*READERS)), ctx: LedgerContext = Depends(get_ctx)
) -> dict[str, Any]:
    async with ctx.db.session() as s:
        out = await flows.report_for(s, p, recall_id)
    if out is None:
        raise HTTPException(404, detail="recall not found")
    return out
