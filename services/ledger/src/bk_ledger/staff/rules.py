"""Staff rules: health-certificate expiry, and exam scoring."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from bk_ledger.common.config import ExpiryRules
from bk_ledger.common.expiry import expiry_finding
from bk_ledger.common.findings import Finding

LEDGER = "health_certificate"


def certificate_finding(
    *, site_id: str, staff_id: str, staff_name: str, expires_on: date, today: date, cfg: ExpiryRules, tz: str
) -> Finding:
    # Subject is the staff member, not the certificate: a renewal (a new certificate) clears the alarm.
    return expiry_finding(
        ledger=LEDGER,
        rule="health_certificate_expiry",
        site_id=site_id,
        subject_id=staff_id,
        label=f"健康证 ({staff_name})",
        expires=expires_on,
        today=today,
        warn_days=cfg.health_certificate_warn_days,
        tz=tz,
    )


def score(answers: Mapping[str, int], key: Mapping[str, int]) -> int:
    """Percent of the course's questions answered right (unanswered counts as wrong), rounded down."""
    if not key:
        return 0
    right = sum(1 for qid, ans in key.items() if answers.get(qid) == ans)
    return right * 100 // len(key)


def passed(score_pct: int, pass_score: int) -> bool:
    return score_pct >= pass_score
