"""Sample rules: enough food (≥ 125 g) and kept long enough (≥ 48 h), both tenant-configurable."""

from __future__ import annotations

from datetime import datetime

from bk_ledger.common.config import SampleRules
from bk_ledger.common.findings import Finding, Severity

LEDGER = "sample_retention"


def underweight(weight_g: float, cfg: SampleRules) -> bool:
    return weight_g < cfg.min_weight_g


def kept_too_short(taken_at: datetime, until: datetime, cfg: SampleRules) -> bool:
    return (until - taken_at).total_seconds() < cfg.min_keep_h * 3600


def on_record(
    *,
    site_id: str,
    record_id: str,
    dish: str,
    weight_g: float,
    taken_at: datetime,
    planned_disposal_at: datetime,
    cfg: SampleRules,
) -> list[Finding]:
    out = []
    if underweight(weight_g, cfg):
        out.append(
            Finding(
                LEDGER,
                "sample_underweight",
                site_id,
                record_id,
                Severity.ALARM,
                f"留样不足: {dish} {weight_g:g} g < {cfg.min_weight_g:g} g",
                details={"dish": dish, "weight_g": f"{weight_g:g}"},
            )
        )
    if kept_too_short(taken_at, planned_disposal_at, cfg):
        out.append(
            Finding(
                LEDGER,
                "sample_disposal_planned_early",
                site_id,
                record_id,
                Severity.WARNING,
                f"计划销毁时间不足 {cfg.min_keep_h:g} 小时: {dish}",
                due_at=planned_disposal_at,
                details={"dish": dish},
            )
        )
    return out


def on_disposal(
    *, site_id: str, record_id: str, dish: str, taken_at: datetime, disposed_at: datetime, cfg: SampleRules
) -> list[Finding]:
    if not kept_too_short(taken_at, disposed_at, cfg):
        return []
    hours = (disposed_at - taken_at).total_seconds() / 3600
    return [
        Finding(
            LEDGER,
            "sample_disposed_early",
            site_id,
            record_id,
            Severity.ALARM,
            f"留样提前销毁: {dish} 仅保存 {hours:.1f} 小时 < {cfg.min_keep_h:g} 小时",
            details={"dish": dish, "kept_h": f"{hours:.1f}"},
        )
    ]
