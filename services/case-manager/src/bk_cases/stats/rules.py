"""Pure statistics — the one implementation of every public figure.

Closure figures (captured, handled, closure rate, time to close) grouped by org unit and by period
in the tenant's timezone; ledger completeness figures; the site risk score (食安指数), its risk
grade and the inspection frequency it sets; the red/black list (红黑榜). No I/O: plain data in,
plain data out. The console, the public API and the mini-program show what these return, published
as ``site_scores.v1``; nobody else computes them.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FALSE_ALARM = "false_alarm"
#: Case sources: a ledger finding, a public complaint; everything else is a violation seen on site.
LEDGER, COMPLAINT = "ledger", "complaint"
RED, BLACK = "red", "black"


class RulesError(ValueError):
    """Scoring rules that cannot be used; ``field`` names the key at fault."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


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


# --- closure figures ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figures:
    key: str
    captured: int
    handled: int
    closure_rate: float
    false_alarms: int
    mean_close_h: float | None
    median_close_h: float | None
    p95_close_h: float | None
    overdue: int


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no data."""
    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _hours(f: CaseFact) -> float | None:
    return (f.closed_at - f.created_at).total_seconds() / 3600 if f.closed_at is not None else None


def _r(value: float | None, digits: int) -> float | None:
    return round(value, digits) if value is not None else None


def figures(key: str, facts: Sequence[CaseFact]) -> Figures:
    """Captured = cases; handled = closed ones (any verdict), as the bureaus report them."""
    hours = [h for f in facts if (h := _hours(f)) is not None]
    return Figures(
        key=key,
        captured=len(facts),
        handled=len(hours),
        closure_rate=round(len(hours) / len(facts), 4) if facts else 0.0,
        false_alarms=sum(f.verdict == FALSE_ALARM for f in facts),
        mean_close_h=_r(sum(hours) / len(hours) if hours else None, 3),
        median_close_h=_r(percentile(hours, 0.5), 3),
        p95_close_h=_r(percentile(hours, 0.95), 3),
        overdue=sum(f.overdue for f in facts),
    )


def tz_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RulesError("timezone", f"unknown timezone {name!r}") from None


def period_key(at: datetime, period: str, tz: ZoneInfo) -> str:
    """The local period ``at`` falls in: day 2026-09-01, week 2026-W36, month 2026-09, quarter 2026-Q3,
    year 2026. Periods are the tenant's calendar: 23:30 UTC on 31 Aug is 1 Sep in Shanghai."""
    local = at.astimezone(tz)
    if period == "day":
        return local.strftime("%Y-%m-%d")
    if period == "week":
        iso = local.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    if period == "month":
        return local.strftime("%Y-%m")
    if period == "quarter":
        return f"{local.year}-Q{(local.month - 1) // 3 + 1}"
    if period == "year":
        return str(local.year)
    raise RulesError("period", f"must be one of {list(PERIODS)}")


PERIODS = ("day", "week", "month", "quarter", "year")


def org_level_key(depth: int) -> Callable[[CaseFact], str]:
    """Group by the org unit ``depth`` levels down (1 = city, 2 = district, 3 = township/grid)."""

    def key(f: CaseFact) -> str:
        parts = [p for p in f.org_path.split("/") if p]
        return "/" + "/".join(parts[:depth])

    return key


GROUPS = (
    "none",
    "site",
    "type",
    "source",
    "risk_class",
    "org_unit",
    "city",
    "district",
    "township",
    *PERIODS,
)


def grouping(group_by: str, tz: ZoneInfo) -> Callable[[CaseFact], str]:
    """The key function of ``group_by`` (one of GROUPS); periods are local to ``tz``."""
    if group_by in PERIODS:
        return lambda f: period_key(f.created_at, group_by, tz)
    fixed: dict[str, Callable[[CaseFact], str]] = {
        "none": lambda f: "all",
        "site": lambda f: f.site_id,
        "type": lambda f: f.case_type,
        "source": lambda f: f.source,
        "risk_class": lambda f: str(f.risk_class),
        "org_unit": lambda f: f.org_path,
        "city": org_level_key(1),
        "district": org_level_key(2),
        "township": org_level_key(3),
    }
    if group_by not in fixed:
        raise RulesError("group_by", f"must be one of {list(GROUPS)}")
    return fixed[group_by]


def group(facts: Iterable[CaseFact], by: Callable[[CaseFact], str]) -> list[Figures]:
    buckets: dict[str, list[CaseFact]] = defaultdict(list)
    for f in facts:
        buckets[by(f)].append(f)
    return [figures(k, v) for k, v in sorted(buckets.items())]


# --- ledger completeness -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerDay:
    """One site's ledger completeness (台账完整率) for one local day, as the ledger reported it."""

    site_id: str
    org_path: str
    day: str  # YYYY-MM-DD, local
    score: float  # 0..100
    items: Mapping[str, float] = field(default_factory=dict)  # ledger -> 0..1


@dataclass(frozen=True, slots=True)
class CompletenessFigures:
    key: str
    days: int  # site-days measured
    complete_days: int  # of them at 100 %
    mean: float | None  # mean daily completeness 0..100
    completeness_rate: float  # complete_days / days
    items: dict[str, float]  # ledger -> mean 0..1 over the days that expected it


def completeness_figures(key: str, days: Sequence[LedgerDay]) -> CompletenessFigures:
    per_item: dict[str, list[float]] = defaultdict(list)
    for d in days:
        for item, v in d.items.items():
            per_item[item].append(v)
    return CompletenessFigures(
        key=key,
        days=len(days),
        complete_days=sum(d.score >= 100.0 for d in days),
        mean=round(sum(d.score for d in days) / len(days), 1) if days else None,
        completeness_rate=round(sum(d.score >= 100.0 for d in days) / len(days), 4) if days else 0.0,
        items={k: round(sum(v) / len(v), 3) for k, v in sorted(per_item.items())},
    )


def ledger_grouping(group_by: str) -> Callable[[LedgerDay], str]:
    keys: dict[str, Callable[[LedgerDay], str]] = {
        "none": lambda d: "all",
        "site": lambda d: d.site_id,
        "org_unit": lambda d: d.org_path,
        "district": lambda d: "/" + "/".join([p for p in d.org_path.split("/") if p][:2]),
        "day": lambda d: d.day,
        "month": lambda d: d.day[:7],
    }
    if group_by not in keys:
        raise RulesError("group_by", f"must be one of {list(keys)}")
    return keys[group_by]


def group_completeness(
    days: Iterable[LedgerDay], by: Callable[[LedgerDay], str]
) -> list[CompletenessFigures]:
    buckets: dict[str, list[LedgerDay]] = defaultdict(list)
    for d in days:
        buckets[by(d)].append(d)
    return [completeness_figures(k, v) for k, v in sorted(buckets.items())]


# --- the tenant's scoring rules ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoringRules:
    """A tenant's weights and thresholds (租户评分规则). Every field may be overridden per tenant in
    the tenant record (``tenants.score_rules``); the defaults below are the platform's."""

    window_days: int = 30  # the published score looks back this far
    class_i: float = 10.0  # points per confirmed Class I violation (rodent, fire left unattended)
    class_ii: float = 4.0  # ... Class II
    class_iii: float = 2.0  # ... Class III
    complaint: float = 3.0  # per complaint not judged false
    ledger_finding: float = 3.0  # per failed ledger rule
    overdue: float = 5.0  # per case carded or closed past its deadline
    rectify_target_h: float = 24.0  # closing slower than this on average costs points ...
    slow_rectification_max: float = 10.0  # ... up to this many
    ledger_completeness: float = 20.0  # points lost at 0 % mean completeness (linear)
    ratings: float = 5.0  # the satisfied-minus-dissatisfied balance moves the score by up to ±this
    min_ratings: int = 3  # fewer ratings than this do not move the score
    grade_low_min: float = 85.0  # score >= this: low risk
    grade_medium_min: float = 60.0  # score >= this: medium risk; below: high risk
    list_size: int = 10  # at most this many sites on each list
    red_min_score: float = 90.0  # red list (红榜): at least this score ...
    red_min_ledger_days: int = 7  # ... completeness measured on at least this many days ...
    red_min_completeness: float = 90.0  # ... averaging at least this ...
    black_max_score: float = 60.0  # black list (黑榜): at most this score ...
    black_min_findings: int = 3  # ... resting on at least this many confirmed findings

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> ScoringRules:
        """The defaults overridden by ``data``; unknown keys and out-of-range values are refused."""
        data = dict(data or {})
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in data.items():
            if key not in known:
                raise RulesError(key, f"unknown scoring rule; known: {sorted(known)}")
            default = getattr(cls(), key)
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise RulesError(key, "must be a number")
            if isinstance(default, int) and not float(raw).is_integer():
                raise RulesError(key, "must be a whole number")
            value = type(default)(raw)
            if value < 0 or not math.isfinite(value):
                raise RulesError(key, "must be a finite number >= 0")
            values[key] = value
        rules = cls(**values)
        rules.check()
        return rules

    def check(self) -> None:
        if not 1 <= self.window_days <= 366:
            raise RulesError("window_days", "must be 1..366")
        if not 1 <= self.list_size <= 100:
            raise RulesError("list_size", "must be 1..100")
        for name in ("grade_low_min", "grade_medium_min", "red_min_score", "black_max_score"):
            if getattr(self, name) > 100:
                raise RulesError(name, "must be at most 100")
        if self.grade_medium_min > self.grade_low_min:
            raise RulesError("grade_medium_min", "must not exceed grade_low_min")
        if self.black_max_score >= self.red_min_score:
            raise RulesError("black_max_score", "must be below red_min_score (a site is on one list at most)")
        if self.red_min_completeness > 100:
            raise RulesError("red_min_completeness", "must be at most 100")

    def digest(self) -> str:
        """A short name of these rules, carried by each published score."""
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


# --- the risk score ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ratings:
    satisfied: int = 0
    neutral: int = 0
    dissatisfied: int = 0

    @property
    def total(self) -> int:
        return self.satisfied + self.neutral + self.dissatisfied


@dataclass(frozen=True, slots=True)
class SiteInputs:
    """Everything a site's score rests on, for one window."""

    site_id: str
    org_path: str
    facts: Sequence[CaseFact] = ()
    ledger_days: Sequence[LedgerDay] = ()
    ratings: Ratings = Ratings()


#: Risk grade → how often the site is inspected on site (检查频次): monthly, quarterly, yearly.
INSPECTION_FREQUENCY = {"high": "monthly", "medium": "quarterly", "low": "yearly"}
GRADE_LABELS = {"low": "低风险 low", "medium": "中风险 medium", "high": "高风险 high"}
FREQUENCY_LABELS = {"monthly": "每月 monthly", "quarterly": "每季度 quarterly", "yearly": "每年 yearly"}


@dataclass(frozen=True, slots=True)
class SiteScore:
    site_id: str
    org_path: str
    score: float  # 0..100, higher is safer, one decimal
    grade: str  # low, medium, high
    inspection_frequency: str  # yearly, quarterly, monthly
    violations: int
    complaints: int
    ledger_findings: int
    overdue: int
    mean_close_h: float | None
    ledger_completeness: float | None
    ledger_days: int
    ratings: Ratings
    deductions: dict[str, float]  # points off per component (negative: points added)
    has_class_i: bool

    @property
    def findings(self) -> int:
        """Confirmed facts the score rests on: violations, complaints and ledger findings."""
        return self.violations + self.complaints + self.ledger_findings


def grade(score: float, rules: ScoringRules) -> str:
    if score >= rules.grade_low_min:
        return "low"
    return "medium" if score >= rules.grade_medium_min else "high"


def inspection_frequency(grade_: str) -> str:
    return INSPECTION_FREQUENCY[grade_]


def risk_score(inputs: SiteInputs, rules: ScoringRules) -> SiteScore:
    """食安指数: 100 minus points for confirmed violations (by risk class), complaints, failed ledger
    rules, overdue cases, slow rectification and incomplete ledgers; the parents' rating balance
    adds or takes up to ``rules.ratings``. Clamped to 0..100, one decimal. False alarms never count.
    """
    real = [f for f in inputs.facts if f.verdict != FALSE_ALARM]
    violations = [f for f in real if f.source not in (LEDGER, COMPLAINT)]
    complaints = [f for f in real if f.source == COMPLAINT]
    ledger_findings = [f for f in real if f.source == LEDGER]
    per_class = {1: rules.class_i, 2: rules.class_ii, 3: rules.class_iii}
    hours = [h for f in real if (h := _hours(f)) is not None]
    mean_h = sum(hours) / len(hours) if hours else None
    overdue = sum(f.overdue for f in real)
    days = inputs.ledger_days
    completeness = sum(d.score for d in days) / len(days) if days else None
    r = inputs.ratings

    deductions = {
        "violations": sum(per_class.get(f.risk_class, rules.class_iii) for f in violations),
        "complaints": rules.complaint * len(complaints),
        "ledger_findings": rules.ledger_finding * len(ledger_findings),
        "overdue": rules.overdue * overdue,
        "slow_rectification": (
            min(rules.slow_rectification_max, (mean_h - rules.rectify_target_h) / rules.rectify_target_h * 2)
            if mean_h is not None and rules.rectify_target_h > 0 and mean_h > rules.rectify_target_h
            else 0.0
        ),
        # No completeness reported yet: nothing taken off, and no place on the red list either.
        "ledger_completeness": (
            rules.ledger_completeness * (100.0 - completeness) / 100.0 if completeness is not None else 0.0
        ),
        "ratings": (
            -rules.ratings * (r.satisfied - r.dissatisfied) / r.total
            if r.total and r.total >= rules.min_ratings
            else 0.0
        ),
    }
    deductions = {k: round(v, 2) + 0.0 for k, v in deductions.items()}  # + 0.0: no "-0.0"
    score = round(max(0.0, min(100.0, 100.0 - sum(deductions.values()))), 1)
    g = grade(score, rules)
    return SiteScore(
        site_id=inputs.site_id,
        org_path=inputs.org_path,
        score=score,
        grade=g,
        inspection_frequency=inspection_frequency(g),
        violations=len(violations),
        complaints=len(complaints),
        ledger_findings=len(ledger_findings),
        overdue=overdue,
        mean_close_h=_r(mean_h, 2),
        ledger_completeness=_r(completeness, 1),
        ledger_days=len(days),
        ratings=r,
        deductions=deductions,
        has_class_i=any(f.risk_class == 1 for f in violations),
    )


# --- the red/black list ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Placement:
    """A site's place on the lists: ``list`` is "red", "black" or ""; ``rank`` 1-based (0: none)."""

    site_id: str
    list: str
    rank: int
    reason: str


def red_eligible(s: SiteScore, rules: ScoringRules) -> str | None:
    """None when ``s`` may stand on the red list (红榜), else why not. Red needs a high score with
    evidence behind it: ledgers measured for long enough and complete, no Class I, nothing overdue."""
    if s.score < rules.red_min_score:
        return f"分数低于红榜线 score below {rules.red_min_score:g}"
    if s.has_class_i:
        return "有一级违规 a confirmed Class I violation"
    if s.overdue:
        return "有逾期案件 overdue cases"
    if s.ledger_days < rules.red_min_ledger_days or s.ledger_completeness is None:
        return f"台账天数不足 ledger completeness known for fewer than {rules.red_min_ledger_days} days"
    if s.ledger_completeness < rules.red_min_completeness:
        return f"台账完整率低于 {rules.red_min_completeness:g}% ledgers incomplete"
    return None


def black_eligible(s: SiteScore, rules: ScoringRules) -> str | None:
    """None when ``s`` belongs on the black list (黑榜), else why not. Black needs a low score that
    rests on confirmed findings, so missing data alone never puts a kitchen there."""
    if s.score > rules.black_max_score:
        return f"分数高于黑榜线 score above {rules.black_max_score:g}"
    if s.findings < rules.black_min_findings:
        return f"确认问题少于 {rules.black_min_findings} 项 fewer confirmed findings"
    return None


def red_black_list(scores: Sequence[SiteScore], rules: ScoringRules) -> list[Placement]:
    """红黑榜 — one placement per site, in the order given.

    Red: eligible sites (``red_eligible``), best score first, ties by site id, at most
    ``rules.list_size``. Black: eligible sites (``black_eligible``), worst first, ties by site id, at
    most ``rules.list_size``. The thresholds keep the lists apart: no site is on both.
    """
    red = sorted((s for s in scores if red_eligible(s, rules) is None), key=lambda s: (-s.score, s.site_id))
    black = sorted(
        (s for s in scores if black_eligible(s, rules) is None), key=lambda s: (s.score, s.site_id)
    )
    place: dict[str, Placement] = {}
    for name, ranked, label in ((RED, red, "红榜 red list"), (BLACK, black, "黑榜 black list")):
        for i, s in enumerate(ranked[: rules.list_size], start=1):
            place[s.site_id] = Placement(s.site_id, name, i, f"{label} #{i}")
    out = []
    for s in scores:
        if s.site_id in place:
            out.append(place[s.site_id])
            continue
        why_not = black_eligible(s, rules) if s.score <= rules.black_max_score else red_eligible(s, rules)
        out.append(Placement(s.site_id, "", 0, why_not or "名额已满 the list is full"))
    return out


def local_month_bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The start of ``month`` ("YYYY-MM") and of the next, at local midnight in ``tz``."""
    year, mon = int(month[:4]), int(month[5:7])
    nxt = (year + 1, 1) if mon == 12 else (year, mon + 1)
    return datetime(year, mon, 1, tzinfo=tz), datetime(*nxt, 1, tzinfo=tz)


def window(now: datetime, rules: ScoringRules) -> tuple[datetime, datetime]:
    """The published score's window: the last ``window_days`` up to ``now``."""
    return now - timedelta(days=rules.window_days), now
