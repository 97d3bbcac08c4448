"""Routes of the morning check: the shared ledger shape with this ledger's rules."""

from __future__ import annotations

from bk_ledger.common.config import RuleConfig
from bk_ledger.common.crud import Prepared, ledger_router
from bk_ledger.morning_check import rules
from bk_ledger.morning_check.models import MorningCheckIn, morning_checks
from bk_ledger.sites.models import SiteInfo


def prepare(body: MorningCheckIn, cfg: RuleConfig, site: SiteInfo, rid: str) -> Prepared:
    fit, reasons = rules.assess(
        temperature_c=body.temperature_c,
        has_symptoms=body.symptoms.any(),
        hands_ok=body.hands_ok,
        dress_ok=body.dress_ok,
        cfg=cfg.morning_check,
    )
    values = {
        "staff_id": body.staff_id,
        "staff_name": body.staff_name,
        "check_date": body.local_date(site.timezone).date(),
        "checked_at": body.checked_at,
        "temperature_c": body.temperature_c,
        **body.symptoms.model_dump(),
        "hands_ok": body.hands_ok,
        "dress_ok": body.dress_ok,
        "fit": fit,
        "result": "合格 fit" if not reasons else "; ".join(reasons),
        "checker": body.checker,
    }
    findings = (
        []
        if fit
        else [
            rules.unfit_finding(site_id=site.site_id, record_id=rid, staff_id=body.staff_id, reasons=reasons)
        ]
    )
    return values, findings


router = ledger_router(
    path="morning-checks",
    tag="morning check 晨检",
    table=morning_checks,
    model=MorningCheckIn,
    date_col=morning_checks.c.check_date,
    prepare=prepare,
)
