"""Pure rules of the loop: grading, deadlines, aggregation, transitions, overdue cards. No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bk_cases.cases.enums import OPEN_STATUSES, Action, CardLevel, CaseStatus, RiskClass, Verdict
from bkcore.auth import Role

#: Default grading (DOMAIN.md); a tenant's ``RiskRule`` rows override single types.
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


@dataclass(frozen=True, slots=True)
class Grade:
    risk_class: RiskClass
    deadline_h: float | None  # None: no deadline (Class III)


def grade(
    case_type: str, *, overrides: Mapping[str, Grade], deadline_i_h: float, deadline_ii_h: float
) -> Grade:
    """The risk class and rectification time of a case type under a tenant's rules."""
    if case_type in overrides:
        return overrides[case_type]
    cls = DEFAULT_GRADES.get(case_type, FALLBACK_GRADE)
    return Grade(cls, {RiskClass.I: deadline_i_h, RiskClass.II: deadline_ii_h}.get(cls))


def deadline_for(g: Grade, opened_at: datetime) -> datetime | None:
    return opened_at + timedelta(hours=g.deadline_h) if g.deadline_h is not None else None


def open_key(tenant_id: str, site_id: str, case_type: str) -> str:
    """Identity of "the open case of this type at this site" (unique while a case aggregates)."""
    return f"{tenant_id}|{site_id}|{case_type}"


def joins_open_case(*, status: str, last_seen_at: datetime, seen_at: datetime, window_s: int) -> bool:
    """A repeat joins the case while the site still owes work on it and it is inside the window.

    Once rectification is submitted a repeat means the fix did not hold: that is a new case.
    Events reordered across keys can arrive with ``seen_at`` before ``last_seen_at``: still a join.
    """
    return status in AWAITING_SITE and seen_at - last_seen_at <= timedelta(seconds=window_s)


#: Site kinds whose cases are copied (抄告) to the education bureau.
EDUCATION_KINDS = frozenset({"school_canteen", "kindergarten", "off_campus_care", "university_canteen"})


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


def check_transition(action: Action, *, status: str, role: Role) -> CaseStatus:
    """The status after ``action``, or TransitionRefused."""
    t = TRANSITIONS.get(action)
    if t is None:
        raise TransitionRefused(f"{action} is not a user action", forbidden=True)
    if role not in t.roles:
        raise TransitionRefused(f"role {role.value} may not {action.value}", forbidden=True)
    if status not in t.from_statuses:
        raise TransitionRefused(f"cannot {action.value} a case that is {status}", forbidden=False)
    return t.to_status


def card_due(
    *, status: str, deadline: datetime | None, card_level: int, now: datetime, red_after_h: float
) -> CardLevel | None:
    """The card a case should get now (yellow at the deadline, red ``red_after_h`` later), or None."""
    if deadline is None or status not in AWAITING_SITE or now < deadline:
        return None
    due = CardLevel.RED if now >= deadline + timedelta(hours=red_after_h) else CardLevel.YELLOW
    return due if due > card_level else None


def verdict_for(action: Action) -> str:
    return {Action.CLOSE: Verdict.CONFIRMED, Action.FALSE_ALARM: Verdict.FALSE_ALARM}.get(action, "")
