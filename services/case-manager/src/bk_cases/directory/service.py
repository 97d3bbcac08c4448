"""Directory data functions (keyword-only, one query each)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.directory.models import CameraBinding, KitchenZone, OrgUnit, Site, User
from bk_cases.directory.rules import ancestors
from bkcore.auth import Principal, Role
from bkcore.auth_http import scope_to_principal, subtree_clause


def scope_sites(stmt: Select, principal: Principal) -> Select:  # type: ignore[type-arg]
    """Restrict a statement over ``Site`` to what the caller may see."""
    return scope_to_principal(
        stmt, principal, tenant_col=Site.tenant_id, org_path_col=Site.org_path, site_id_col=Site.id
    )


async def get_user_by_username(
    *, db_session: AsyncSession, username: str, tenant_id: str | None = None
) -> list[User]:
    stmt = select(User).where(User.username == username)
    if tenant_id:
        stmt = stmt.where(User.tenant_id == tenant_id)
    return list((await db_session.scalars(stmt.limit(2))).all())


async def get_user(*, db_session: AsyncSession, tenant_id: str, user_id: str) -> User | None:
    user = await db_session.get(User, user_id)
    return user if user is not None and user.tenant_id == tenant_id else None


async def get_site(*, db_session: AsyncSession, tenant_id: str, site_id: str) -> Site | None:
    return await db_session.get(Site, (tenant_id, site_id))


async def list_sites(
    *, db_session: AsyncSession, principal: Principal, kind: str | None = None, org_path: str | None = None
) -> Sequence[Site]:
    stmt = scope_sites(select(Site), principal).order_by(Site.org_path, Site.id)
    if kind:
        stmt = stmt.where(Site.kind == kind)
    if org_path:
        stmt = stmt.where(subtree_clause(Site.org_path, org_path))
    return (await db_session.scalars(stmt)).all()


async def site_layout(
    *, db_session: AsyncSession, tenant_id: str, site_id: str
) -> tuple[Sequence[KitchenZone], Sequence[CameraBinding]]:
    zones = await db_session.scalars(
        select(KitchenZone)
        .where(KitchenZone.tenant_id == tenant_id, KitchenZone.site_id == site_id)
        .order_by(KitchenZone.zone)
    )
    cams = await db_session.scalars(
        select(CameraBinding)
        .where(CameraBinding.tenant_id == tenant_id, CameraBinding.site_id == site_id)
        .order_by(CameraBinding.camera_id)
    )
    return zones.all(), cams.all()


async def list_org_units(*, db_session: AsyncSession, principal: Principal) -> Sequence[OrgUnit]:
    stmt = select(OrgUnit).where(OrgUnit.tenant_id == principal.tenant_id).order_by(OrgUnit.path)
    if principal.role == Role.SUPERVISOR:
        stmt = stmt.where(subtree_clause(OrgUnit.path, principal.org_path))
    elif principal.role not in (Role.PLATFORM_ADMIN, Role.SERVICE):
        return []
    return (await db_session.scalars(stmt)).all()


async def get_org_unit_by_path(*, db_session: AsyncSession, tenant_id: str, path: str) -> OrgUnit | None:
    return await db_session.scalar(
        select(OrgUnit).where(OrgUnit.tenant_id == tenant_id, OrgUnit.path == path)
    )


async def site_managers(*, db_session: AsyncSession, tenant_id: str, site_id: str) -> list[User]:
    """Site managers of one site (site_ids is JSON, so the membership test is done here)."""
    users = await db_session.scalars(
        select(User).where(User.tenant_id == tenant_id, User.role == Role.SITE_MANAGER.value)
    )
    return [u for u in users if site_id in (u.site_ids or [])]


async def site_managers_by_site(*, db_session: AsyncSession, tenant_id: str) -> dict[str, list[User]]:
    """Every site's managers in one query (what the case intake caches per tenant)."""
    users = await db_session.scalars(
        select(User).where(User.tenant_id == tenant_id, User.role == Role.SITE_MANAGER.value)
    )
    by_site: dict[str, list[User]] = {}
    for u in users:
        for site_id in u.site_ids or []:
            by_site.setdefault(site_id, []).append(u)
    return by_site


async def supervisors_at(
    *,
    db_session: AsyncSession,
    tenant_id: str,
    org_path: str,
    department: str = "market",
    nearest_only: bool = True,
) -> list[User]:
    """Supervisors of the nearest unit at or above ``org_path`` that has any (territorial duty)."""
    paths = ancestors(org_path)
    users = (
        await db_session.scalars(
            select(User).where(
                User.tenant_id == tenant_id,
                User.role == Role.SUPERVISOR.value,
                User.department == department,
                User.org_path.in_(paths),
            )
        )
    ).all()
    for path in paths:
        found = [u for u in users if u.org_path == path]
        if found and nearest_only:
            return found
    return list(users) if not nearest_only else []
