"""Photo links: a short-lived signed URL for a ledger photo, after the caller's scope is checked."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException

from bk_ledger.common.context import LedgerContext
from bk_ledger.common.crud import READERS
from bk_ledger.common.deps import get_ctx, roles
from bk_ledger.sites.service import visible_site
from bkcore.auth import Principal

router = APIRouter(prefix="/v1/photos", tags=["photos"])


@router.get("/{key:path}", summary="A signed, expiring URL for one ledger photo")
async def photo_url(
    key: str, p: Principal = Depends(roles(*READERS)), ctx: LedgerContext = Depends(get_ctx)
) -> dict[str, str]:
    parts = key.split("/")
    # Keys are tenant/ledger/<ledger>/<site>/...: the tenant and site decide who may see them.
    if len(parts) < 5 or parts[0] != p.tenant_id or parts[1] != "ledger":
        raise HTTPException(404, detail="photo not found")
    async with ctx.db.session() as s:
        await visible_site(s, p, parts[3])
    if not await ctx.store.exists(key):
        raise HTTPException(404, detail="photo not found")
    return {"url": await ctx.store.signed_url(key)}
