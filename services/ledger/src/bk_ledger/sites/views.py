"""Sites and rule-config routes: the admin side of the ledger.

Sites are the case-manager's: the ledger reads them from ``directory.v1`` and has no route to write them.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends

from bk_ledger.common.config import RuleConfig
from bk_ledger.common.context import LedgerContext, rule_config
from bk_ledger.common.crud import READERS
from bk_ledger.common.deps import get_ctx, roles
from bk_ledger.sites.service import list_sites, save_rule_config
from bkcore.auth import Principal, Role

router = APIRouter(prefix="/v1", tags=["admin"])


@router.get("/sites", summary="Sites the ledger knows, in the caller's tenant")
async def get_sites(
    p: Principal = Depends(roles(*READERS)), ctx: LedgerContext = Depends(get_ctx)
) -> list[dict[str, Any]]:
    async with ctx.db.session() as s:
        return [
            asdict(x)
            for x in await list_sites(s, tenant_id=p.tenant_id)
            if p.can_see_site(x.tenant_id, x.site_id, x.org_path)
        ]


@router.get("/rules/config", response_model=RuleConfig, summary="The tenant's rule thresholds")
async def get_config(
    p: Principal = Depends(roles(*READERS)), ctx: LedgerContext = Depends(get_ctx)
) -> RuleConfig:
    async with ctx.db.session() as s:
        return await rule_config(s, p.tenant_id)


@router.put("/rules/config", response_model=RuleConfig, summary="Replace the tenant's rule thresholds")
async def put_config(
    body: RuleConfig,
    p: Principal = Depends(roles(Role.PLATFORM_ADMIN)),
    ctx: LedgerContext = Depends(get_ctx),
) -> RuleConfig:
    async with ctx.db.session() as s:
        await save_rule_config(s, tenant_id=p.tenant_id, config=body, now=ctx.now())
    return body
