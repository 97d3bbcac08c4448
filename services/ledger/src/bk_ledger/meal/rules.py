"""Meal rules: a poor accompanying-meal rating is worth a warning to the site's supervisor."""

from __future__ import annotations

from bk_ledger.common.findings import Finding, Severity

LEDGER = "accompanying_meal"


def rating_findings(
    *, site_id: str, record_id: str, quality: str, hygiene: str, problems: str
) -> list[Finding]:
    if "poor" not in (quality, hygiene):
        return []
    return [
        Finding(
            LEDGER,
            "accompanying_meal_poor",
            site_id,
            record_id,
            Severity.WARNING,
            f"陪餐评价差: 质量 {quality}, 卫生 {hygiene}. {problems}"[:500],
        )
    ]
