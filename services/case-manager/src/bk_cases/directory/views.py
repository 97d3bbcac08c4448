"""Routes: the caller's org units and sites."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.deps import STAFF, db_session, roles
from bk_cases.directory import service
from bk_cases.directory.models import CameraRead, OrgUnitRead, SiteDetail, SiteRead, ZoneRead
from bkcore.auth import Principal, Role, Scope
from bkcore.auth_http import ensure_site_visible

router = APIRouter(tags=["directory"])
#: The public-api reads the directory as a machine caller (parents' sites, the red/black list).
DIRECTORY_READERS = (*STAFF, Role.SERVICE)


@router.get("/org-units", response_model=list[OrgUnitRead], summary="Org units in the caller's subtree")
async def list_org_units(
    p: Principal = Depends(roles(*STAFF)), session: AsyncSession = Depends(db_session)
) -> list[OrgUnitRead]:
    units = await service.list_org_units(db_session=session, principal=p)
    return [OrgUnitRead.model_validate(u) for u in units]


@router.get("/sites", response_model=list[SiteRead], summary="Sites the caller may see")
async def list_sites(
    kind: str | None = None,
    org_path: str | None = None,
    p: Principal = Depends(roles(*DIRECTORY_READERS, scope=Scope.SITES_READ)),
    session: AsyncSession = Depends(db_session),
) -> list[SiteRead]:
    sites = await service.list_sites(db_session=session, principal=p, kind=kind, org_path=org_path)
    return [SiteRead.model_validate(s) for s in sites]


@router.get("/sites/{site_id}", response_model=SiteDetail, summary="One site with zones and cameras")
async def get_site(
    site_id: str,
    p: Principal = Depends(roles(*DIRECTORY_READERS, scope=Scope.SITES_READ)),
    session: AsyncSession = Depends(db_session),
) -> SiteDetail:
    site = await service.get_site(db_session=session, tenant_id=p.tenant_id, site_id=site_id)
    if site is None:
        raise HTTPException(404, detail="not found")
    ensure_site_visible(p, p.tenant_id, site_id, site.org_path)
    zones, cams = await service.site_layout(db_session=session, tenant_id=p.tenant_id, site_id=site_id)
    return SiteDetail(
        **SiteRead.model_validate(site).model_dump(),
        zones=[ZoneRead.model_validate(z) for z in zones],
        cameras=[CameraRead.model_validate(c) for c in cams],
    )
