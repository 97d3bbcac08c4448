"""Camera registry work the routes ask for: each call one transaction, and every write followed by
``registry_changed`` (workers follow within moments, no restart). HTTP answers stay in ``views``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bk_gateway import registry
from bk_gateway.directory_feed import site_org_path
from bk_gateway.models import Camera
from bk_gateway.schemas import CameraIn, CameraOut, CameraPatch
from bk_gateway.spec import CameraKey
from bkcore.auth import Principal

if TYPE_CHECKING:
    from bk_gateway.service import GatewayService


async def find(svc: GatewayService, *, tenant_id: str, camera_id: str) -> Camera | None:
    async with svc.db.session() as s:
        return await registry.get(session=s, tenant_id=tenant_id, camera_id=camera_id)


async def visible(svc: GatewayService, principal: Principal) -> Sequence[Camera]:
    """The caller's cameras (their tenant, subtree or sites), by id."""
    async with svc.db.session() as s:
        return await registry.visible_to(session=s, principal=principal)


async def visible_out(svc: GatewayService, principal: Principal) -> list[CameraOut]:
    """The caller's cameras as the API shows them (whether each has credentials, never which)."""
    async with svc.db.session() as s:
        cams = await registry.visible_to(session=s, principal=principal)
        creds = await registry.credential_keys(session=s)
    return [registry.to_out(c, has_credentials=CameraKey(c.tenant_id, c.id) in creds) for c in cams]


async def shown(svc: GatewayService, camera: Camera) -> CameraOut:
    async with svc.db.session() as s:
        has_creds = CameraKey(camera.tenant_id, camera.id) in await registry.credential_keys(session=s)
    return registry.to_out(camera, has_credentials=has_creds)


async def places(
    svc: GatewayService, *, tenant_id: str, camera_id: str, site_id: str
) -> tuple[str | None, str | None]:
    """Where the camera is (None: not registered) and where its site is as the directory says (None:
    the directory has not told of the site)."""
    async with svc.db.session() as s:
        existing = await registry.get(session=s, tenant_id=tenant_id, camera_id=camera_id)
        placed = await site_org_path(s, tenant_id=tenant_id, site_id=site_id)
    return (existing.org_path if existing is not None else None), placed


async def save(svc: GatewayService, *, data: CameraIn, tenant_id: str) -> CameraOut:
    """Create or replace the tenant's camera ``data.id``; another tenant's camera of this id is
    neither found nor touched."""
    async with svc.db.session() as s:
        cam = await registry.upsert(session=s, data=data, tenant_id=tenant_id)
        has_creds = CameraKey(tenant_id, data.id) in await registry.credential_keys(session=s)
    svc.registry_changed()
    return registry.to_out(cam, has_credentials=has_creds)


async def change(
    svc: GatewayService, *, tenant_id: str, camera_id: str, data: CameraPatch
) -> CameraOut | None:
    """Apply some fields (None: the camera is gone); ``registry.SharedLoginError`` changes nothing."""
    async with svc.db.session() as s:
        cam = await registry.get(session=s, tenant_id=tenant_id, camera_id=camera_id)
        if cam is None:
            return None
        cam = await registry.patch(session=s, camera=cam, data=data)
        has_creds = CameraKey(cam.tenant_id, cam.id) in await registry.credential_keys(session=s)
    svc.registry_changed()
    return registry.to_out(cam, has_credentials=has_creds)


async def remove(svc: GatewayService, *, tenant_id: str, camera_id: str) -> None:
    async with svc.db.session() as s:
        cam = await registry.get(session=s, tenant_id=tenant_id, camera_id=camera_id)
        if cam is not None:
            await registry.delete(session=s, camera=cam)
    svc.registry_changed()
