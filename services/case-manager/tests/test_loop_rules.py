"""The loop's pure rules (#18.4): grading by severity and site, the escalation ladder, per-subject
keys, deadlines from dispatch, evidence and recheck checks, Class III auto-close. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bk_cases.cases.enums import Action, CardLevel, CaseStatus, RiskClass
from bk_cases.cases.rules import (
    Grade,
    GradingRule,
    LoopInputRefused,
    TransitionRefused,
    auto_close_due,
    card_due,
    check_recheck_at,
    check_rectification,
    check_transition,
    deadline_from_dispatch,
    escalation_ladder,
    grade,
    open_key,
    recheck_result,
    upgraded,
    verdict_for,
)
from bk_cases.directory.rules import ancestors
from bkcore.auth import Role

pytestmark = pytest.mark.unit
T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
HOURS = {"deadline_i_h": 2.0, "deadline_ii_h": 24.0}


def _grade(case_type: str, rules: tuple[GradingRule, ...] = (), **kw: str) -> Grade:
    return grade(case_type, rules=rules, **HOURS, **kw)


# --- grading ------------------------------------------------------------------------------------


def test_ledger_alerts_are_graded_by_their_own_severity() -> None:
    assert _grade("sensor_silent", severity="alarm") == Grade(RiskClass.II, 24.0)
    assert _grade("health_cert_expiry", severity="warning") == Grade(RiskClass.III, None)
    assert _grade("some_new_rule", severity="") == Grade(RiskClass.II, 24.0)  # the fallback


def test_a_failed_pesticide_test_in_a_school_is_class_i_elsewhere_by_severity() -> None:
    for kind in ("school_canteen", "kindergarten", "off_campus_care", "university_canteen"):
        assert _grade("pesticide_test_failed", severity="alarm", site_kind=kind) == Grade(RiskClass.I, 2.0)
    assert (
        _grade("pesticide_test_failed", severity="alarm", site_kind="restaurant").risk_class == RiskClass.II
    )


def test_ai_types_keep_their_default_grades() -> None:
    assert _grade("rodent").risk_class == RiskClass.I
    assert _grade("no_mask", site_kind="school_canteen") == Grade(RiskClass.III, None)


def test_a_tenants_rules_replace_the_defaults_of_a_type_most_specific_first() -> None:
    rules = (
        GradingRule("pesticide_test_failed", RiskClass.II, deadline_h=8),
        GradingRule("pesticide_test_failed", RiskClass.I, deadline_h=1, site_scope="kindergarten"),
        GradingRule("sensor_silent", RiskClass.III, severity="warning"),
        GradingRule("sensor_silent", RiskClass.I, severity="alarm", site_scope="education"),
    )
    # The tenant's type-wide rule replaces the default "school → I" rule ...
    assert _grade("pesticide_test_failed", rules, severity="alarm", site_kind="school_canteen") == Grade(
        RiskClass.II, 8
    )
    # ... and its own narrower rule wins where it matches.
    assert _grade("pesticide_test_failed", rules, severity="alarm", site_kind="kindergarten") == Grade(
        RiskClass.I, 1
    )
    assert _grade("sensor_silent", rules, severity="alarm", site_kind="school_canteen").risk_class == 1
    assert _grade("sensor_silent", rules, severity="warning", site_kind="restaurant") == Grade(
        RiskClass.III, None
    )
    # No rule of the tenant's matches (an alarm at a restaurant): graded by the ledger's severity.
    assert _grade("sensor_silent", rules, severity="alarm", site_kind="restaurant").risk_class == 2


def test_class_iii_never_gets_a_deadline_even_if_a_rule_names_hours() -> None:
    rules = (GradingRule("no_mask", RiskClass.III, deadline_h=5),)
    assert _grade("no_mask", rules) == Grade(RiskClass.III, None)


def test_a_more_severe_repeat_upgrades_the_case() -> None:
    assert upgraded(3, RiskClass.II) and upgraded(2, RiskClass.I)
    assert not upgraded(2, RiskClass.II) and not upgraded(1, RiskClass.III)


# --- deadlines and cards ----------------------------------------------------------------------------


def test_the_deadline_runs_from_dispatch() -> None:
    assert deadline_from_dispatch(24.0, T0) == T0 + timedelta(hours=24)
    assert deadline_from_dispatch(None, T0) is None


def test_no_card_without_a_deadline_and_cards_in_order() -> None:
    kw = {"red_after_h": 24.0}
    assert card_due(status="new", deadline=None, card_level=0, now=T0 + timedelta(days=9), **kw) is None
    d = T0 + timedelta(hours=24)
    assert card_due(status="dispatched", deadline=d, card_level=0, now=d, **kw) == CardLevel.YELLOW
    assert card_due(status="dispatched", deadline=d, card_level=1, now=d, **kw) is None
    late = d + timedelta(hours=24)
    assert card_due(status="rectifying", deadline=d, card_level=1, now=late, **kw) == CardLevel.RED
    assert card_due(status="submitted", deadline=d, card_level=1, now=late, **kw) is None
    # Long overdue and never carded: yellow first, red at the next sweep.
    assert card_due(status="dispatched", deadline=d, card_level=0, now=late, **kw) == CardLevel.YELLOW
    assert card_due(status="dispatched", deadline=d, card_level=2, now=late, **kw) is None


# --- the escalation ladder ------------------------------------------------------------------------

DEMO = {  # the shipped demo's market supervisors by unit
    "/minghu": ["minghu:city"],
    "/minghu/lakeside": ["minghu:lakeside"],
    "/minghu/lakeside/north": ["minghu:north"],
    "/minghu/hillview": ["minghu:hillview"],
}


def test_township_holds_and_the_district_gets_the_red_card() -> None:
    ladder = escalation_ladder(ancestors("/minghu/lakeside/north"), DEMO)
    assert (ladder.unit, ladder.supervisors) == ("/minghu/lakeside/north", ("minghu:north",))
    assert (ladder.above, ladder.escalate_to) == ("/minghu/lakeside", ("minghu:lakeside",))


def test_an_unstaffed_level_is_skipped_both_ways() -> None:
    staffed = {"/minghu": ["city"], "/minghu/lakeside": ["lakeside"]}  # nobody at the township
    ladder = escalation_ladder(ancestors("/minghu/lakeside/north"), staffed)
    assert (ladder.unit, ladder.supervisors, ladder.above, ladder.escalate_to) == (
        "/minghu/lakeside",
        ("lakeside",),
        "/minghu",
        ("city",),
    )
    # A district with nobody: the city holds, and there is nobody above — not the city again.
    ladder = escalation_ladder(ancestors("/minghu/hillview"), {"/minghu": ["city"]})
    assert ladder.supervisors == ("city",) and ladder.above == "" and ladder.escalate_to == ()


def test_never_back_to_the_same_person() -> None:
    # One person listed at two levels (a data error, or an acting post): the red card skips them.
    staffed = {"/a/b": ["x"], "/a": ["x"], "/": []}
    ladder = escalation_ladder(ancestors("/a/b"), staffed)
    assert ladder.escalate_to == () and ladder.above == ""
    staffed = {"/a/b": ["x"], "/a": ["x", "y"]}
    assert escalation_ladder(ancestors("/a/b"), staffed).escalate_to == ("y",)


def test_nobody_anywhere() -> None:
    ladder = escalation_ladder(ancestors("/a/b"), {})
    assert ladder.unit == "" and ladder.supervisors == () and ladder.escalate_to == ()


# --- aggregation by subject -----------------------------------------------------------------------


def test_open_keys_are_per_subject_where_one_exists() -> None:
    a = open_key("minghu", "s1", "sensor_silent", "fridge-1")
    b = open_key("minghu", "s1", "sensor_silent", "fridge-2")
    assert a != b and a.startswith("minghu|s1|sensor_silent|")
    assert open_key("minghu", "s1", "no_mask") == "minghu|s1|no_mask"  # AI captures: per site
    long = open_key("t" * 64, "s" * 64, "c" * 64, "r" * 128)
    assert len(long) <= 300 and long != open_key("t" * 64, "s" * 64, "c" * 64, "r" * 127 + "x")


# --- transitions, evidence, recheck ---------------------------------------------------------------


def test_the_education_department_reads_and_never_transitions() -> None:
    for action in (Action.DISPATCH, Action.APPROVE, Action.CLOSE, Action.FALSE_ALARM):
        with pytest.raises(TransitionRefused) as refused:
            check_transition(action, status="submitted", role=Role.SUPERVISOR, department="education")
        assert refused.value.forbidden
    assert check_transition(Action.DISPATCH, status="new", role=Role.SUPERVISOR) == CaseStatus.DISPATCHED


def test_a_rectification_needs_a_photo() -> None:
    with pytest.raises(LoopInputRefused, match="photo"):
        check_rectification([])
    check_rectification(["minghu/rectifications/c/1.jpg"])


def test_a_recheck_is_scheduled_ahead_and_records_its_result() -> None:
    for bad in (None, T0, T0 - timedelta(minutes=1), T0 + timedelta(days=91)):
        with pytest.raises(LoopInputRefused):
            check_recheck_at(bad, now=T0)
    assert check_recheck_at(T0 + timedelta(days=1), now=T0) == T0 + timedelta(days=1)
    assert recheck_result(Action.APPROVE, status="recheck") == "passed"
    assert recheck_result(Action.REJECT, status="recheck") == "failed"
    assert recheck_result(Action.APPROVE, status="submitted") == ""  # no recheck was held


# --- Class III auto-close -------------------------------------------------------------------------


def test_class_iii_closes_after_the_tenants_quiet_period_unless_answered() -> None:
    kw = {"last_seen_at": T0, "updated_at": T0, "after_days": 7.0}
    assert auto_close_due(risk_class=3, status="new", now=T0 + timedelta(days=7), **kw)
    assert not auto_close_due(risk_class=3, status="new", now=T0 + timedelta(days=6.9), **kw)
    assert not auto_close_due(risk_class=2, status="new", now=T0 + timedelta(days=30), **kw)
    assert not auto_close_due(risk_class=3, status="submitted", now=T0 + timedelta(days=30), **kw)
    assert verdict_for(Action.AUTO_CLOSE) == "auto_closed"


def test_a_replayed_backlog_is_not_quiet() -> None:
    """Captures from September merged into their case today (a backlog after an outage): old capture
    times, fresh activity. Closing it would split one case into two between its own repeats."""
    now = T0 + timedelta(days=90)
    replayed = {"last_seen_at": T0, "updated_at": now - timedelta(minutes=1), "after_days": 7.0}
    assert not auto_close_due(risk_class=3, status="new", now=now, **replayed)
    assert auto_close_due(risk_class=3, status="new", now=now + timedelta(days=7), **replayed)
