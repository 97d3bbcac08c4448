"""Shared shape of expiry rules (health certificates, supplier licences)."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from bk_ledger.common.findings import Finding, Severity


def expiry_finding(
    *,
    ledger: str,
    rule: str,
    site_id: str,
    subject_id: str,
    label: str,
    expires: date,
    today: date,
    warn_days: int,
    tz: str,
) -> Finding:
    """Alarm once expired (the expiry day itself is still valid), warning within ``warn_days``,
    and a cleared finding otherwise — so a renewal clears what was raised before."""
    due = datetime.combine(expires, time(23, 59), ZoneInfo(tz))
    left = (expires - today).days
    details = {"expires": expires.isoformat(), "days_left": str(left)}
    if left < 0:
        return Finding(
            ledger,
            rule,
            site_id,
            subject_id,
            Severity.ALARM,
            f"{label} 已过期 expired on {expires}",
            due_at=due,
            details=details,
        )
    if left <= warn_days:
        return Finding(
            ledger,
            rule,
            site_id,
            subject_id,
            Severity.WARNING,
            f"{label} 将于 {left} 天后到期 expires {expires}",
            due_at=due,
            details=details,
        )
    return Finding(
        ledger,
        rule,
        site_id,
        subject_id,
        Severity.WARNING,
        f"{label} 有效 valid",
        active=False,
        details=details,
    )
