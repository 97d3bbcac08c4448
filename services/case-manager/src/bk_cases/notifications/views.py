"""The caller's in-app inbox (list newest first with each message's phone deliveries, mark read)
and their own channel choice per risk class."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.context import Context
from bk_cases.deps import STAFF, db_session, get_ctx, roles
from bk_cases.directory import service as directory
from bk_cases.directory.models import User
from bk_cases.notifications import service
from bk_cases.notifications.delivery import reachable
from bk_cases.notifications.models import (
    ChannelChoice,
    DeliveryRead,
    InAppMessageRead,
    InAppPage,
    RobotName,
)
from bk_cases.notifications.rules import check_choice, check_robot
from bkcore.auth import Principal
from bkcore.inputs import Limit, Offset

router = APIRouter(prefix="/notifications", tags=["notifications"])


@router.get("", response_model=InAppPage)
async def list_mine(
    unread_only: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
    p: Principal = Depends(roles(*STAFF)),
    session: AsyncSession = Depends(db_session),
) -> InAppPage:
    messages, unread = await service.inbox(
        db_session=session,
        tenant_id=p.tenant_id,
        recipient_id=p.subject,
        unread_only=unread_only,
        limit=limit,
        offset=offset,
    )
    sent = await service.deliveries_of(db_session=session, notification_ids=[m.id for m in messages])
    items = [
        InAppMessageRead.model_validate(m).model_copy(
            update={"deliveries": [DeliveryRead.model_validate(d) for d in sent.get(m.id, [])]}
        )
        for m in messages
    ]
    return InAppPage(items=items, unread=unread)


@router.post("/{notification_id}/read", response_model=InAppMessageRead)
async def mark_read(
    notification_id: str,
    p: Principal = Depends(roles(*STAFF)),
    ctx: Context = Depends(get_ctx),
    session: AsyncSession = Depends(db_session),
) -> InAppMessageRead:
    msg = await service.mark_read(
        db_session=session,
        tenant_id=p.tenant_id,
        recipient_id=p.subject,
        notification_id=notification_id,
        now=ctx.runtime.clock.now(),
    )
    if msg is None:  # someone else's message looks like no message at all
        raise HTTPException(404, detail="notification not found")
    return InAppMessageRead.model_validate(msg)


class Preferences(BaseModel):
    """Channels per risk class ("II", "III"): wechat, sms, robot. Class I always goes everywhere."""

    channels: ChannelChoice = Field(default_factory=dict)
    robot: RobotName | None = Field(
        None,
        description="the duty group's robot (a name in BK_NOTIFY_ROBOTS); absent: unchanged, '': none",
    )


class PreferencesRead(BaseModel):
    channels: dict[str, list[str]]
    reachable: list[str]  # the channels the person has an address for (openid, phone, duty group)
    robot: str


async def _me(session: AsyncSession, p: Principal) -> User:
    user = await directory.get_user(db_session=session, tenant_id=p.tenant_id, user_id=p.subject)
    if user is None:
        raise HTTPException(404, detail="user not found")
    return user


def _read(user: User) -> PreferencesRead:
    return PreferencesRead(
        channels=user.notify_channels or {}, reachable=sorted(reachable(user)), robot=user.notify_robot
    )


@router.get("/preferences", response_model=PreferencesRead)
async def my_preferences(
    p: Principal = Depends(roles(*STAFF)), session: AsyncSession = Depends(db_session)
) -> PreferencesRead:
    return _read(await _me(session, p))


@router.put("/preferences", response_model=PreferencesRead)
async def set_my_preferences(
    body: Preferences,
    p: Principal = Depends(roles(*STAFF)),
    ctx: Context = Depends(get_ctx),
    session: AsyncSession = Depends(db_session),
) -> PreferencesRead:
    try:
        choice = check_choice(body.channels)
        check_robot(body.robot or "", ctx.settings.notify_robots)
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    user = await _me(session, p)
    service.set_preferences(user=user, channels=choice, robot=body.robot)
    return _read(user)
