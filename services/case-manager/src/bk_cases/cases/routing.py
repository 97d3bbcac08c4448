"""Who hears about a case: the site's managers, the territorial supervisors, the education bureau."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.cases.rules import Ladder, escalation_ladder
from bk_cases.context import Context
from bk_cases.directory import service as directory
from bk_cases.directory.models import User
from bk_cases.directory.rules import ancestors
from bk_cases.notifications.flows import Recipient

_TTL_S = 60.0  # people change posts rarely; a minute of staleness spares a query per case
MARKET, EDUCATION = "market", "education"  # the departments (directory.rules.DEPARTMENTS)


def _recipients(users: list[User]) -> list[Recipient]:
    return [Recipient(u.id, u.wechat_openid or "", u.phone or "") for u in users]


async def site_managers(
    ctx: Context, session: AsyncSession, *, tenant_id: str, site_id: str
) -> list[Recipient]:
    # One query per tenant, not per site: a burst of new cases touches hundreds of sites at once.
    key = f"managers|{tenant_id}"
    by_site = ctx.ttl_get(key)
    if by_site is None:
        users = await directory.site_managers_by_site(db_session=session, tenant_id=tenant_id)
        by_site = {site: _recipients(found) for site, found in users.items()}
        ctx.ttl_put(key, by_site, _TTL_S)
    return list(by_site.get(site_id, []))  # type: ignore[attr-defined]


async def supervisors(
    ctx: Context, session: AsyncSession, *, tenant_id: str, org_path: str, department: str = MARKET
) -> list[Recipient]:
    """The nearest supervisors at or above ``org_path`` (territorial responsibility, 属地管理)."""
    found = await ladder(ctx, session, tenant_id=tenant_id, org_path=org_path, department=department)
    return [found.people[i] for i in found.ladder.supervisors]


@dataclass(frozen=True, slots=True)
class Routed:
    """The escalation ladder above one unit, with the people on it (``people`` by user id)."""

    ladder: Ladder
    people: dict[str, Recipient]

    def holders(self) -> list[Recipient]:
        return [self.people[i] for i in self.ladder.supervisors]

    def escalation(self) -> list[Recipient]:
        return [self.people[i] for i in self.ladder.escalate_to]


async def ladder(
    ctx: Context, session: AsyncSession, *, tenant_id: str, org_path: str, department: str = MARKET
) -> Routed:
    """Who holds cases at ``org_path`` and whom a red card goes to (``rules.escalation_ladder``)."""
    key = f"ladder|{tenant_id}|{org_path}|{department}"
    if (hit := ctx.ttl_get(key)) is not None:
        return hit  # type: ignore[return-value]
    users = await directory.supervisors_at(
        db_session=session, tenant_id=tenant_id, org_path=org_path, department=department, nearest_only=False
    )
    staffed: dict[str, list[str]] = {}
    for u in users:
        staffed.setdefault(u.org_path, []).append(u.id)
    routed = Routed(
        escalation_ladder(ancestors(org_path), staffed), {r.user_id: r for r in _recipients(list(users))}
    )
    ctx.ttl_put(key, routed, _TTL_S)
    return routed
