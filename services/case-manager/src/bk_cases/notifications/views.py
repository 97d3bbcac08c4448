"""The caller's in-app inbox: list (newest first) and mark read."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.context import Context
from bk_cases.deps import STAFF, db_session, get_ctx, roles
from bk_cases.notifications.models import InAppMessage, InAppMessageRead, InAppPage
from bkcore.auth import Principal
from bkcore.inputs import Limit, Offset

router = APIRouter(prefix="/notifications", tags=["notifications"])


def _mine(p: Principal):  # type: ignore[no-untyped-def]
    return (InAppMessage.tenant_id == p.tenant_id, InAppMessage.recipient_id == p.subject)


@router.get("", response_model=InAppPage)
async def list_mine(
    unread_only: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
    p: Principal = Depends(roles(*STAFF)),
    session: AsyncSession = Depends(db_session),
) -> InAppPage:
    stmt = select(InAppMessage).where(*_mine(p))
    if unread_only:
        stmt = stmt.where(InAppMessage.read_at.is_(None))
    rows = await session.scalars(
        stmt.order_by(InAppMessage.created_at.desc(), InAppMessage.id).limit(limit).offset(offset)
    )
    unread = await session.scalar(
        select(func.count()).select_from(InAppMessage).where(*_mine(p), InAppMessage.read_at.is_(None))
    )
    return InAppPage(items=[InAppMessageRead.model_validate(r) for r in rows], unread=int(unread or 0))


@router.post("/{notification_id}/read", response_model=InAppMessageRead)
async def mark_read(
    notification_id: str,
    p: Principal = Depends(roles(*STAFF)),
    ctx: Context = Depends(get_ctx),
    session: AsyncSession = Depends(db_session),
) -> InAppMessageRead:
    msg = await session.scalar(select(InAppMessage).where(InAppMessage.id == notification_id, *_mine(p)))
    if msg is None:  # someone else's message looks like no message at all
        raise HTTPException(404, detail="notification not found")
    if msg.read_at is None:
        await session.execute(
            update(InAppMessage).where(InAppMessage.id == msg.id).values(read_at=ctx.runtime.clock.now())
        )
        await session.refresh(msg)
    return InAppMessageRead.model_validate(msg)
