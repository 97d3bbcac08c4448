"""One route shape for every simple ledger: POST a record (validated, rules applied), GET, list.

Each ledger supplies its pydantic input model and a pure ``prepare`` function that turns the input
and the tenant's rule config into column values plus findings. Routes stay thin; rules stay pure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import Column, Table

from bk_ledger.common import alerts, records
from bk_ledger.common.config import RuleConfig
from bk_ledger.common.context import LedgerContext, rule_config
from bk_ledger.common.deps import get_ctx, roles
from bk_ledger.common.findings import Finding
from bk_ledger.sites.models import SiteInfo
from bk_ledger.sites.service import visible_site
from bkcore.auth import Principal, Role
from bkcore.inputs import Day, Limit, Offset

WRITERS = (Role.PLATFORM_ADMIN, Role.SITE_MANAGER, Role.STAFF)
#: Staff who read ledgers. Machine callers are admitted only where they are needed, with a scope
#: (the public summary: ``publicity``; the site registry: ``sites``).
READERS = (Role.PLATFORM_ADMIN, Role.SUPERVISOR, Role.SITE_MANAGER, Role.STAFF)
Prepared = tuple[dict[str, Any], list[Finding]]
Prepare = Callable[[Any, RuleConfig, SiteInfo, str], Prepared]  # (input, config, site, record id)


class Created(BaseModel):
    id: str
    findings: list[dict[str, str]]


def findings_out(findings: list[Finding]) -> list[dict[str, str]]:
    return [{"rule": f.rule, "severity": f.severity.value, "message": f.message} for f in findings]


def ledger_router(
    *,
    path: str,
    tag: str,
    table: Table,
    model: type[BaseModel],
    date_col: Column,
    prepare: Prepare,
) -> APIRouter:
    router = APIRouter(prefix=f"/v1/{path}", tags=[tag])

    async def create(
        body: BaseModel,
        p: Principal = Depends(roles(*WRITERS)),
        ctx: LedgerContext = Depends(get_ctx),
    ) -> Created:
        now = ctx.now()
        async with ctx.db.session() as s:
            site = await visible_site(s, p, body.site_id)  # type: ignore[attr-defined]
            cfg = await rule_config(s, site.tenant_id)
            rid = records.new_id()
            values, findings = prepare(body, cfg, site, rid)
            values["id"] = rid
            await records.insert(s, table, site=site, principal=p, now=now, values=values)
            written = await alerts.emit(s, site.tenant_id, findings, now)
        if written:
            ctx.alerts_written()
        return Created(id=rid, findings=findings_out(findings))

    # The body's model is only known at runtime: set it before FastAPI reads the signature.
    create.__annotations__["body"] = model
    router.add_api_route(
        "", create, methods=["POST"], status_code=201, response_model=Created, summary=f"Record a {tag} entry"
    )

    @router.get("", summary=f"List {tag} entries in the caller's scope")
    async def list_(
        site_id: str | None = None,
        start: Day | None = None,
        end: Day | None = None,
        limit: Limit = 200,
        offset: Offset = 0,
        p: Principal = Depends(roles(*READERS)),
        ctx: LedgerContext = Depends(get_ctx),
    ) -> list[dict[str, Any]]:
        async with ctx.db.session() as s:
            return await records.list_records(
                s,
                table,
                p,
                date_col=date_col,
                site_id=site_id,
                start=start,
                end=end,
                limit=limit,
                offset=offset,
            )

    @router.get("/{record_id}", summary=f"One {tag} entry")
    async def get(
        record_id: str, p: Principal = Depends(roles(*READERS)), ctx: LedgerContext = Depends(get_ctx)
    ) -> dict[str, Any]:
        async with ctx.db.session() as s:
            return await records.get_one(s, table, p, record_id)

    return router
