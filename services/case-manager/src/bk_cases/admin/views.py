"""Routes of administration: thin — who is calling (``admin_of``), then one flow; errors name the field.

Platform admins administer their tenant; bureau admins (supervisors with ``bureau_admin``) their
subtree; any supervisor binds cameras of sites in their subtree; the operator tenant's platform
admins create tenants. Every change is chained in the audit log and published on ``directory.v1``.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from fastapi import APIRouter, Depends, File, Form, HTTPException, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.admin import flows, importing, tabular
from bk_cases.admin.models import (
    CameraBindingIn,
    GradingRule,
    ImportReport,
    ImportRows,
    OrgUnitIn,
    OrgUnitPatch,
    PasswordOut,
    PasswordReset,
    SiteIn,
    SitePatch,
    TenantCreated,
    TenantIn,
    TenantPatch,
    TenantRead,
    UserCreated,
    UserIn,
    UserPatch,
    UserRead,
)
from bk_cases.context import Context
from bk_cases.deps import SUPERVISING, db_session, get_ctx, roles
from bk_cases.directory import rules, service
from bk_cases.directory.models import CameraRead, OrgUnitRead, SiteRead
from bkcore.auth import Principal

router = APIRouter(tags=["admin"])
T = TypeVar("T")
_ADMINS = Depends(roles(*SUPERVISING))


async def _admin(
    p: Principal = _ADMINS, session: AsyncSession = Depends(db_session), ctx: Context = Depends(get_ctx)
) -> rules.Admin:
    return await _call(flows.admin_of(session, p, operator_tenant=ctx.settings.operator_tenant))


async def _camera_editor(
    p: Principal = _ADMINS, session: AsyncSession = Depends(db_session), ctx: Context = Depends(get_ctx)
) -> rules.Admin:
    return await _call(flows.admin_of(session, p, operator_tenant=ctx.settings.operator_tenant, cameras=True))


async def _call(awaitable: Awaitable[T]) -> T:
    """Run a flow; a refusal becomes its HTTP status, a field's refusal a 422 naming the field."""
    try:
        return await awaitable
    except flows.Refused as exc:
        if exc.status == 422 and exc.field:
            raise RequestValidationError(
                [{"type": "directory_rule", "loc": ("body", exc.field), "msg": exc.message, "input": None}]
            ) from None
        detail = {"field": exc.field, "message": exc.message} if exc.field else exc.message
        raise HTTPException(exc.status, detail=detail) from None


ADMIN = Depends(_admin)

# --- tenants --------------------------------------------------------------------------------------


@router.post("/tenants", response_model=TenantCreated, status_code=201, summary="Open a tenant (operator)")
async def create_tenant(
    body: TenantIn, admin: rules.Admin = ADMIN, session: AsyncSession = Depends(db_session)
) -> TenantCreated:
    result = await _call(flows.create_tenant(session, admin, body))
    return TenantCreated(
        **TenantRead.model_validate(result.tenant).model_dump(),
        admin_username=result.admin.username,
        initial_password=result.initial_password,
    )


@router.get("/tenants/{tenant_id}", response_model=TenantRead, summary="The tenant and its grading rules")
async def get_tenant(
    tenant_id: str, admin: rules.Admin = ADMIN, session: AsyncSession = Depends(db_session)
) -> TenantRead:
    tenant = await _call(flows.own_tenant(session, admin, tenant_id))
    graded = await service.grading_rules(db_session=session, tenant_id=tenant_id)
    return TenantRead(
        id=tenant.id,
        name=tenant.name,
        timezone=tenant.timezone,
        locale=tenant.locale,
        class_iii_close_days=tenant.class_iii_close_days,
        grading_rules=[
            GradingRule(
                case_type=r.case_type,
                risk_class=r.risk_class,
                deadline_h=r.deadline_h,
                severity=r.severity,
                site_scope=r.site_scope,
            )
            for r in graded
        ],
    )


@router.patch(
    "/tenants/{tenant_id}",
    response_model=TenantRead,
    summary="Name, time zone, locale, Class III auto-close days",
)
async def update_tenant(
    tenant_id: str, body: TenantPatch, admin: rules.Admin = ADMIN, session: AsyncSession = Depends(db_session)
) -> TenantRead:
    await _call(flows.update_tenant(session, admin, tenant_id, body))
    return await get_tenant(tenant_id, admin, session)


@router.put(
    "/tenants/{tenant_id}/grading-rules",
    response_model=TenantRead,
    summary="Replace the tenant's grading of case types (class, hours to rectify; by severity, site kind)",
)
async def put_grading_rules(
    tenant_id: str,
    body: list[GradingRule],
    admin: rules.Admin = ADMIN,
    session: AsyncSession = Depends(db_session),
) -> TenantRead:
    await _call(flows.set_grading_rules(session, admin, tenant_id, body))
    return await get_tenant(tenant_id, admin, session)


# --- org units ------------------------------------------------------------------------------------


@router.post("/org-units", response_model=OrgUnitRead, status_code=201, summary="Add an org unit")
async def create_unit(
    body: OrgUnitIn, admin: rules.Admin = ADMIN, session: AsyncSession = Depends(db_session)
) -> OrgUnitRead:
    return OrgUnitRead.model_validate(await _call(flows.create_unit(session, admin, body)))


@router.patch(
    "/org-units/{unit_id}", response_model=OrgUnitRead, summary="Rename an org unit or change its kind"
)
async def update_unit(
    unit_id: str, body: OrgUnitPatch, admin: rules.Admin = ADMIN, session: AsyncSession = Depends(db_session)
) -> OrgUnitRead:
    return OrgUnitRead.model_validate(await _call(flows.update_unit(session, admin, unit_id, body)))


# --- sites ----------------------------------------------------------------------------------------


@router.post("/sites", response_model=SiteRead, status_code=201, summary="Add a site with its zones")
async def create_site(
    body: SiteIn, admin: rules.Admin = ADMIN, session: AsyncSession = Depends(db_session)
) -> SiteRead:
    return SiteRead.model_validate(await _call(flows.create_site(session, admin, body)))


@router.patch("/sites/{site_id}", response_model=SiteRead, summary="Change a site; a new org_id moves it")
async def update_site(
    site_id: str, body: SitePatch, admin: rules.Admin = ADMIN, session: AsyncSession = Depends(db_session)
) -> SiteRead:
    return SiteRead.model_validate(await _call(flows.update_site(session, admin, site_id, body)))


@router.put(
    "/sites/{site_id}/cameras/{camera_id}",
    response_model=CameraRead,
    summary="Bind a camera to a zone of the site (supervisors of its subtree); the stream is the gateway's",
)
async def bind_camera(
    site_id: str,
    camera_id: str,
    body: CameraBindingIn,
    admin: rules.Admin = Depends(_camera_editor),
    session: AsyncSession = Depends(db_session),
) -> CameraRead:
    try:
        rules.check_id(camera_id)
    except rules.Invalid as exc:
        raise HTTPException(422, detail={"field": "camera_id", "message": str(exc)}) from None
    return CameraRead.model_validate(await _call(flows.bind_camera(session, admin, site_id, camera_id, body)))


@router.delete("/sites/{site_id}/cameras/{camera_id}", status_code=204, summary="Unbind a camera")
async def unbind_camera(
    site_id: str,
    camera_id: str,
    admin: rules.Admin = Depends(_camera_editor),
    session: AsyncSession = Depends(db_session),
) -> Response:
    await _call(flows.unbind_camera(session, admin, site_id, camera_id))
    return Response(status_code=204)


# --- users ----------------------------------------------------------------------------------------


@router.get("/users", response_model=list[UserRead], summary="Users the caller administers")
async def list_users(
    admin: rules.Admin = ADMIN, session: AsyncSession = Depends(db_session)
) -> list[UserRead]:
    return [UserRead.model_validate(u) for u in await flows.users_in_reach(session, admin)]


@router.get("/users/{username}", response_model=UserRead, summary="One user")
async def get_user(
    username: str, admin: rules.Admin = ADMIN, session: AsyncSession = Depends(db_session)
) -> UserRead:
    return UserRead.model_validate(await _call(flows.user_in_reach(session, admin, username)))


@router.post("/users", response_model=UserCreated, status_code=201, summary="Add a user")
async def create_user(
    body: UserIn,
    admin: rules.Admin = ADMIN,
    session: AsyncSession = Depends(db_session),
    ctx: Context = Depends(get_ctx),
) -> UserCreated:
    user, password = await _call(flows.create_user(session, admin, body, robots=ctx.settings.notify_robots))
    return UserCreated(**UserRead.model_validate(user).model_dump(), initial_password=password)


@router.patch(
    "/users/{username}",
    response_model=UserRead,
    summary="Change a user's role, unit, sites, phone, notification channels …",
)
async def update_user(
    username: str,
    body: UserPatch,
    admin: rules.Admin = ADMIN,
    session: AsyncSession = Depends(db_session),
    ctx: Context = Depends(get_ctx),
) -> UserRead:
    robots = ctx.settings.notify_robots
    return UserRead.model_validate(
        await _call(flows.update_user(session, admin, username, body, robots=robots))
    )


@router.post("/users/{username}/password", response_model=PasswordOut, summary="Reset a user's password")
async def reset_password(
    username: str,
    body: PasswordReset,
    admin: rules.Admin = ADMIN,
    session: AsyncSession = Depends(db_session),
) -> PasswordOut:
    generated = await _call(flows.reset_password(session, admin, username, body.password))
    return PasswordOut(user_id=flows.user_id(admin.tenant_id, username), password=generated)


@router.post("/users/{username}/deactivate", response_model=UserRead, summary="Deactivate a user (停用)")
async def deactivate_user(
    username: str, admin: rules.Admin = ADMIN, session: AsyncSession = Depends(db_session)
) -> UserRead:
    return UserRead.model_validate(await _call(flows.set_active(session, admin, username, active=False)))


@router.post("/users/{username}/activate", response_model=UserRead, summary="Reactivate a user")
async def activate_user(
    username: str, admin: rules.Admin = ADMIN, session: AsyncSession = Depends(db_session)
) -> UserRead:
    return UserRead.model_validate(await _call(flows.set_active(session, admin, username, active=True)))


# --- import ---------------------------------------------------------------------------------------


@router.post(
    "/import/{kind}",
    response_model=ImportReport,
    summary="Import rows of sites or users (the CLI sends a file's rows); dry_run writes nothing",
    responses={422: {"description": "some rows were refused: the report lists each, nothing was written"}},
)
async def import_rows(
    kind: str, body: ImportRows, admin: rules.Admin = ADMIN, session: AsyncSession = Depends(db_session)
) -> Response:
    report = await _call(
        importing.run(session, admin, kind, body.rows, first_row=body.first_row, dry_run=body.dry_run)
    )
    return _report_response(report)


@router.post(
    "/import/{kind}/file",
    response_model=ImportReport,
    summary="Import a CSV or XLSX file of sites or users (the console's upload); dry_run writes nothing",
    responses={422: {"description": "the file or some rows were refused; nothing was written"}},
)
async def import_file(
    kind: str,
    file: UploadFile = File(...),
    dry_run: bool = Form(False),
    admin: rules.Admin = ADMIN,
    session: AsyncSession = Depends(db_session),
) -> Response:
    data = await file.read(tabular.MAX_BYTES + 1)
    try:
        sheet = tabular.read(kind, file.filename or "", data)
    except tabular.SheetError as exc:
        raise HTTPException(422, detail={"field": "file", "message": str(exc)}) from None
    report = await _call(
        importing.run(session, admin, kind, sheet.rows, first_row=sheet.first_row, dry_run=dry_run)
    )
    return _report_response(report)


def _report_response(report: ImportReport) -> Response:
    """200 with the report; 422 with the same report when rows were refused (nothing is written)."""
    status = 200 if report.ok else 422
    return Response(report.model_dump_json(), status_code=status, media_type="application/json")
