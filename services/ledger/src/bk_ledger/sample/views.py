"""Routes of food sample retention: the shared ledger shape, plus recording the disposal."""

from __future__ import annotations

from fastapi import Depends, HTTPException

from bk_ledger.common import alerts, records
from bk_ledger.common.columns import as_utc
from bk_ledger.common.config import RuleConfig
from bk_ledger.common.context import LedgerContext, rule_config
from bk_ledger.common.crud import WRITERS, Created, Prepared, findings_out, ledger_router
from bk_ledger.common.deps import get_ctx, roles
from bk_ledger.common.errors import field_error
from bk_ledger.sample import rules, service
from bk_ledger.sample.models import DisposalIn, SampleIn, sample_retentions
from bk_ledger.sites.models import SiteInfo
from bkcore.auth import Principal


def prepare(body: SampleIn, cfg: RuleConfig, site: SiteInfo, rid: str) -> Prepared:
    findings = rules.on_record(
        site_id=site.site_id,
        record_id=rid,
        dish=body.dish,
        weight_g=body.weight_g,
        taken_at=body.taken_at,
        planned_disposal_at=body.planned_disposal_at,
        cfg=cfg.sample,
    )
    return body.model_dump(exclude={"site_id"}), findings


router = ledger_router(
    path="samples",
    tag="sample retention 留样",
    table=sample_retentions,
    model=SampleIn,
    date_col=sample_retentions.c.meal_date,
    prepare=prepare,
)


@router.post("/{record_id}/disposal", response_model=Created, summary="Record that a sample was disposed of")
async def dispose(
    record_id: str,
    body: DisposalIn,
    p: Principal = Depends(roles(*WRITERS)),
    ctx: LedgerContext = Depends(get_ctx),
) -> Created:
    now = ctx.now()
    async with ctx.db.session() as s:
        rec = await records.get_one(s, sample_retentions, p, record_id)
        if rec["disposed_at"] is not None:
            raise HTTPException(409, detail="sample already disposed of")
        if body.disposed_at < as_utc(rec["taken_at"]):
            raise field_error(("body", "disposed_at"), "must be after taken_at")
        cfg = await rule_config(s, rec["tenant_id"])
        await service.mark_disposed(s, record_id=record_id, disposed_at=body.disposed_at, by=body.disposed_by)
        findings = rules.on_disposal(
            site_id=rec["site_id"],
            record_id=record_id,
            dish=rec["dish"],
            taken_at=as_utc(rec["taken_at"]),
            disposed_at=body.disposed_at,
            cfg=cfg.sample,
        )
        written = await alerts.emit(s, rec["tenant_id"], findings, now)
    if written:
        ctx.alerts_written()
    return Created(id=record_id, findings=findings_out(findings))
