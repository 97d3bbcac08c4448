"""IoT rules: out of range for a whole window, and silence. Readings are (epoch ms, value)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bk_ledger.common.findings import Finding, Severity

LEDGER = "iot"
FUTURE_SLACK_MS = 5 * 60_000  # device clocks drift; further ahead than this is garbage
MAX_AGE_MS = 7 * 24 * 3600_000  # a week of buffered readings is the most a device may resend
PHYSICAL = (-100.0, 300.0)  # no kitchen sensor reads outside this


def parse_reading(item: Any, now_ms: int) -> tuple[int, float] | str:
    """(ts_ms, value), or why the reading is garbage. ``ts`` is ISO-8601 with offset or epoch seconds."""
    if not isinstance(item, dict):
        return "not an object"
    ts, value = item.get("ts"), item.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "value must be a finite number"
    if not PHYSICAL[0] <= value <= PHYSICAL[1]:
        return f"value {value} outside the physical range {PHYSICAL}"
    if isinstance(ts, int | float) and not isinstance(ts, bool) and math.isfinite(ts):
        ts_ms = round(ts * 1000)
    elif isinstance(ts, str):
        try:
            when = datetime.fromisoformat(ts)
        except ValueError:
            return "ts is not ISO-8601"
        if when.tzinfo is None:
            return "ts needs a timezone offset"
        ts_ms = round(when.timestamp() * 1000)
    else:
        return "ts must be ISO-8601 or epoch seconds"
    if ts_ms > now_ms + FUTURE_SLACK_MS:
        return "ts is in the future"
    if ts_ms < now_ms - MAX_AGE_MS:
        return "ts is too old"
    return ts_ms, float(value)


def out_of_range(value: float, low: float | None, high: float | None) -> bool:
    """Strictly outside: 8.0 °C in a fridge limited to 8 °C is still fine."""
    return (high is not None and value > high) or (low is not None and value < low)


def excursion_start(
    readings: Sequence[tuple[int, float]], low: float | None, high: float | None
) -> int | None:
    """Start (ms) of the out-of-range streak that the latest reading belongs to; None if in range.

    ``readings`` sorted by time. Late readings inside the streak that are in range break it, which is
    what we want: a fridge that came back to 6 °C for a moment was not warm for the whole window.
    """
    start = None
    for ts, value in reversed(readings):
        if not out_of_range(value, low, high):
            break
        start = ts
    return start


def threshold_finding(
    *,
    site_id: str,
    sensor_id: str,
    name: str,
    unit: str,
    latest: tuple[int, float],
    start_ms: int | None,
    window_s: int,
    low: float | None,
    high: float | None,
) -> Finding:
    active = start_ms is not None and latest[0] - start_ms >= window_s * 1000
    mins = 0 if start_ms is None else (latest[0] - start_ms) // 60_000
    limits = f"[{'' if low is None else low:}, {'' if high is None else high:}]"
    msg = (
        f"{name} 超出范围 {limits}{unit} 已 {mins} 分钟, 当前 {latest[1]:g}{unit}"
        if active
        else f"{name} 恢复正常 back in range"
    )
    return Finding(
        LEDGER,
        "sensor_out_of_range",
        site_id,
        sensor_id,
        Severity.ALARM,
        msg,
        active=active,
        details={
            "value": f"{latest[1]:g}",
            "since": "" if start_ms is None else datetime.fromtimestamp(start_ms / 1000, UTC).isoformat(),
        },
    )


def silence_finding(
    *,
    site_id: str,
    sensor_id: str,
    name: str,
    last_seen_ms: int | None,
    registered_ms: int,
    now_ms: int,
    silence_s: int,
) -> Finding:
    since = last_seen_ms if last_seen_ms is not None else registered_ms
    active = now_ms - since > silence_s * 1000
    msg = (
        f"{name} 已 {(now_ms - since) // 60_000} 分钟无数据 sensor silent"
        if active
        else f"{name} 恢复上报 reporting again"
    )
    return Finding(LEDGER, "sensor_silent", site_id, sensor_id, Severity.ALARM, msg, active=active)
