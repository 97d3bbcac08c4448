"""Analytics schedule: weekly windows in the camera's local time (same shape as ScheduleWindow)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo


def in_schedule(windows: list[dict[str, Any]], when: datetime, timezone: str = "Asia/Shanghai") -> bool:
    """True when ``when`` lies in any window; no windows = always."""
    if not windows:
        return True
    local = when.astimezone(ZoneInfo(timezone or "Asia/Shanghai"))
    minute = local.hour * 60 + local.minute
    for w in windows:
        days = w.get("weekdays") or []
        start, end = int(w.get("start_minute", 0)), int(w.get("end_minute", 24 * 60))
        inside = start <= minute < end if start <= end else (minute >= start or minute < end)
        # Past midnight, a window that crosses it belongs to the day it started on.
        day = local.isoweekday() if start <= end or minute >= start else (local.isoweekday() - 2) % 7 + 1
        if inside and (not days or day in days):
            return True
    return False
