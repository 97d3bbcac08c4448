"""Routes: read a case's audit entries, verify a tenant's chain (problems listed by seq)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.audit import service
from bk_cases.audit.models import AuditEntryRead, VerifyReport
from bk_cases.context import Context
from bk_cases.deps import db_session, get_ctx, roles
from bkcore.auth import Principal, Role

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=list[AuditEntryRead], summary="Audit entries of the tenant (admin)")
async def list_entries(
    entity_id: str | None = None,
    p: Principal = Depends(roles(Role.PLATFORM_ADMIN)),
    session: AsyncSession = Depends(db_session),
) -> list[AuditEntryRead]:
    rows = await service.entries_for(db_session=session, tenant_id=p.tenant_id, entity_id=entity_id)
    return [AuditEntryRead.model_validate(r, from_attributes=True) for r in rows]


@router.get(
    "/verify",
    response_model=VerifyReport,
    summary="Recompute the tenant's keyed hash chain and hold it against its signed checkpoint (admin)",
)
async def verify(
    p: Principal = Depends(roles(Role.PLATFORM_ADMIN)),
    ctx: Context = Depends(get_ctx),
    session: AsyncSession = Depends(db_session),
) -> VerifyReport:
    return await service.verify(db_session=session, tenant_id=p.tenant_id, store=ctx.runtime.store)
