"""Camera registry data functions: small, keyword-only, no side effects beyond the session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_gateway.directory_feed import site_org_path
from bk_gateway.models import Camera, CameraCredential
from bk_gateway.sampler import SamplingMode
from bk_gateway.schemas import SHARED_LOGIN, CameraIn, CameraOut, CameraPatch
from bk_gateway.spec import CameraKey, CameraSpec
from bk_gateway.urls import mask_url, shown_kind, split_credentials
from bkcore.auth import Principal
from bkcore.auth_http import scope_to_principal


class SharedLoginError(ValueError):
    """The live URL's credentials are not the camera's (one camera, one login)."""


#: Fields whose change means the detector needs a new CameraProfile (rules_version bump).
_PROFILE_FIELDS = ("profile", "schedule", "zone")


async def get(*, session: AsyncSession, tenant_id: str, camera_id: str) -> Camera | None:
    """The tenant's camera of that id. Another tenant's camera of the same id is not this one: the
    answer for it is None, the same as for an id nobody has."""
    return await session.get(Camera, {"tenant_id": tenant_id, "id": camera_id})


async def list_all(*, session: AsyncSession) -> Sequence[Camera]:
    return (await session.execute(select(Camera).order_by(Camera.tenant_id, Camera.id))).scalars().all()


async def visible_to(*, session: AsyncSession, principal: Principal) -> Sequence[Camera]:
    """The cameras the caller may see (their tenant, subtree or sites), by id."""
    stmt = scope_to_principal(
        select(Camera).order_by(Camera.id),
        principal,
        tenant_col=Camera.tenant_id,
        org_path_col=Camera.org_path,
        site_id_col=Camera.site_id,
    )
    return (await session.execute(stmt)).scalars().all()


async def _credential(session: AsyncSession, camera: Camera) -> CameraCredential | None:
    return await session.get(CameraCredential, {"tenant_id": camera.tenant_id, "camera_id": camera.id})


async def upsert(
    *, session: AsyncSession, data: CameraIn, tenant_id: str, now: datetime | None = None
) -> Camera:
    """Create or replace a camera (idempotent: the same input twice leaves one identical row)."""
    now = now or datetime.now(UTC)
    url, user, password, live_url = data.split()
    # The directory's word on where the site sits, when it has spoken (directory.v1); else the caller's.
    placed = await site_org_path(session, tenant_id=tenant_id, site_id=data.site_id)
    values: dict[str, Any] = dict(
        tenant_id=tenant_id,
        site_id=data.site_id,
        org_path=placed or data.org_path,
        zone=data.zone,
        name=data.name,
        source_url=url,
        live_source_url=live_url,
        sampling_mode=data.sampling_mode.value,
        sample_fps=data.sample_fps,
        motion_gating=data.motion_gating,
        profile=data.profile,
        schedule=data.schedule,
        enabled=data.enabled,
    )
    camera = await get(session=session, tenant_id=tenant_id, camera_id=data.id)
    if camera is None:
        camera = Camera(id=data.id, rules_version=1, created_at=now, updated_at=now, **values)
        session.add(camera)
    else:
        _apply(camera, values, now)
    await _set_credentials(session, camera, user, password)
    await session.flush()
    return camera


async def patch(
    *, session: AsyncSession, camera: Camera, data: CameraPatch, now: datetime | None = None
) -> Camera:
    now = now or datetime.now(UTC)
    values = data.model_dump(exclude_unset=True, exclude={"username", "password"})
    if "sampling_mode" in values and values["sampling_mode"] is not None:
        values["sampling_mode"] = SamplingMode(values["sampling_mode"]).value
    user = data.username
    password = data.password.get_secret_value() if data.password is not None else None
    if data.source_url is not None:
        url, url_user, url_password = split_credentials(data.source_url)
        values["source_url"] = url
        user = user if user is not None else (url_user or None)
        password = password if password is not None else (url_password or None)
    if data.live_source_url is not None:
        live_url, live_user, live_password = (
            split_credentials(data.live_source_url) if data.live_source_url else ("", "", "")
        )
        values["live_source_url"] = live_url
        if live_user or live_password:
            cred = await _credential(session, camera)
            have = (
                user if user is not None else (cred.username if cred else ""),
                password if password is not None else (cred.password if cred else ""),
            )
            if any(have) and have != (live_user, live_password):
                raise SharedLoginError(SHARED_LOGIN)
            user, password = live_user, live_password
    _apply(camera, {k: v for k, v in values.items() if v is not None}, now)
    if user is not None or password is not None:
        cred = await _credential(session, camera)
        new_user = user if user is not None else (cred.username if cred else "")
        new_password = password if password is not None else (cred.password if cred else "")
        await _set_credentials(session, camera, new_user, new_password)
    await session.flush()
    return camera


async def delete(*, session: AsyncSession, camera: Camera) -> None:
    cred = await _credential(session, camera)
    if cred is not None:
        await session.delete(cred)
        await session.flush()  # before the camera: its delete would cascade to the credentials first
    await session.delete(camera)


def _apply(camera: Camera, values: dict[str, Any], now: datetime) -> None:
    changed = [k for k, v in values.items() if getattr(camera, k) != v]
    for key in changed:
        setattr(camera, key, values[key])
    if changed:
        camera.updated_at = now
    if any(k in _PROFILE_FIELDS for k in changed):
        camera.rules_version += 1


async def _set_credentials(session: AsyncSession, camera: Camera, user: str, password: str) -> None:
    cred = await _credential(session, camera)
    if not user and not password:
        if cred is not None:
            await session.delete(cred)
        return
    if cred is None:
        session.add(
            CameraCredential(
                tenant_id=camera.tenant_id, camera_id=camera.id, username=user, password=password
            )
        )
    else:
        cred.username, cred.password = user, password


async def specs(*, session: AsyncSession) -> list[CameraSpec]:
    """Every camera as a worker spec, credentials included (for the pull workers only)."""
    creds = {
        CameraKey(c.tenant_id, c.camera_id): c
        for c in (await session.execute(select(CameraCredential))).scalars()
    }
    out = []
    for cam in await list_all(session=session):
        cred = creds.get(CameraKey(cam.tenant_id, cam.id))
        out.append(_spec(cam, cred))
    return out


def _spec(cam: Camera, cred: CameraCredential | None) -> CameraSpec:
    return CameraSpec(
        id=cam.id,
        tenant_id=cam.tenant_id,
        site_id=cam.site_id,
        zone=cam.zone,
        name=cam.name,
        source_url=cam.source_url,
        username=cred.username if cred else "",
        password=cred.password if cred else "",
        sampling_mode=SamplingMode(cam.sampling_mode),
        sample_fps=cam.sample_fps,
        motion_gating=cam.motion_gating,
        profile=dict(cam.profile or {}),
        schedule=list(cam.schedule or []),
        rules_version=cam.rules_version,
        enabled=cam.enabled,
        live_source_url=cam.live_source_url or "",
    )


def to_out(camera: Camera, *, has_credentials: bool) -> CameraOut:
    return CameraOut(
        id=camera.id,
        tenant_id=camera.tenant_id,
        site_id=camera.site_id,
        org_path=camera.org_path,
        zone=camera.zone,
        name=camera.name,
        source_url=mask_url(camera.source_url),
        live_source_url=mask_url(camera.live_source_url) if camera.live_source_url else "",
        source_kind=shown_kind(camera.source_url),
        has_credentials=has_credentials,
        sampling_mode=SamplingMode(camera.sampling_mode),
        sample_fps=camera.sample_fps,
        motion_gating=camera.motion_gating,
        profile=camera.profile or {},
        schedule=camera.schedule or [],
        enabled=camera.enabled,
        rules_version=camera.rules_version,
        created_at=camera.created_at,
        updated_at=camera.updated_at,
    )


async def credential_keys(*, session: AsyncSession) -> set[CameraKey]:
    """The cameras that have credentials (never the credentials themselves)."""
    rows = await session.execute(select(CameraCredential.tenant_id, CameraCredential.camera_id))
    return {CameraKey(t, c) for t, c in rows}


async def spec(*, session: AsyncSession, key: CameraKey) -> CameraSpec | None:
    """One camera's worker spec (credentials included), for live view of a camera not pulled here."""
    cam = await get(session=session, tenant_id=key.tenant_id, camera_id=key.camera_id)
    if cam is None:
        return None
    cred = await _credential(session, cam)
    return _spec(cam, cred)
