"""HTTP routes of the gateway: thin, scoped to the caller, credentials never in a response."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select

from bk_gateway import registry
from bk_gateway.directory_feed import site_org_path
from bk_gateway.evidence_log import ViewLog
from bk_gateway.liveview.embedded import LiveError
from bk_gateway.models import Camera
from bk_gateway.schemas import AiStatusOut, CameraIn, CameraOut, CameraPatch, CameraStatusOut, LiveOut
from bk_gateway.spec import CameraKey
from bkcore.auth import ALL_TENANTS, STREAM_GATEWAY, Principal, Role, Scope
from bkcore.auth_http import Authenticator, scope_to_principal

if TYPE_CHECKING:
    from bk_gateway.service import GatewayService

READERS = (Role.PLATFORM_ADMIN, Role.SUPERVISOR, Role.SITE_MANAGER, Role.STAFF, Role.SERVICE)
#: Who registers and edits cameras: platform admins in their tenant, bureau supervisors for the sites
#: of their subtree (``write_place``), services holding cameras:write.
MANAGERS = (Role.PLATFORM_ADMIN, Role.SUPERVISOR, Role.SERVICE)
#: A tenant the gateway keeps cameras under: part of play URLs and media-server stream names.
_TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: ?tenant_id= : which tenant an all-tenant service means; anyone else may only name their own.
TENANT_QUERY = Query(
    None,
    max_length=64,
    description="the camera's tenant: only for all-tenant services; "
    "others address their own tenant's cameras",
)


def visible(camera: Camera, p: Principal) -> bool:
    return p.can_see_site(camera.tenant_id, camera.site_id, camera.org_path)


def tenant_of(p: Principal, asked: str | None) -> str:
    """Whose camera a path's id names: the caller's tenant (an all-tenant service names one). Camera
    ids are unique per tenant only, so another tenant's id is simply not found; "" finds nothing."""
    if p.role == Role.SERVICE and p.tenant_id == ALL_TENANTS:
        return asked or ""
    return p.tenant_id if asked in (None, "", p.tenant_id) else ""


def _invalid(field: str, msg: str) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": ("body", field), "msg": msg}])


def build_router(svc: GatewayService) -> APIRouter:
    auth = Authenticator(svc.runtime.tokens, audience=STREAM_GATEWAY, access=svc.directory.access)
    read = Depends(auth.require_roles(*READERS, scope=Scope.CAMERAS_READ))
    manage = Depends(auth.require_roles(*MANAGERS, scope=Scope.CAMERAS_WRITE))
    r = APIRouter(prefix="/v1/cameras", tags=["cameras"])
    watched = ViewLog(svc)  # staff views of a kitchen, chained by the case-manager

    async def load(camera_id: str, p: Principal, asked: str | None) -> Camera:
        # One lookup whatever the caller: another tenant's id, an id nobody has and a camera outside
        # the caller's sites all cost the same query and get the same 404.
        async with svc.db.session() as s:
            cam = await registry.get(session=s, tenant_id=tenant_of(p, asked), camera_id=camera_id)
        if cam is None or not visible(cam, p):
            raise HTTPException(404, "camera not found")  # 404, not 403: don't confirm it exists
        return cam

    async def check_sources(tenant: str, **urls: str | None) -> None:
        """422 naming each refused field: files outside the tenant's media directory (or any, in
        production), internal addresses. One generic sentence whatever the cause."""
        refused = await svc.sources.refusals(urls, tenant, timeout_s=svc.settings.open_timeout_s)
        if refused:
            raise RequestValidationError(
                [
                    {"type": "value_error", "loc": ("body", field), "msg": msg}
                    for field, msg in refused.items()
                ]
            )

    @r.get("", response_model=list[CameraOut], summary="Cameras the caller may see")
    async def list_cameras(p: Principal = read) -> list[CameraOut]:
        async with svc.db.session() as s:
            stmt = scope_to_principal(
                select(Camera).order_by(Camera.id),
                p,
                tenant_col=Camera.tenant_id,
                org_path_col=Camera.org_path,
                site_id_col=Camera.site_id,
            )
            cams = (await s.execute(stmt)).scalars().all()
            creds = await registry.credential_keys(session=s)
        return [registry.to_out(c, has_credentials=CameraKey(c.tenant_id, c.id) in creds) for c in cams]

    @r.get("/status", response_model=list[CameraStatusOut], summary="Live state of the caller's cameras")
    async def list_status(p: Principal = read) -> list[CameraStatusOut]:
        async with svc.db.session() as s:
            stmt = scope_to_principal(
                select(Camera).order_by(Camera.id),
                p,
                tenant_col=Camera.tenant_id,
                org_path_col=Camera.org_path,
                site_id_col=Camera.site_id,
            )
            cams = (await s.execute(stmt)).scalars().all()
        return [svc.status_of(c) for c in cams]

    def write_tenant(body: CameraIn, p: Principal) -> str:
        tenant = body.tenant_id or p.tenant_id
        if tenant == ALL_TENANTS or not _TENANT_RE.match(tenant):
            raise _invalid("tenant_id", "name the camera's tenant (letters, digits, '.', '_' or '-')")
        if not p.can_see_tenant(tenant):
            raise HTTPException(403, "another tenant's camera")
        return tenant

    async def write_place(body: CameraIn, tenant: str, p: Principal) -> None:
        """403 unless the camera, where it is and where it goes, is inside the caller's org subtree.
        Where it goes is the directory's place for the site (the caller's org_path only while the
        directory has not told of the site: what the registry stores either way)."""
        async with svc.db.session() as s:
            existing = await registry.get(session=s, tenant_id=tenant, camera_id=body.id)
            placed = await site_org_path(s, tenant_id=tenant, site_id=body.site_id)
        if existing is not None and not p.can_see_org(tenant, existing.org_path):
            raise HTTPException(403, "摄像头不在您的管辖范围 · the camera is outside your area")
        if not p.can_see_org(tenant, placed or body.org_path):
            raise HTTPException(403, "场所不在您的管辖范围 · the camera's site is outside your area")

    @r.put("/{camera_id}", response_model=CameraOut, summary="Create or replace a camera (idempotent)")
    async def put_camera(camera_id: str, body: CameraIn, p: Principal = manage) -> CameraOut:
        if body.id != camera_id:
            raise _invalid("id", "the body's id differs from the path")  # a 422 shaped like every 422
        tenant = write_tenant(body, p)
        await write_place(body, tenant, p)
        await check_sources(tenant, source_url=body.source_url, live_source_url=body.live_source_url)
        # The key is (tenant, id): another tenant's camera of this id is neither found nor touched.
        async with svc.db.session() as s:
            cam = await registry.upsert(session=s, data=body, tenant_id=tenant)
            has_creds = CameraKey(tenant, camera_id) in await registry.credential_keys(session=s)
        svc.registry_changed()
        return registry.to_out(cam, has_credentials=has_creds)

    @r.post("", response_model=CameraOut, status_code=201, summary="Create a camera")
    async def create_camera(body: CameraIn, p: Principal = manage) -> CameraOut:
        tenant = write_tenant(body, p)
        async with svc.db.session() as s:
            if await registry.get(session=s, tenant_id=tenant, camera_id=body.id) is not None:
                raise HTTPException(409, "camera id already exists")
        return await put_camera(body.id, body, p)

    @r.get("/{camera_id}", response_model=CameraOut)
    async def get_camera(
        camera_id: str, p: Principal = read, tenant_id: str | None = TENANT_QUERY
    ) -> CameraOut:
        cam = await load(camera_id, p, tenant_id)
        async with svc.db.session() as s:
            has_creds = CameraKey(cam.tenant_id, cam.id) in await registry.credential_keys(session=s)
        return registry.to_out(cam, has_credentials=has_creds)

    @r.patch("/{camera_id}", response_model=CameraOut, summary="Change some fields; applies without restart")
    async def patch_camera(
        camera_id: str, body: CameraPatch, p: Principal = manage, tenant_id: str | None = TENANT_QUERY
    ) -> CameraOut:
        found = await load(camera_id, p, tenant_id)
        await check_sources(found.tenant_id, source_url=body.source_url, live_source_url=body.live_source_url)
        async with svc.db.session() as s:
            cam = await registry.get(session=s, tenant_id=found.tenant_id, camera_id=camera_id)
            if cam is None:
                raise HTTPException(404, "camera not found")  # deleted meanwhile
            try:
                cam = await registry.patch(session=s, camera=cam, data=body)
            except registry.SharedLoginError as exc:
                raise RequestValidationError(
                    [{"type": "value_error", "loc": ("body", "live_source_url"), "msg": str(exc)}]
                ) from None
            has_creds = CameraKey(cam.tenant_id, cam.id) in await registry.credential_keys(session=s)
        svc.registry_changed()
        return registry.to_out(cam, has_credentials=has_creds)

    @r.delete("/{camera_id}", status_code=204)
    async def delete_camera(
        camera_id: str, p: Principal = manage, tenant_id: str | None = TENANT_QUERY
    ) -> Response:
        found = await load(camera_id, p, tenant_id)
        async with svc.db.session() as s:
            cam = await registry.get(session=s, tenant_id=found.tenant_id, camera_id=camera_id)
            if cam is not None:
                await registry.delete(session=s, camera=cam)
        svc.registry_changed()
        return Response(status_code=204)

    @r.get("/{camera_id}/status", response_model=CameraStatusOut)
    async def camera_status(
        camera_id: str, p: Principal = read, tenant_id: str | None = TENANT_QUERY
    ) -> CameraStatusOut:
        return svc.status_of(await load(camera_id, p, tenant_id))

    @r.get(
        "/{camera_id}/snapshot.jpg",
        summary="Latest frame as JPEG (this replica's cameras)",
        responses={200: {"content": {"image/jpeg": {}}}},
    )
    async def snapshot(camera_id: str, p: Principal = read, tenant_id: str | None = TENANT_QUERY) -> Response:
        cam = await load(camera_id, p, tenant_id)
        jpeg = await svc.snapshot(CameraKey(cam.tenant_id, cam.id))
        if jpeg is None:
            raise HTTPException(404, "no frame yet from this camera on this gateway")
        await watched.snapshot(p, cam)
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @r.post(
        "/{camera_id}/live",
        response_model=LiveOut,
        summary="Start or join the camera's live view; signed, expiring play URLs",
    )
    async def live(
        camera_id: str, request: Request, p: Principal = read, tenant_id: str | None = TENANT_QUERY
    ) -> LiveOut:
        cam = await load(camera_id, p, tenant_id)
        try:
            # Mounted under a prefix (/api/gateway in one process), base_url leaves the prefix out.
            base = str(request.base_url).rstrip("/") + request.scope.get("root_path", "")
            out = await svc.open_live(cam, base)
        except LiveError as exc:
            raise HTTPException(exc.status, exc.message) from None
        await watched.live(p, cam)
        return out

    return r


def build_ai_router(svc: GatewayService) -> APIRouter:
    """Is the AI running here: the console's banner reads this (each camera's own state is in its
    status, ``ai_state``)."""
    auth = Authenticator(svc.runtime.tokens, audience=STREAM_GATEWAY, access=svc.directory.access)
    read = Depends(auth.require_roles(*READERS, scope=Scope.CAMERAS_READ))
    r = APIRouter(prefix="/v1/ai", tags=["ai"])

    @r.get(
        "/status",
        response_model=AiStatusOut,
        summary="Whether detectors answer this replica's frames, why not, and since when",
    )
    async def ai_status(p: Principal = read) -> AiStatusOut:
        # Detector addresses are the operators' to know; other readers see "detector 1, 2, …".
        return svc.ai_status(addresses=p.role in (Role.PLATFORM_ADMIN, Role.SERVICE))

    return r
