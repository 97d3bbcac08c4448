"""Who hears about a case: the site's managers, the territorial supervisors, the education bureau."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.context import Context
from bk_cases.directory import service as directory
from bk_cases.directory.models import User
from bk_cases.notifications.flows import Recipient

_TTL_S = 60.0  # people change posts rarely; a minute of staleness spares a query per case


def _recipients(users: list[User]) -> list[Recipient]:
    return [Recipient(u.id, u.wechat_openid or "", u.phone or "") for u in users]


async def site_managers(
    ctx: Context, session: AsyncSession, *, tenant_id: str, site_id: str
) -> list[Recipient]:
    key = f"managers|{tenant_id}|{site_id}"
    if (hit := ctx.ttl_get(key)) is not None:
        return hit  # type: ignore[return-value]
    found = _recipients(
        await directory.site_managers(db_session=session, tenant_id=tenant_id, site_id=site_id)
    )
    ctx.ttl_put(key, found, _TTL_S)
    return found


async def supervisors(
    ctx: Context, session: AsyncSession, *, tenant_id: str, org_path: str, department: str = "market"
) -> list[Recipient]:
    """The nearest supervisors at or above ``org_path`` (territorial responsibility, 属地管理)."""
    key = f"supervisors|{tenant_id}|{org_path}|{department}"
    if (hit := ctx.ttl_get(key)) is not None:
        return hit  # type: ignore[return-value]
    found = _recipients(
        await directory.supervisors_at(
            db_session=session, tenant_id=tenant_id, org_path=org_path, department=department
        )
    )
    ctx.ttl_put(key, found, _TTL_S)
    return found
