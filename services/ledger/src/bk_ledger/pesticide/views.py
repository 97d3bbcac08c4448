"""Routes of the pesticide rapid test."""

from __future__ import annotations

from bk_ledger.common.config import RuleConfig
from bk_ledger.common.crud import Prepared, ledger_router
from bk_ledger.pesticide import rules
from bk_ledger.pesticide.models import PesticideTestIn, pesticide_tests
from bk_ledger.sites.models import SiteInfo


def prepare(body: PesticideTestIn, cfg: RuleConfig, site: SiteInfo, rid: str) -> Prepared:
    ok = rules.passes(body.inhibition_pct, cfg.pesticide)
    values = {**body.model_dump(exclude={"site_id"}), "result": "pass" if ok else "fail"}
    findings = (
        []
        if ok
        else [
            rules.failed_finding(
                site_id=site.site_id,
                record_id=rid,
                item=body.item,
                inhibition_pct=body.inhibition_pct,
                cfg=cfg.pesticide,
                purchase_id=body.purchase_id,
            )
        ]
    )
    return values, findings


router = ledger_router(
    path="pesticide-tests",
    tag="pesticide test 农残快检",
    table=pesticide_tests,
    model=PesticideTestIn,
    date_col=pesticide_tests.c.tested_at,
    prepare=prepare,
)
