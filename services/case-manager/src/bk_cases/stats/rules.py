"""Pure statistics: closure figures, percentiles, the site risk score (食安指数), red/black lists."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class CaseFact:
    """What statistics need of one case."""

    site_id: str
    org_path: str
    case_type: str
    source: str
    risk_class: int
    created_at: datetime
    closed_at: datetime | None
    verdict: str
    card_level: int
    overdue: bool


@dataclass(frozen=True, slots=True)
class Figures:
    key: str
    captured: int
    handled: int
    closure_rate: float
    false_alarms: int
    median_close_h: float | None
    p95_close_h: float | None
    overdue: int


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank-free linear interpolation (same as numpy's default), None for no data."""
    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def figures(key: str, facts: Sequence[CaseFact]) -> Figures:
    """Captured = cases; handled = closed ones (any verdict), as the bureaus report them."""
    closed = [f for f in facts if f.closed_at is not None]
    hours = [(f.closed_at - f.created_at).total_seconds() / 3600 for f in closed if f.closed_at]
    med, p95 = percentile(hours, 0.5), percentile(hours, 0.95)
    return Figures(
        key=key,
        captured=len(facts),
        handled=len(closed),
        closure_rate=round(len(closed) / len(facts), 4) if facts else 0.0,
        false_alarms=sum(f.verdict == "false_alarm" for f in facts),
        median_close_h=round(med, 3) if med is not None else None,
        p95_close_h=round(p95, 3) if p95 is not None else None,
        overdue=sum(f.overdue for f in facts),
    )


def org_level_key(depth: int) -> Callable[[CaseFact], str]:
    """Group by the org unit ``depth`` levels down (1 = city, 2 = district, ...)."""

    def key(f: CaseFact) -> str:
        parts = [p for p in f.org_path.split("/") if p]
        return "/" + "/".join(parts[:depth])

    return key


GROUPINGS: dict[str, Callable[[CaseFact], str]] = {
    "site": lambda f: f.site_id,
    "type": lambda f: f.case_type,
    "org_unit": lambda f: f.org_path,
    "day": lambda f: f.created_at.strftime("%Y-%m-%d"),
    "month": lambda f: f.created_at.strftime("%Y-%m"),
    "risk_class": lambda f: str(f.risk_class),
    "none": lambda f: "all",
}


def group(facts: Iterable[CaseFact], by: Callable[[CaseFact], str]) -> list[Figures]:
    buckets: dict[str, list[CaseFact]] = defaultdict(list)
    for f in facts:
        buckets[by(f)].append(f)
    return [figures(k, v) for k, v in sorted(buckets.items())]


@dataclass(frozen=True, slots=True)
class SiteScore:
    site_id: str
    score: float  # 0..100, higher is safer
    violations: int
    ledger_gaps: int
    overdue: int
    mean_close_h: float | None


# Points taken off per item: a Class I capture weighs like five Class III ones.
_CLASS_PENALTY = {1: 10.0, 2: 4.0, 3: 2.0}


def risk_score(site_id: str, facts: Sequence[CaseFact], *, rating: float | None = None) -> SiteScore:
    """食安指数: start at 100, subtract for confirmed violations, ledger gaps, overdue cases and slow
    rectification; a public rating (0..1 satisfied share) moves it by up to ±5. Clamped to 0..100."""
    real = [f for f in facts if f.verdict != "false_alarm"]
    violations = [f for f in real if f.source != "ledger"]
    gaps = [f for f in real if f.source == "ledger"]
    closed_h = [(f.closed_at - f.created_at).total_seconds() / 3600 for f in real if f.closed_at]
    mean_h = sum(closed_h) / len(closed_h) if closed_h else None
    score = 100.0 - sum(_CLASS_PENALTY.get(f.risk_class, 2.0) for f in violations)
    score -= 3.0 * len(gaps) + 5.0 * sum(f.overdue for f in real)
    if mean_h is not None and mean_h > 24:
        score -= min(10.0, (mean_h - 24) / 24 * 2)  # slower than a day costs up to 10 points
    if rating is not None:
        score += (rating - 0.5) * 10
    return SiteScore(
        site_id,
        round(max(0.0, min(100.0, score)), 1),
        len(violations),
        len(gaps),
        sum(f.overdue for f in real),
        round(mean_h, 2) if mean_h is not None else None,
    )


def red_black_list(scores: Sequence[SiteScore], *, size: int = 10) -> tuple[list[SiteScore], list[SiteScore]]:
    """(红榜 best, 黑榜 worst): the top and bottom ``size`` sites; a site appears on at most one list."""
    ranked = sorted(scores, key=lambda s: (-s.score, s.site_id))
    red = ranked[:size]
    black = [s for s in reversed(ranked) if s not in red and s.score < 100.0][:size]
    return red, black
