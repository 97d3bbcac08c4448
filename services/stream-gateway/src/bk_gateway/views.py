"""HTTP routes of the gateway: thin, scoped to the caller, credentials never in a response."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from bk_gateway import flows, registry
from bk_gateway.deps import MANAGERS, READERS, get_svc, roles
from bk_gateway.liveview.embedded import LiveError
from bk_gateway.models import Camera
from bk_gateway.schemas import AiStatusOut, CameraIn, CameraOut, CameraPatch, CameraStatusOut, LiveOut
from bk_gateway.spec import CameraKey
from bkcore.auth import ALL_TENANTS, Principal, Role, Scope

if TYPE_CHECKING:
    from bk_gateway.service import GatewayService

router = APIRouter(prefix="/v1/cameras", tags=["cameras"])
ai_router = APIRouter(prefix="/v1/ai", tags=["ai"])
read = Depends(roles(*READERS, scope=Scope.CAMERAS_READ))
manage = Depends(roles(*MANAGERS, scope=Scope.CAMERAS_WRITE))
gateway = Depends(get_svc)
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


async def load(svc: GatewayService, camera_id: str, p: Principal, asked: str | None) -> Camera:
    # One lookup whatever the caller: another tenant's id, an id nobody has and a camera outside
    # the caller's sites all cost the same query and get the same 404.
    cam = await flows.find(svc, tenant_id=tenant_of(p, asked), camera_id=camera_id)
    if cam is None or not visible(cam, p):
        raise HTTPException(404, "camera not found")  # 404, not 403: don't confirm it exists
    return cam


async def check_sources(svc: GatewayService, tenant: str, **urls: str | None) -> None:
    """422 naming each refused field: files outside the tenant's media directory (or any, in
    production), internal addresses. One generic sentence whatever the cause."""
    refused = await svc.sources.refusals(urls, tenant, timeout_s=svc.settings.open_timeout_s)
    if refused:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", field), "msg": msg} for field, msg in refused.items()]
        )


def write_tenant(body: CameraIn, p: Principal) -> str:
    tenant = body.tenant_id or p.tenant_id
    if tenant == ALL_TENANTS or not _TENANT_RE.match(tenant):
        raise _invalid("tenant_id", "name the camera's tenant (letters, digits, '.', '_' or '-')")
    if not p.can_see_tenant(tenant):
        raise HTTPException(403, "another tenant's camera")
    return tenant


async def write_place(svc: GatewayService, body: CameraIn, tenant: str, p: Principal) -> None:
    """403 unless the camera, where it is and where it goes, is inside the caller's org subtree.
    Where it goes is the directory's place for the site (the caller's org_path only while the
    directory has not told of the site: what the registry stores either way)."""
    now, placed = await flows.places(svc, tenant_id=tenant, camera_id=body.id, site_id=body.site_id)
    if now is not None and not p.can_see_org(tenant, now):
        raise HTTPException(403, "摄像头不在您的管辖范围 · the camera is outside your area")
    if not p.can_see_org(tenant, placed or body.org_path):
        raise HTTPException(403, "场所不在您的管辖范围 · the camera's site is outside your area")


@router.get("", response_model=list[CameraOut], summary="Cameras the caller may see")
async def list_cameras(p: Principal = read, svc: GatewayService = gateway) -> list[CameraOut]:
    return await flows.visible_out(svc, p)


@router.get("/status", response_model=list[CameraStatusOut], summary="Live state of the caller's cameras")
async def list_status(p: Principal = read, svc: GatewayService = gateway) -> list[CameraStatusOut]:
    return [svc.status_of(c) for c in await flows.visible(svc, p)]


@router.put("/{camera_id}", response_model=CameraOut, summary="Create or replace a camera (idempotent)")
async def put_camera(
    camera_id: str, body: CameraIn, p: Principal = manage, svc: GatewayService = gateway
) -> CameraOut:
    if body.id != camera_id:
        raise _invalid("id", "the body's id differs from the path")  # a 422 shaped like every 422
    tenant = write_tenant(body, p)
    await write_place(svc, body, tenant, p)
    await check_sources(svc, tenant, source_url=body.source_url, live_source_url=body.live_source_url)
    # The key is (tenant, id): another tenant's camera of this id is neither found nor touched.
    return await flows.save(svc, data=body, tenant_id=tenant)


@router.post("", response_model=CameraOut, status_code=201, summary="Create a camera")
async def create_camera(body: CameraIn, p: Principal = manage, svc: GatewayService = gateway) -> CameraOut:
    tenant = write_tenant(body, p)
    if await flows.find(svc, tenant_id=tenant, camera_id=body.id) is not None:
        raise HTTPException(409, "camera id already exists")
    return await put_camera(body.id, body, p, svc)


@router.get("/{camera_id}", response_model=CameraOut)
async def get_camera(
    camera_id: str, p: Principal = read, tenant_id: str | None = TENANT_QUERY, svc: GatewayService = gateway
) -> CameraOut:
    return await flows.shown(svc, await load(svc, camera_id, p, tenant_id))


@router.patch("/{camera_id}", response_model=CameraOut, summary="Change some fields; applies without restart")
async def patch_camera(
    camera_id: str,
    body: CameraPatch,
    p: Principal = manage,
    tenant_id: str | None = TENANT_QUERY,
    svc: GatewayService = gateway,
) -> CameraOut:
    found = await load(svc, camera_id, p, tenant_id)
    await check_sources(
        svc, found.tenant_id, source_url=body.source_url, live_source_url=body.live_source_url
    )
    try:
        out = await flows.change(svc, tenant_id=found.tenant_id, camera_id=camera_id, data=body)
    except registry.SharedLoginError as exc:
        raise _invalid("live_source_url", str(exc)) from None
    if out is None:
        raise HTTPException(404, "camera not found")  # deleted meanwhile
    return out


@router.delete("/{camera_id}", status_code=204)
async def delete_camera(
    camera_id: str, p: Principal = manage, tenant_id: str | None = TENANT_QUERY, svc: GatewayService = gateway
) -> Response:
    found = await load(svc, camera_id, p, tenant_id)
    await flows.remove(svc, tenant_id=found.tenant_id, camera_id=camera_id)
    return Response(status_code=204)


@router.get("/{camera_id}/status", response_model=CameraStatusOut)
async def camera_status(
    camera_id: str, p: Principal = read, tenant_id: str | None = TENANT_QUERY, svc: GatewayService = gateway
) -> CameraStatusOut:
    return svc.status_of(await load(svc, camera_id, p, tenant_id))


@router.get(
    "/{camera_id}/snapshot.jpg",
    summary="Latest frame as JPEG (this replica's cameras)",
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def snapshot(
    camera_id: str, p: Principal = read, tenant_id: str | None = TENANT_QUERY, svc: GatewayService = gateway
) -> Response:
    cam = await load(svc, camera_id, p, tenant_id)
    jpeg = await svc.snapshot(CameraKey(cam.tenant_id, cam.id))
    if jpeg is None:
        raise HTTPException(404, "no frame yet from this camera on this gateway")
    await svc.watched.snapshot(p, cam)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.post(
    "/{camera_id}/live",
    response_model=LiveOut,
    summary="Start or join the camera's live view; signed, expiring play URLs",
)
async def live(
    camera_id: str,
    request: Request,
    p: Principal = read,
    tenant_id: str | None = TENANT_QUERY,
    svc: GatewayService = gateway,
) -> LiveOut:
    cam = await load(svc, camera_id, p, tenant_id)
    try:
        # Mounted under a prefix (/api/gateway in one process), base_url leaves the prefix out.
        base = str(request.base_url).rstrip("/") + request.scope.get("root_path", "")
        out = await svc.open_live(cam, base)
    except LiveError as exc:
        raise HTTPException(exc.status, exc.message) from None
    await svc.watched.live(p, cam)
    return out


@ai_router.get(
    "/status",
    response_model=AiStatusOut,
    summary="Whether detectors answer this replica's frames, why not, and since when",
)
async def ai_status(p: Principal = read, svc: GatewayService = gateway) -> AiStatusOut:
    # Is the AI running here: the console's banner reads this (each camera's own state is in its
    # status, ``ai_state``). A comment, not a docstring: the OpenAPI description stays as it was.
    # Detector addresses are the operators' to know; other readers see "detector 1, 2, …".
    return svc.ai_status(addresses=p.role in (Role.PLATFORM_ADMIN, Role.SERVICE))
