"""Directory data functions (keyword-only, one query each)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.cases.models import RiskRule
from bk_cases.cases.rules import GradingRule
from bk_cases.directory.models import CameraBinding, KitchenZone, OrgUnit, Site, Tenant, User
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


# --- Administration (bk_cases.admin): reads and writes of single entries ---------------------------


async def get_tenant(*, db_session: AsyncSession, tenant_id: str) -> Tenant | None:
    return await db_session.get(Tenant, tenant_id)


async def get_org_unit(*, db_session: AsyncSession, tenant_id: str, unit_id: str) -> OrgUnit | None:
    return await db_session.get(OrgUnit, (tenant_id, unit_id))


async def org_units_by_id(*, db_session: AsyncSession, tenant_id: str) -> dict[str, OrgUnit]:
    rows = await db_session.scalars(select(OrgUnit).where(OrgUnit.tenant_id == tenant_id))
    return {u.id: u for u in rows}


async def sites_by_id(
    *, db_session: AsyncSession, tenant_id: str, site_ids: Collection[str] | None = None
) -> dict[str, Site]:
    stmt = select(Site).where(Site.tenant_id == tenant_id)
    if site_ids is not None:
        stmt = stmt.where(Site.id.in_(sorted(set(site_ids))))
    return {s.id: s for s in await db_session.scalars(stmt)}


async def has_root_unit(*, db_session: AsyncSession, tenant_id: str) -> bool:
    found = await db_session.scalar(
        select(OrgUnit.id).where(OrgUnit.tenant_id == tenant_id, OrgUnit.parent_id.is_(None)).limit(1)
    )
    return found is not None


async def list_users(*, db_session: AsyncSession, tenant_id: str) -> Sequence[User]:
    """Every user of the tenant (the admin routes narrow it to the caller's reach)."""
    return (
        await db_session.scalars(select(User).where(User.tenant_id == tenant_id).order_by(User.username))
    ).all()


async def users_by_username(
    *, db_session: AsyncSession, tenant_id: str, usernames: Collection[str]
) -> dict[str, User]:
    rows = await db_session.scalars(
        select(User).where(User.tenant_id == tenant_id, User.username.in_(sorted(set(usernames))))
    )
    return {u.username: u for u in rows}


async def replace_zones(
    *, db_session: AsyncSession, tenant_id: str, site_id: str, zones: Sequence[tuple[str, str]]
) -> None:
    """The site's zones become exactly ``zones`` ((zone, name) pairs); rows go through the session, so
    the audit sees each zone added, renamed or removed."""
    have = {
        z.zone: z
        for z in await db_session.scalars(
            select(KitchenZone).where(KitchenZone.tenant_id == tenant_id, KitchenZone.site_id == site_id)
        )
    }
    wanted = dict(zones)
    for zone, row in have.items():
        if zone not in wanted:
            await db_session.delete(row)
        elif row.name != wanted[zone]:
            row.name = wanted[zone]
    for zone, name in wanted.items():
        if zone not in have:
            db_session.add(KitchenZone(tenant_id=tenant_id, site_id=site_id, zone=zone, name=name))


async def get_camera_binding(
    *, db_session: AsyncSession, tenant_id: str, camera_id: str
) -> CameraBinding | None:
    return await db_session.get(CameraBinding, (tenant_id, camera_id))


async def grading_rules(*, db_session: AsyncSession, tenant_id: str) -> Sequence[RiskRule]:
    return (
        await db_session.scalars(
            select(RiskRule)
            .where(RiskRule.tenant_id == tenant_id)
            .order_by(RiskRule.case_type, RiskRule.severity, RiskRule.site_scope)
        )
    ).all()


async def replace_grading_rules(
    *, db_session: AsyncSession, tenant_id: str, rules: Sequence[GradingRule]
) -> None:
    """The tenant's grading overrides become exactly ``rules`` (one per type, severity and site scope)."""
    await db_session.execute(delete(RiskRule).where(RiskRule.tenant_id == tenant_id))
    for r in rules:
        db_session.add(
            RiskRule(
                tenant_id=tenant_id,
                case_type=r.case_type,
                severity=r.severity,
                site_scope=r.site_scope,
                risk_class=int(r.risk_class),
                deadline_h=r.deadline_h,
            )
        )
