"""The route the public-api calls (service token only): a site's public day summary."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from bk_ledger.common.context import LedgerContext
from bk_ledger.common.deps import get_ctx, roles
from bk_ledger.publicity import service
from bk_ledger.sites.service import visible_site
from bkcore.auth import Principal, Role, Scope
from bkcore.inputs import Day

router = APIRouter(prefix="/v1/public", tags=["public 公示"])


# Parents never call this directly: the public-api checks their binding, then calls as a service.
@router.get("/sites/{site_id}/summary", summary="Public day summary of a site (no personal data)")
async def summary(
    site_id: str,
    day: Day,
    tenant_id: str | None = None,
    p: Principal = Depends(roles(Role.SERVICE, scope=Scope.LEDGER_READ)),
    ctx: LedgerContext = Depends(get_ctx),
) -> dict[str, Any]:
    async with ctx.db.session() as s:
        site = await visible_site(s, p, site_id, tenant_id)
        return await service.summary(s, site, day)
