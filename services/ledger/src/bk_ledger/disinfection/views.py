"""Routes of tableware disinfection."""

from __future__ import annotations

from bk_ledger.common.config import RuleConfig
from bk_ledger.common.crud import Prepared, ledger_router
from bk_ledger.disinfection import rules
from bk_ledger.disinfection.models import DisinfectionIn, disinfections
from bk_ledger.sites.models import SiteInfo


def prepare(body: DisinfectionIn, cfg: RuleConfig, site: SiteInfo, rid: str) -> Prepared:
    problems = rules.shortfalls(
        method=body.method.value,
        temperature_c=body.temperature_c,
        concentration_mg_l=body.concentration_mg_l,
        duration_s=(body.ended_at - body.started_at).total_seconds(),
        cfg=cfg.disinfection,
    )
    values = {**body.model_dump(exclude={"site_id"}), "compliant": not problems}
    findings = (
        [
            rules.below_spec_finding(
                site_id=site.site_id, record_id=rid, method=body.method.value, problems=problems
            )
        ]
        if problems
        else []
    )
    return values, findings


router = ledger_router(
    path="disinfections",
    tag="disinfection 餐具消毒",
    table=disinfections,
    model=DisinfectionIn,
    date_col=disinfections.c.started_at,
    prepare=prepare,
)
