"""Administration flows: check a change against the directory and the caller's reach, write it, chain
it in the audit and publish it on ``directory.v1`` — all in the caller's transaction.

Each entry has a ``check_*`` step (reads only; raises ``Refused`` naming the field) and a ``save_*``
step (writes). A single API call runs both; an import checks every row first and writes only when
no row is refused (``bk_cases.admin.importing``), so a dry run and a real run give the same errors.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.admin.models import (
    CameraBindingIn,
    FirstAdmin,
    GradingRule,
    OrgUnitIn,
    OrgUnitPatch,
    SiteIn,
    SitePatch,
    TenantIn,
    TenantPatch,
    UserIn,
    UserPatch,
    ZoneIn,
)
from bk_cases.audit import service as audit
from bk_cases.cases import service as cases
from bk_cases.cases.enums import RiskClass
from bk_cases.cases.models import RiskRule
from bk_cases.cases.rules import GradingRule as CaseGrading
from bk_cases.directory import events, rules, service
from bk_cases.directory.models import CameraBinding, OrgUnit, Site, Tenant, User
from bk_cases.directory.rules import Admin
from bk_cases.directory.seed import ZONE_NAMES
from bk_cases.notifications.rules import check_robot
from bkcore.auth import Principal, Role, is_operator


class Refused(Exception):
    """A change the directory or the caller's reach does not allow (HTTP ``status``; ``field``: the
    input it is about, '' for the request as a whole)."""

    def __init__(self, status: int, message: str, field: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


NOT_FOUND = "未找到 · not found"
OUT_OF_REACH = "不在您的管辖范围 · outside the area you administer"


def no_unit(unit_id: str) -> str:
    return f"你管辖范围内没有这个单位 · no org unit {unit_id!r} in the area you administer"


def no_sites(site_ids: Sequence[str]) -> str:
    return f"你管辖范围内没有这些场所 · no site {', '.join(site_ids)} in the area you administer"


def unit_in_reach(admin: Admin, unit: OrgUnit | None, unit_id: str, field: str) -> OrgUnit:
    """The unit a request names, if the caller administers it. One in another district is answered
    exactly as one that does not exist (422 naming the field): the answer must not tell a bureau admin
    which ids exist elsewhere in the tenant."""
    if unit is None or not rules.may_administer_path(admin, unit.path):
        raise Refused(422, no_unit(unit_id), field)
    return unit


# --- the caller -----------------------------------------------------------------------------------


async def admin_of(
    session: AsyncSession, p: Principal, *, operator_tenant: str, cameras: bool = False
) -> Admin:
    """The caller as the directory knows them now (a deactivated admin or a revoked flag counts at
    once, whatever the token says). Platform admins and bureau admins; for ``cameras`` any
    supervisor, within their subtree."""
    user = await service.get_user(db_session=session, tenant_id=p.tenant_id, user_id=p.subject)
    if user is None or not user.active:
        raise Refused(403, "账号已停用或不存在 · this account is deactivated or gone")
    role = Role(user.role)
    if role == Role.SUPERVISOR and not (user.bureau_admin or cameras):
        raise Refused(403, "需要管理员权限 · only platform admins and bureau admins (区县管理员) may do this")
    if role not in (Role.PLATFORM_ADMIN, Role.SUPERVISOR):
        raise Refused(403, "需要管理员权限 · only platform admins and bureau admins (区县管理员) may do this")
    operator = is_operator(role=role, tenant_id=user.tenant_id, operator_tenant=operator_tenant)
    return Admin(user.id, user.tenant_id, role, user.org_path or "/", operator=operator)


def _patch(row: object, body: BaseModel) -> None:
    """Set the fields the request gave (a null leaves the value as it is)."""
    for name, value in body.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(row, name, value)


def _audited(session: AsyncSession, admin: Admin) -> Any:
    """Every directory row the block writes is chained in the audit log, with the caller as actor."""
    return audit.directory_changes(session, actor_id=admin.user_id)


# --- tenants --------------------------------------------------------------------------------------


@dataclass
class TenantResult:
    tenant: Tenant
    admin: User
    initial_password: str | None


async def create_tenant(session: AsyncSession, admin: Admin, body: TenantIn) -> TenantResult:
    """A new tenant and its first platform admin (the operator's platform admins only)."""
    if not admin.operator:
        raise Refused(
            403,
            "只有平台运营方的管理员可以开通租户 · only platform admins of the operator tenant create tenants",
        )
    if await service.get_tenant(db_session=session, tenant_id=body.id) is not None:
        raise Refused(409, f"租户已存在 · tenant {body.id!r} exists", "id")
    async with _audited(session, admin):
        tenant = Tenant(id=body.id, name=body.name, timezone=body.timezone, locale=body.locale)
        session.add(tenant)
        await session.flush()
        user, password = _first_admin(body.id, body.admin)
        session.add(user)
    await events.record_change(session, tenant_id=body.id, kind="tenant", entity_id=body.id)
    await events.record_change(session, tenant_id=body.id, kind="user", entity_id=user.id)
    return TenantResult(tenant, user, password)


def _first_admin(tenant_id: str, body: FirstAdmin) -> tuple[User, str | None]:
    generated = None if body.password else rules.new_password()
    user = User(
        id=user_id(tenant_id, body.username),
        tenant_id=tenant_id,
        username=body.username,
        password_hash=rules.hash_password(body.password or generated or ""),
        role=Role.PLATFORM_ADMIN.value,
        name=body.name,
        department="market",
        org_id=None,
        org_path="/",
        site_ids=[],
        phone=body.phone,
        wechat_openid="",
        bureau_admin=False,
        active=True,
        created_at=datetime.now(UTC),
    )
    return user, generated


def user_id(tenant_id: str, username: str) -> str:
    return f"{tenant_id}:{username}"


async def own_tenant(session: AsyncSession, admin: Admin, tenant_id: str) -> Tenant:
    """The caller's own tenant (platform admins only); any other is not found."""
    tenant = await service.get_tenant(db_session=session, tenant_id=tenant_id)
    if tenant is None or tenant_id != admin.tenant_id:
        raise Refused(404, NOT_FOUND)
    if not admin.platform:
        raise Refused(403, "只有平台管理员可以修改租户 · only platform admins change the tenant")
    return tenant


async def update_tenant(session: AsyncSession, admin: Admin, tenant_id: str, body: TenantPatch) -> Tenant:
    tenant = await own_tenant(session, admin, tenant_id)
    async with _audited(session, admin):
        _patch(tenant, body)
    await events.record_change(session, tenant_id=tenant_id, kind="tenant", entity_id=tenant_id)
    return tenant


async def set_grading_rules(
    session: AsyncSession, admin: Admin, tenant_id: str, body: Sequence[GradingRule]
) -> None:
    """The tenant's grading overrides become exactly ``body`` (types not named: the defaults)."""
    await own_tenant(session, admin, tenant_id)
    seen = [_rule_key(r) for r in body]
    if dup := sorted({"/".join(filter(None, k)) for k in seen if seen.count(k) > 1}):
        raise Refused(
            422,
            f"分级规则重复 · rules listed twice (type/severity/site scope): {', '.join(dup)}",
            "case_type",
        )
    before = await service.grading_rules(db_session=session, tenant_id=tenant_id)
    await service.replace_grading_rules(
        db_session=session,
        tenant_id=tenant_id,
        rules=[
            CaseGrading(r.case_type, RiskClass(r.risk_class), r.deadline_h, r.severity, r.site_scope)
            for r in body
        ],
    )
    await audit.record(
        session,
        tenant_id=tenant_id,
        actor_id=admin.user_id,
        action="grading.replace",
        entity_type="tenant",
        entity_id=tenant_id,
        data={
            "before": [[*_rule_key(r), r.risk_class, r.deadline_h] for r in before],
            "after": [[*_rule_key(r), r.risk_class, r.deadline_h] for r in body],
        },
    )


def _rule_key(r: GradingRule | RiskRule) -> tuple[str, str, str]:
    """What makes a grading rule one (the ``risk_rules`` key within a tenant)."""
    return (r.case_type, r.severity, r.site_scope)


# --- org units ------------------------------------------------------------------------------------


async def create_unit(session: AsyncSession, admin: Admin, body: OrgUnitIn) -> OrgUnit:
    tid = admin.tenant_id
    if await service.get_org_unit(db_session=session, tenant_id=tid, unit_id=body.id) is not None:
        raise Refused(409, f"单位编号已存在 · org unit {body.id!r} exists", "id")
    if body.parent_id is None:
        if not admin.platform:
            raise Refused(
                403, "只有平台管理员可以建根单位 · only platform admins create the root unit", "parent_id"
            )
        if await service.has_root_unit(db_session=session, tenant_id=tid):
            raise Refused(422, "已有根单位 · the tenant has its root unit: name the parent_id", "parent_id")
        path = rules.child_path(None, body.id)
    else:
        parent = unit_in_reach(
            admin,
            await service.get_org_unit(db_session=session, tenant_id=tid, unit_id=body.parent_id),
            body.parent_id,
            "parent_id",
        )
        _child_kind(parent.kind, body.kind)
        path = rules.child_path(parent.path, body.id)
    async with _audited(session, admin):
        unit = OrgUnit(
            tenant_id=tid, id=body.id, name=body.name, kind=body.kind, parent_id=body.parent_id, path=path
        )
        session.add(unit)
    await events.record_change(session, tenant_id=tid, kind="org_unit", entity_id=body.id)
    return unit


def _child_kind(parent_kind: str, child_kind: str) -> None:
    try:
        rules.check_child_kind(parent_kind, child_kind)
    except rules.Invalid as exc:
        raise Refused(422, str(exc), "kind") from None


async def update_unit(session: AsyncSession, admin: Admin, unit_id: str, body: OrgUnitPatch) -> OrgUnit:
    """Rename a unit or change its kind (units do not move: their subtree's paths would all change)."""
    tid = admin.tenant_id
    units = await service.org_units_by_id(db_session=session, tenant_id=tid)
    unit = units.get(unit_id)
    if unit is None or not rules.may_administer_path(admin, unit.path):
        raise Refused(404, NOT_FOUND)
    if body.kind is not None and body.kind != unit.kind:
        if unit.parent_id is not None and unit.parent_id in units:
            _child_kind(units[unit.parent_id].kind, body.kind)
        for child in (u for u in units.values() if u.parent_id == unit.id):
            _child_kind(body.kind, child.kind)
    async with _audited(session, admin):
        _patch(unit, body)
    await events.record_change(session, tenant_id=tid, kind="org_unit", entity_id=unit_id)
    return unit


# --- sites ----------------------------------------------------------------------------------------


@dataclass
class Lookup:
    """What checks read, loaded once per request or import: the tenant's units, and sites by id."""

    session: AsyncSession
    tenant_id: str
    units: dict[str, OrgUnit] = field(default_factory=dict)
    sites: dict[str, Site] = field(default_factory=dict)
    _loaded_units: bool = False

    async def unit(self, unit_id: str) -> OrgUnit | None:
        if not self._loaded_units:
            self.units = await service.org_units_by_id(db_session=self.session, tenant_id=self.tenant_id)
            self._loaded_units = True
        return self.units.get(unit_id)

    async def load_sites(self, site_ids: Collection[str]) -> None:
        missing = [s for s in site_ids if s not in self.sites]
        if missing:
            self.sites.update(
                await service.sites_by_id(db_session=self.session, tenant_id=self.tenant_id, site_ids=missing)
            )


@dataclass
class SitePlan:
    existing: Site | None
    values: dict[str, Any]  # the columns to write, org_path included
    zones: list[tuple[str, str]] | None  # None: leave the site's zones as they are


async def check_site(
    lookup: Lookup, admin: Admin, site_id: str, values: dict[str, Any], zones: list[ZoneIn] | None
) -> SitePlan:
    """``values``: the site's columns after the change (for a new site: all of them)."""
    await lookup.load_sites([site_id])
    existing = lookup.sites.get(site_id)
    if existing is not None and not rules.may_administer_path(admin, existing.org_path):
        raise Refused(404, NOT_FOUND, "id")
    unit = unit_in_reach(admin, await lookup.unit(values["org_id"]), values["org_id"], "org_id")
    out = {**values, "org_path": unit.path}
    named = None if zones is None else [(z.zone, z.name or ZONE_NAMES[z.zone]) for z in zones]
    return SitePlan(existing, out, named)


async def save_site(session: AsyncSession, admin: Admin, site_id: str, plan: SitePlan) -> Site:
    tid = admin.tenant_id
    async with _audited(session, admin):
        site = plan.existing
        if site is None:
            site = Site(tenant_id=tid, id=site_id, licences=[], contacts=[], **plan.values)
            session.add(site)
        else:
            moved = site.org_path != plan.values["org_path"]
            for name, value in plan.values.items():
                if getattr(site, name) != value:
                    setattr(site, name, value)
            if moved:  # its cases go with it: the old unit's supervisors lose them, the new one's gain them
                await cases.follow_site(
                    db_session=session, tenant_id=tid, site_id=site_id, org_path=site.org_path
                )
        await session.flush()
        if plan.zones is not None:
            await service.replace_zones(db_session=session, tenant_id=tid, site_id=site_id, zones=plan.zones)
    await events.record_change(session, tenant_id=tid, kind="site", entity_id=site_id)
    return site


async def create_site(session: AsyncSession, admin: Admin, body: SiteIn) -> Site:
    lookup = Lookup(session, admin.tenant_id)
    await lookup.load_sites([body.id])
    if body.id in lookup.sites:
        raise Refused(409, f"场所编号已存在 · site {body.id!r} exists", "id")
    values = site_values(None, body.model_dump(exclude={"id", "zones"}))
    plan = await check_site(lookup, admin, body.id, values, body.zones)
    return await save_site(session, admin, body.id, plan)


async def update_site(session: AsyncSession, admin: Admin, site_id: str, body: SitePatch) -> Site:
    """Change a site; a new ``org_id`` moves it (within the caller's reach, both ends)."""
    lookup = Lookup(session, admin.tenant_id)
    await lookup.load_sites([site_id])
    site = lookup.sites.get(site_id)
    if site is None:
        raise Refused(404, NOT_FOUND)
    changes = body.model_dump(exclude_unset=True, exclude={"zones"})
    given = {k: v for k, v in changes.items() if v is not None or k in ("latitude", "longitude")}
    plan = await check_site(lookup, admin, site_id, site_values(site, given), body.zones)
    return await save_site(session, admin, site_id, plan)


SITE_COLUMNS = ("name", "kind", "org_id", "address", "latitude", "longitude", "opening_hours")


def site_values(site: Site | None, changes: dict[str, Any]) -> dict[str, Any]:
    """The site's columns after ``changes`` (a new site: defaults for what is not given)."""
    base: dict[str, Any] = {"address": "", "latitude": None, "longitude": None, "opening_hours": ""}
    if site is not None:
        base = {c: getattr(site, c) for c in SITE_COLUMNS}
    return {**base, **{k: v for k, v in changes.items() if k in SITE_COLUMNS}}


# --- camera bindings (which zone of which site a camera watches) ----------------------------------


async def bind_camera(
    session: AsyncSession, admin: Admin, site_id: str, camera_id: str, body: CameraBindingIn
) -> CameraBinding:
    tid = admin.tenant_id
    site = await _site_in_reach(session, admin, site_id)
    zones, _ = await service.site_layout(db_session=session, tenant_id=tid, site_id=site.id)
    if body.zone not in {z.zone for z in zones}:
        raise Refused(
            422, f"该场所没有此功能区 · the site has no zone {body.zone!r}: add it to the site first", "zone"
        )
    binding = await service.get_camera_binding(db_session=session, tenant_id=tid, camera_id=camera_id)
    if binding is not None and binding.site_id != site_id:
        raise Refused(409, f"摄像头编号已被使用 · camera {camera_id!r} belongs to another site", "camera_id")
    async with _audited(session, admin):
        if binding is None:
            binding = CameraBinding(
                tenant_id=tid, camera_id=camera_id, site_id=site_id, zone=body.zone, name=body.name
            )
            session.add(binding)
        else:
            binding.zone, binding.name = body.zone, body.name
    await events.record_change(session, tenant_id=tid, kind="camera", entity_id=camera_id)
    return binding


async def unbind_camera(session: AsyncSession, admin: Admin, site_id: str, camera_id: str) -> None:
    tid = admin.tenant_id
    await _site_in_reach(session, admin, site_id)
    binding = await service.get_camera_binding(db_session=session, tenant_id=tid, camera_id=camera_id)
    if binding is None or binding.site_id != site_id:
        raise Refused(404, NOT_FOUND)
    async with _audited(session, admin):
        await session.delete(binding)
    await events.record_change(session, tenant_id=tid, kind="camera", entity_id=camera_id)


async def _site_in_reach(session: AsyncSession, admin: Admin, site_id: str) -> Site:
    site = await service.get_site(db_session=session, tenant_id=admin.tenant_id, site_id=site_id)
    if site is None or not rules.may_administer_path(admin, site.org_path):
        raise Refused(404, NOT_FOUND)
    return site


# --- users ----------------------------------------------------------------------------------------

USER_COLUMNS = (
    "name",
    "role",
    "org_id",
    "site_ids",
    "phone",
    "wechat_openid",
    "department",
    "bureau_admin",
    "notify_channels",
    "notify_robot",
)


@dataclass
class UserPlan:
    existing: User | None
    values: dict[str, Any]  # columns after the change, org_path included
    password: str | None  # a new user's password (None for an existing one)
    generated: bool = False


def user_values(user: User | None, changes: dict[str, Any]) -> dict[str, Any]:
    base: dict[str, Any] = {
        "org_id": None,
        "site_ids": [],
        "phone": "",
        "wechat_openid": "",
        "department": "market",
        "bureau_admin": False,
        "notify_channels": {},
        "notify_robot": "",
    }
    if user is not None:
        base = {c: getattr(user, c) for c in USER_COLUMNS}
        base["site_ids"] = list(base["site_ids"] or [])
        base["notify_channels"] = dict(base["notify_channels"] or {})
    return {**base, **{k: v for k, v in changes.items() if k in USER_COLUMNS}}


async def check_user(
    lookup: Lookup, admin: Admin, existing: User | None, values: dict[str, Any], password: str | None
) -> UserPlan:
    """A user as they will be: role, unit and sites consistent, inside the caller's reach (before
    and after the change), the bureau-admin flag handed out by platform admins only."""
    role = values["role"]
    org_id, site_ids = values.get("org_id"), list(dict.fromkeys(values.get("site_ids") or []))
    if existing is not None and not await _user_in_reach(lookup, admin, existing):
        raise Refused(404, NOT_FOUND)
    if role == Role.PLATFORM_ADMIN and not admin.platform:
        raise Refused(
            403, "只有平台管理员可以设平台管理员 · only platform admins make platform admins", "role"
        )
    org_path = "/"
    if org_id is not None:
        unit = await lookup.unit(org_id)
        if existing is None or org_id != existing.org_id:  # a unit named now: only one in reach
            unit = unit_in_reach(admin, unit, org_id, "org_id")
        elif unit is None:
            raise Refused(422, no_unit(org_id), "org_id")
        org_path = unit.path
    if role == Role.SUPERVISOR and org_id is None:
        raise Refused(422, "监管人员须有所属单位 · a supervisor needs an org unit (org_id)", "org_id")
    if role in (Role.SUPERVISOR, Role.PLATFORM_ADMIN) and site_ids:
        raise Refused(
            422, "监管人员按单位管辖,不绑定场所 · supervisors and admins have no site_ids", "site_ids"
        )
    if role in (Role.SITE_MANAGER, Role.STAFF) and not site_ids:
        raise Refused(422, "场所人员须绑定场所 · site managers and staff need at least one site", "site_ids")
    await lookup.load_sites(site_ids)
    reach = [
        s
        for s in site_ids
        if s in lookup.sites and rules.may_administer_path(admin, lookup.sites[s].org_path)
    ]
    if missing := [s for s in site_ids if s not in reach]:  # another district's site: as if none
        raise Refused(422, no_sites(missing), "site_ids")
    if values.get("bureau_admin") and role != Role.SUPERVISOR:
        raise Refused(
            422, "只有监管人员可以是区县管理员 · only supervisors can be bureau admins", "bureau_admin"
        )
    flag_before = bool(existing.bureau_admin) if existing is not None else False
    if bool(values.get("bureau_admin")) != flag_before and not admin.platform:
        raise Refused(
            403, "只有平台管理员可以任免区县管理员 · only platform admins grant bureau admin", "bureau_admin"
        )
    site_paths = [lookup.sites[s].org_path for s in site_ids]
    if not rules.may_manage_user(admin, role=role, org_path=org_path, site_paths=site_paths):
        raise Refused(403, OUT_OF_REACH, "role")  # a guard: every id named was in reach by now
    out = {**values, "site_ids": site_ids, "org_path": org_path}
    generated = existing is None and not password
    return UserPlan(
        existing, out, (password or rules.new_password()) if existing is None else None, generated
    )


async def _user_in_reach(lookup: Lookup, admin: Admin, user: User) -> bool:
    await lookup.load_sites(user.site_ids or [])
    paths = [lookup.sites[s].org_path for s in user.site_ids or [] if s in lookup.sites]
    return rules.may_manage_user(admin, role=user.role, org_path=user.org_path or "/", site_paths=paths)


async def save_user(session: AsyncSession, admin: Admin, username: str, plan: UserPlan) -> User:
    tid = admin.tenant_id
    async with _audited(session, admin):
        user = plan.existing
        if user is None:
            user = User(
                id=user_id(tid, username),
                tenant_id=tid,
                username=username,
                password_hash=rules.hash_password(plan.password or ""),
                active=True,
                created_at=datetime.now(UTC),
                **plan.values,
            )
            session.add(user)
        else:
            for name, value in plan.values.items():
                if getattr(user, name) != value:
                    setattr(user, name, value)
    await events.record_change(session, tenant_id=tid, kind="user", entity_id=user.id)
    return user


def _robot_configured(name: str | None, robots: Collection[str]) -> None:
    try:
        check_robot(name or "", robots)
    except ValueError as exc:
        raise Refused(422, str(exc), "notify_robot") from None


async def create_user(
    session: AsyncSession, admin: Admin, body: UserIn, *, robots: Collection[str]
) -> tuple[User, str | None]:
    """A new user, and their generated password when none was given (to hand over once).
    ``robots``: the duty-group robots configured (``BK_NOTIFY_ROBOTS``)."""
    tid = admin.tenant_id
    _robot_configured(body.notify_robot, robots)
    if await service.get_user_by_username(db_session=session, username=body.username, tenant_id=tid):
        raise Refused(409, f"用户名已存在 · username {body.username!r} is taken", "username")
    values = user_values(None, body.model_dump(exclude={"username", "password"}))
    plan = await check_user(Lookup(session, tid), admin, None, values, body.password)
    user = await save_user(session, admin, body.username, plan)
    return user, plan.password if plan.generated else None


async def update_user(
    session: AsyncSession, admin: Admin, username: str, body: UserPatch, *, robots: Collection[str]
) -> User:
    user = await user_in_reach(session, admin, username)
    _robot_configured(body.notify_robot, robots)
    changes = body.model_dump(exclude_unset=True)
    values = user_values(user, {k: v for k, v in changes.items() if v is not None or k == "org_id"})
    plan = await check_user(Lookup(session, admin.tenant_id), admin, user, values, None)
    return await save_user(session, admin, username, plan)


async def users_in_reach(session: AsyncSession, admin: Admin) -> list[User]:
    users = await service.list_users(db_session=session, tenant_id=admin.tenant_id)
    if admin.platform:
        return list(users)
    sites = await service.sites_by_id(db_session=session, tenant_id=admin.tenant_id)
    return [
        u
        for u in users
        if rules.may_manage_user(
            admin,
            role=u.role,
            org_path=u.org_path or "/",
            site_paths=[sites[s].org_path for s in u.site_ids or [] if s in sites],
        )
    ]


async def user_in_reach(session: AsyncSession, admin: Admin, username: str) -> User:
    found = await service.get_user_by_username(
        db_session=session, username=username, tenant_id=admin.tenant_id
    )
    user = found[0] if found else None
    if user is None or not await _user_in_reach(Lookup(session, admin.tenant_id), admin, user):
        raise Refused(404, NOT_FOUND)
    return user


async def reset_password(
    session: AsyncSession, admin: Admin, username: str, password: str | None
) -> str | None:
    """A new password for the user (given, or generated and returned once)."""
    user = await user_in_reach(session, admin, username)
    generated = None if password else rules.new_password()
    async with _audited(session, admin):
        user.password_hash = rules.hash_password(password or generated or "")
    await events.record_change(session, tenant_id=admin.tenant_id, kind="user", entity_id=user.id)
    return generated


async def set_active(session: AsyncSession, admin: Admin, username: str, *, active: bool) -> User:
    """Deactivate (停用) or reactivate a user; nobody deactivates themselves (no lock-out by mistake)."""
    user = await user_in_reach(session, admin, username)
    if user.id == admin.user_id and not active:
        raise Refused(422, "不能停用自己 · you cannot deactivate yourself")
    async with _audited(session, admin):
        user.active = active
    await events.record_change(session, tenant_id=admin.tenant_id, kind="user", entity_id=user.id)
    return user
