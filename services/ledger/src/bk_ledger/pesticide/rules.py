"""Pesticide rule: inhibition at or over the tenant's limit (default 50%) fails the food."""

from __future__ import annotations

from bk_ledger.common.config import PesticideRules
from bk_ledger.common.findings import Finding, Severity

LEDGER = "pesticide_test"


def passes(inhibition_pct: float, cfg: PesticideRules) -> bool:
    return inhibition_pct < cfg.fail_inhibition_pct


def failed_finding(
    *,
    site_id: str,
    record_id: str,
    item: str,
    inhibition_pct: float,
    cfg: PesticideRules,
    purchase_id: str | None,
) -> Finding:
    return Finding(
        LEDGER,
        "pesticide_test_failed",
        site_id,
        record_id,
        Severity.ALARM,
        f"农残快检不合格: {item} 抑制率 {inhibition_pct:.1f}% ≥ {cfg.fail_inhibition_pct:.0f}%，"
        "须退货并追溯 return and trace",
        details={"item": item, "inhibition_pct": f"{inhibition_pct:.1f}", "purchase_id": purchase_id or ""},
    )
