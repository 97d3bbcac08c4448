"""Morning-check rules: who is fit for work, and whether a site checked everyone by opening time."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bk_ledger.common.config import MorningCheckRules
from bk_ledger.common.findings import Finding, Severity

LEDGER = "morning_check"


def assess(
    *, temperature_c: float, has_symptoms: bool, hands_ok: bool, dress_ok: bool, cfg: MorningCheckRules
) -> tuple[bool, list[str]]:
    """(fit, reasons). Anyone with fever or symptoms leaves the post; bad dress is fixable on the spot."""
    reasons = []
    if temperature_c >= cfg.fever_c:
        reasons.append(f"体温 {temperature_c:.1f}°C ≥ {cfg.fever_c:.1f}°C")
    if has_symptoms:
        reasons.append("有症状 symptoms")
    if not hands_ok:
        reasons.append("手部检查不合格 hands")
    fit = not reasons
    if not dress_ok:
        reasons.append("着装不合格 dress (corrected on the spot)")
    return fit, reasons


def unfit_finding(*, site_id: str, record_id: str, staff_id: str, reasons: list[str]) -> Finding:
    return Finding(
        LEDGER,
        "staff_unfit",
        site_id,
        record_id,
        Severity.WARNING,
        "晨检不合格，须离岗: " + "; ".join(reasons),
        details={"staff_id": staff_id},
    )


def opening_deadline(day: date, opening: str, tz: str, grace_min: int) -> datetime:
    """When the day's checks must be complete: the site's local opening time plus grace."""
    start = time.fromisoformat(opening.split("-")[0])
    return datetime.combine(day, start, ZoneInfo(tz)) + timedelta(minutes=grace_min)


def missing_checks(
    *,
    site_id: str,
    day: date,
    now: datetime,
    deadline: datetime,
    staff_ids: Collection[str],
    checked_ids: Collection[str],
) -> Finding | None:
    """A gap when, past the deadline, a registered staff member (or, with none registered, anyone)
    has no check that day; a cleared finding when the gap has been filled. None before the deadline."""
    if now < deadline:
        return None
    missing = sorted(set(staff_ids) - set(checked_ids)) if staff_ids else ([] if checked_ids else ["*"])
    subject = day.isoformat()
    if not missing:
        return Finding(
            LEDGER,
            "morning_check_missing",
            site_id,
            subject,
            Severity.ALARM,
            "晨检已补齐 morning checks complete",
            active=False,
        )
    return Finding(
        LEDGER,
        "morning_check_missing",
        site_id,
        subject,
        Severity.ALARM,
        f"开业前未完成晨检: {len(missing) if missing != ['*'] else '全部'} 人 missing",
        due_at=deadline,
        details={"missing_staff": ",".join(missing)[:1000]},
    )
