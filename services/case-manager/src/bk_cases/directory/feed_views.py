"""Route: publish the tenant's directory again on demand (a consumer rebuilt its read model)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.context import Context
from bk_cases.deps import db_session, get_ctx, roles
from bk_cases.directory.events import publish_snapshot
from bkcore.auth import Principal, Role

router = APIRouter(tags=["directory"])


class SnapshotOut(BaseModel):
    tenant_id: str
    events: int  # directory.v1 events written: every entity of the tenant, and a tombstone per deleted one


@router.post(
    "/directory/snapshot",
    response_model=SnapshotOut,
    summary="Publish the tenant's whole directory on directory.v1 (for a consumer catching up)",
)
async def snapshot(
    p: Principal = Depends(roles(Role.PLATFORM_ADMIN)),
    session: AsyncSession = Depends(db_session),
    ctx: Context = Depends(get_ctx),
) -> SnapshotOut:
    count = await publish_snapshot(session, tenant_id=p.tenant_id)
    await session.commit()
    ctx.wake_relay()
    return SnapshotOut(tenant_id=p.tenant_id, events=count)
