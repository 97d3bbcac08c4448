"""Data functions of the notifications room: the facts a message names, its delivery records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.cases.models import Case
from bk_cases.cases.rules import RiskClass
from bk_cases.directory import service as directory
from bk_cases.directory.models import User
from bk_cases.notifications.models import DeliveryRecord, InAppMessage
from bk_cases.notifications.texts import Facts


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "Asia/Shanghai")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Asia/Shanghai")


async def alarm_facts(
    *,
    db_session: AsyncSession,
    tenant_id: str,
    case_id: str,
    template: str,
    digest_count: int = 0,
    note: str = "",
) -> Facts:
    """The case's site and camera by name, its type and class, its times in the tenant's zone."""
    tenant = await directory.get_tenant(db_session=db_session, tenant_id=tenant_id)
    locale = (tenant.locale if tenant is not None else "") or "zh-CN"
    zone = _zone(tenant.timezone if tenant is not None else "")
    case = await db_session.get(Case, case_id) if case_id else None
    if case is None or case.tenant_id != tenant_id:
        return Facts(template=template, locale=locale, digest_count=digest_count, note=note)
    site = await directory.get_site(db_session=db_session, tenant_id=tenant_id, site_id=case.site_id)
    camera = (
        await directory.get_camera_binding(
            db_session=db_session, tenant_id=tenant_id, camera_id=case.camera_id
        )
        if case.camera_id
        else None
    )
    return Facts(
        template=template,
        locale=locale,
        site_name=site.name if site is not None else case.site_id,
        camera_name=(camera.name or camera.camera_id) if camera is not None else case.camera_id,
        case_type=case.case_type,
        risk_class=RiskClass(case.risk_class).name,
        seen_at=_local(case.first_seen_at, zone),
        deadline=_local(case.deadline, zone),
        digest_count=digest_count,
        note=note,
    )


def _local(at: datetime | None, zone: ZoneInfo) -> datetime | None:
    return at.astimezone(zone) if at is not None else None


async def deliveries_of(
    *, db_session: AsyncSession, notification_ids: Sequence[str]
) -> dict[str, list[DeliveryRecord]]:
    """Each message's phone deliveries, by notification id."""
    if not notification_ids:
        return {}
    rows = await db_session.scalars(
        select(DeliveryRecord)
        .where(DeliveryRecord.notification_id.in_(list(notification_ids)))
        .order_by(DeliveryRecord.channel)
    )
    found: dict[str, list[DeliveryRecord]] = {}
    for r in rows:
        found.setdefault(r.notification_id, []).append(r)
    return found


async def save_delivery(db_session: AsyncSession, record: DeliveryRecord) -> None:
    """Insert or update one (notification, channel) record."""
    await db_session.merge(record)


async def retrying(
    *, db_session: AsyncSession, stale_before: datetime, limit: int
) -> Sequence[DeliveryRecord]:
    """Deliveries left to retry, and those claimed for a retry before ``stale_before`` and never
    finished (their replica died), oldest first."""
    rows = await db_session.scalars(
        select(DeliveryRecord)
        .where(
            or_(
                DeliveryRecord.status == "retrying",
                and_(DeliveryRecord.status == "sending", DeliveryRecord.updated_at < stale_before),
            )
        )
        .order_by(DeliveryRecord.updated_at)
        .limit(limit)
    )
    return rows.all()


async def claim_retry(*, db_session: AsyncSession, record: DeliveryRecord, now: datetime) -> bool:
    """Take one retry for this replica (``sending``); False when another replica took it first."""
    result = await db_session.execute(
        update(DeliveryRecord)
        .where(
            DeliveryRecord.notification_id == record.notification_id,
            DeliveryRecord.channel == record.channel,
            DeliveryRecord.status == record.status,
            DeliveryRecord.attempts == record.attempts,
        )
        .values(status="sending", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def _mine(*, tenant_id: str, recipient_id: str):  # type: ignore[no-untyped-def]
    return (InAppMessage.tenant_id == tenant_id, InAppMessage.recipient_id == recipient_id)


async def inbox(
    *,
    db_session: AsyncSession,
    tenant_id: str,
    recipient_id: str,
    unread_only: bool,
    limit: int,
    offset: int,
) -> tuple[list[InAppMessage], int]:
    """One page of a person's in-app messages, newest first, and how many of all theirs are unread."""
    mine = _mine(tenant_id=tenant_id, recipient_id=recipient_id)
    stmt = select(InAppMessage).where(*mine)
    if unread_only:
        stmt = stmt.where(InAppMessage.read_at.is_(None))
    rows = await db_session.scalars(
        stmt.order_by(InAppMessage.created_at.desc(), InAppMessage.id).limit(limit).offset(offset)
    )
    unread = await db_session.scalar(
        select(func.count()).select_from(InAppMessage).where(*mine, InAppMessage.read_at.is_(None))
    )
    return list(rows), int(unread or 0)


async def mark_read(
    *, db_session: AsyncSession, tenant_id: str, recipient_id: str, notification_id: str, now: datetime
) -> InAppMessage | None:
    """Mark one of the person's messages read (once: the first reading time stays); None when the
    message is not theirs or unknown."""
    msg = await db_session.scalar(
        select(InAppMessage).where(
            InAppMessage.id == notification_id, *_mine(tenant_id=tenant_id, recipient_id=recipient_id)
        )
    )
    if msg is not None and msg.read_at is None:
        await db_session.execute(update(InAppMessage).where(InAppMessage.id == msg.id).values(read_at=now))
        await db_session.refresh(msg)
    return msg


def set_preferences(*, user: User, channels: dict[str, list[str]], robot: str | None) -> None:
    """A person's channel choice per risk class, and their duty group's robot (None: unchanged)."""
    user.notify_channels = channels
    if robot is not None:
        user.notify_robot = robot
