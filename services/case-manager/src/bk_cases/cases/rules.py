"""Pure rules of the loop: grading, deadlines, aggregation, transitions, overdue cards. No I/O."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bk_cases.cases.enums import OPEN_STATUSES, Action, CardLevel, CaseStatus, RiskClass, Verdict
from bkcore.auth import Role

#: Default grading of AI and camera types (DOMAIN.md); a tenant's grading rules override them.
DEFAULT_GRADES: dict[str, RiskClass] = {
    "rodent": RiskClass.I,
    "fire_unattended": RiskClass.I,
    "smoking": RiskClass.II,
    "phone_use": RiskClass.II,
    "trash_bin_open": RiskClass.II,
    "stranger": RiskClass.II,
    "camera_offline": RiskClass.II,
    "camera_covered": RiskClass.II,
    "camera_frozen": RiskClass.II,
    "no_chef_hat": RiskClass.III,
    "no_mask": RiskClass.III,
    "no_uniform": RiskClass.III,
    "no_gloves": RiskClass.III,
}
#: Statuses in which the site still owes work: only these aggregate repeats and can run overdue.
AWAITING_SITE = frozenset(
    {CaseStatus.NEW, CaseStatus.DISPATCHED, CaseStatus.ACKNOWLEDGED, CaseStatus.RECTIFYING}
)
#: Unknown types (new detector classes, ledger rules, complaints) are graded II: a deadline, no page.
FALLBACK_GRADE = RiskClass.II
#: A ledger alert is graded by the severity the ledger gave it (``LedgerAlert.severity``) unless a
#: rule names its type: an alarm must be rectified by a deadline, a warning is counted (Class III).
LEDGER_SEVERITY_GRADES: dict[str, RiskClass] = {"alarm": RiskClass.II, "warning": RiskClass.III}

#: Site kinds whose cases are copied (抄告) to the education bureau.
EDUCATION_KINDS = frozenset({"school_canteen", "kindergarten", "off_campus_care", "university_canteen"})
#: ``GradingRule.site_scope`` naming every kind in ``EDUCATION_KINDS`` (schools, kindergartens, ...).
EDUCATION_SCOPE = "education"


@dataclass(frozen=True, slots=True)
class Grade:
    risk_class: RiskClass
    deadline_h: float | None  # hours to rectify, counted from dispatch; None: no deadline (Class III)


@dataclass(frozen=True, slots=True)
class GradingRule:
    """One grading rule (分级规则): a case type, narrowed by the alarm's severity and the site's kind.

    ``severity`` "" matches any (ledger alerts carry ``warning`` / ``alarm``); ``site_scope`` "" matches
    any site, a site kind matches that kind, ``education`` matches every kind in ``EDUCATION_KINDS``.
    ``deadline_h`` None: the class's deadline (none for Class III).
    """

    case_type: str
    risk_class: RiskClass
    deadline_h: float | None = None
    severity: str = ""
    site_scope: str = ""

    def matches(self, *, severity: str, site_kind: str) -> bool:
        if self.severity and self.severity != severity:
            return False
        if self.site_scope == EDUCATION_SCOPE:
            return site_kind in EDUCATION_KINDS
        return not self.site_scope or self.site_scope == site_kind

    @property
    def specificity(self) -> int:
        return 2 * bool(self.site_scope) + bool(self.severity)


#: Default rules beyond ``DEFAULT_GRADES``: a failed pesticide test in a school is Class I (a child
#: may eat the food today; elsewhere it is graded by its severity like any ledger alarm), and so is a
#: supplier recall anywhere.
DEFAULT_RULES: tuple[GradingRule, ...] = (
    GradingRule("pesticide_test_failed", RiskClass.I, site_scope=EDUCATION_SCOPE),
    # A recalled supplier's food may be on today's plates, at any kind of site: dispatched at once.
    GradingRule("supplier_recall", RiskClass.I),
)


def grade(
    case_type: str,
    *,
    rules: Sequence[GradingRule],
    deadline_i_h: float,
    deadline_ii_h: float,
    severity: str = "",
    site_kind: str = "",
) -> Grade:
    """The risk class and rectification time of a case under a tenant's rules (the one grading rule).

    A tenant's rules for a type replace the default rules of that type; among the rules that match,
    the most specific wins (site scope before severity). Without a matching rule: ``DEFAULT_GRADES``,
    then the ledger's severity (``LEDGER_SEVERITY_GRADES``), then ``FALLBACK_GRADE``.
    """
    own = [r for r in rules if r.case_type == case_type]
    candidates = own or [r for r in DEFAULT_RULES if r.case_type == case_type]
    matching = [r for r in candidates if r.matches(severity=severity, site_kind=site_kind)]
    class_hours = {RiskClass.I: deadline_i_h, RiskClass.II: deadline_ii_h}
    if matching:
        best = max(matching, key=lambda r: r.specificity)
        hours = best.deadline_h if best.deadline_h is not None else class_hours.get(best.risk_class)
        return Grade(best.risk_class, hours if best.risk_class != RiskClass.III else None)
    if case_type in DEFAULT_GRADES:
        cls = DEFAULT_GRADES[case_type]
    else:
        cls = LEDGER_SEVERITY_GRADES.get(severity, FALLBACK_GRADE)
    return Grade(cls, class_hours.get(cls))


def deadline_from_dispatch(rectify_h: float | None, dispatched_at: datetime) -> datetime | None:
    """The deadline runs from dispatch (Class I is dispatched at once), never from the capture."""
    return dispatched_at + timedelta(hours=rectify_h) if rectify_h is not None else None


def upgraded(current: int, incoming: RiskClass) -> bool:
    """A repeat graded more severe than its open case raises the case (a warning become an alarm)."""
    return int(incoming) < current


#: Longest part of an aggregation key kept verbatim (``cases.open_key`` is 300 characters).
_KEY_PART = 64


def open_key(tenant_id: str, site_id: str, case_type: str, subject_id: str = "") -> str:
    """Identity of "the open case of this type at this site (about this subject)".

    Signals with a subject (a sensor, staff member, supplier, camera) aggregate per subject, so two
    silent sensors are two cases that clear one by one; those without one (AI captures) per site.
    """
    key = f"{tenant_id}|{site_id}|{case_type}"
    if not subject_id:
        return key
    if len(subject_id) > _KEY_PART:  # a long record id: a digest keeps the key unique and bounded
        subject_id = "#" + hashlib.sha256(subject_id.encode()).hexdigest()[:40]
    return f"{key}|{subject_id}"


def joins_open_case(*, status: str, last_seen_at: datetime, seen_at: datetime, window_s: int) -> bool:
    """A repeat joins the case while the site still owes work on it and it is inside the window.

    Once rectification is submitted a repeat means the fix did not hold: that is a new case.
    Events reordered across keys can arrive with ``seen_at`` before ``last_seen_at``: still a join.
    """
    return status in AWAITING_SITE and seen_at - last_seen_at <= timedelta(seconds=window_s)


@dataclass(frozen=True, slots=True)
class Transition:
    from_statuses: frozenset[CaseStatus]
    to_status: CaseStatus
    roles: frozenset[Role]


_SUPERVISE = frozenset({Role.PLATFORM_ADMIN, Role.SUPERVISOR})
_SITE = frozenset({Role.SITE_MANAGER, Role.STAFF})
_S = CaseStatus

#: Who may do what, from which state. Everything not listed here is refused.
TRANSITIONS: dict[Action, Transition] = {
    Action.DISPATCH: Transition(frozenset({_S.NEW}), _S.DISPATCHED, _SUPERVISE),
    Action.ACKNOWLEDGE: Transition(
        frozenset({_S.DISPATCHED}), _S.ACKNOWLEDGED, frozenset({Role.SITE_MANAGER})
    ),
    Action.SUBMIT: Transition(
        frozenset({_S.DISPATCHED, _S.ACKNOWLEDGED, _S.RECTIFYING}), _S.SUBMITTED, _SITE
    ),
    Action.SCHEDULE_RECHECK: Transition(frozenset({_S.SUBMITTED}), _S.RECHECK, _SUPERVISE),
    Action.APPROVE: Transition(frozenset({_S.SUBMITTED, _S.RECHECK}), _S.APPROVED, _SUPERVISE),
    Action.REJECT: Transition(frozenset({_S.SUBMITTED, _S.RECHECK}), _S.RECTIFYING, _SUPERVISE),
    Action.CLOSE: Transition(frozenset({_S.APPROVED}), _S.CLOSED, _SUPERVISE),
    Action.FALSE_ALARM: Transition(frozenset(OPEN_STATUSES - {_S.APPROVED}), _S.CLOSED, _SUPERVISE),
}


class TransitionRefused(Exception):
    """``forbidden``: the role may never do this (403); otherwise the state does not allow it (409)."""

    def __init__(self, message: str, *, forbidden: bool) -> None:
        super().__init__(message)
        self.forbidden = forbidden


#: Departments whose users read copies (抄告) but never move a case: the loop is market regulation's.
READ_ONLY_DEPARTMENTS = frozenset({"education"})


def check_transition(action: Action, *, status: str, role: Role, department: str = "market") -> CaseStatus:
    """The status after ``action``, or TransitionRefused."""
    t = TRANSITIONS.get(action)
    if t is None:
        raise TransitionRefused(f"{action} is not a user action", forbidden=True)
    if role not in t.roles:
        raise TransitionRefused(f"role {role.value} may not {action.value}", forbidden=True)
    if department in READ_ONLY_DEPARTMENTS:
        raise TransitionRefused(
            f"抄告部门只读 · the {department} department reads copies of cases; it may not {action.value}",
            forbidden=True,
        )
    if status not in t.from_statuses:
        raise TransitionRefused(f"cannot {action.value} a case that is {status}", forbidden=False)
    return t.to_status


class LoopInputRefused(ValueError):
    """What a user sent cannot move the case (422): no photo, a recheck date in the past."""


#: How far ahead an on-site recheck may be scheduled (a date a year out is a typo, not a plan).
RECHECK_MAX_AHEAD = timedelta(days=90)


def check_rectification(photo_keys: Collection[str]) -> None:
    """A rectification (整改) is evidence: at least one photo of the fixed kitchen."""
    if not photo_keys:
        raise LoopInputRefused("整改须至少上传一张照片 · a rectification needs at least one photo")


def check_recheck_at(recheck_at: datetime | None, *, now: datetime) -> datetime:
    """An on-site recheck (现场复核) is scheduled for a moment still to come, within ``RECHECK_MAX_AHEAD``."""
    if recheck_at is None:
        raise LoopInputRefused("须填写复核时间 · recheck_at is required")
    if recheck_at <= now:
        raise LoopInputRefused(f"复核时间须在将来 · recheck_at {recheck_at.isoformat()} is not in the future")
    if recheck_at > now + RECHECK_MAX_AHEAD:
        raise LoopInputRefused(
            f"复核时间过远 · recheck_at {recheck_at.isoformat()} is more than "
            f"{RECHECK_MAX_AHEAD.days} days ahead"
        )
    return recheck_at


def recheck_result(action: Action, *, status: str) -> str:
    """The recorded result of an on-site recheck: a review given in ``recheck`` passes or fails it."""
    if status != CaseStatus.RECHECK:
        return ""
    return {Action.APPROVE: "passed", Action.REJECT: "failed"}.get(action, "")


def card_due(
    *, status: str, deadline: datetime | None, card_level: int, now: datetime, red_after_h: float
) -> CardLevel | None:
    """The card a case should get now (yellow at the deadline, red ``red_after_h`` later), or None.

    One step at a time: a case first seen long overdue (a sweep that was down) gets its yellow card
    now and its red one at the next sweep, so the holders always hear before it goes over their heads.
    """
    if deadline is None or status not in AWAITING_SITE or now < deadline:
        return None
    if card_level < CardLevel.YELLOW:
        return CardLevel.YELLOW
    if card_level < CardLevel.RED and now >= deadline + timedelta(hours=red_after_h):
        return CardLevel.RED
    return None


@dataclass(frozen=True, slots=True)
class Ladder:
    """Who holds a case on the escalation ladder (黄牌/红牌, 逐级上报).

    ``unit``: the nearest unit at or above the site's that has supervisors (they hear the case and
    its yellow card); ``above``: the nearest staffed unit strictly above ``unit`` (the red card), or
    "" at the top of the tree; ``escalate_to``: the supervisors of ``above`` who did not already
    hold the case — never back to the same person.
    """

    unit: str
    supervisors: tuple[str, ...]
    above: str
    escalate_to: tuple[str, ...]


def escalation_ladder(ancestors: Sequence[str], staffed: Mapping[str, Collection[str]]) -> Ladder:
    """``ancestors``: the site's unit path and its ancestors, nearest first; ``staffed``: supervisor
    ids by unit path (one department)."""
    levels = [(path, tuple(sorted(staffed[path]))) for path in ancestors if staffed.get(path)]
    if not levels:
        return Ladder("", (), "", ())
    (unit, holders), rest = levels[0], levels[1:]
    for above, ids in rest:
        fresh = tuple(i for i in ids if i not in holders)
        if fresh:
            return Ladder(unit, holders, above, fresh)
    return Ladder(unit, holders, "", ())


def auto_close_due(
    *,
    risk_class: int,
    status: str,
    last_seen_at: datetime,
    updated_at: datetime,
    now: datetime,
    after_days: float,
) -> bool:
    """Class III (counted, no deadline) closes by itself once nothing has been seen for the tenant's
    period, unless the site has answered (a submitted rectification waits for its review).

    Quiet on both clocks: the captures' own time (``last_seen_at``) and the platform's (``updated_at``,
    moved by every merge). A backlog replayed after an outage carries old capture times; judged by
    those alone its case would close between two of its own repeats and open again as a second case.
    """
    quiet = timedelta(days=after_days)
    return (
        risk_class == RiskClass.III
        and status in AWAITING_SITE
        and now - last_seen_at >= quiet
        and now - updated_at >= quiet
    )


def verdict_for(action: Action) -> str:
    return {
        Action.CLOSE: Verdict.CONFIRMED,
        Action.FALSE_ALARM: Verdict.FALSE_ALARM,
        Action.AUTO_CLOSE: Verdict.AUTO_CLOSED,
    }.get(action, "")
