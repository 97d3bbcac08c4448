"""The pure rules of every public figure (bk_cases.stats.rules): plain data in, plain data out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bk_cases.stats import rules
from bk_cases.stats.rules import CaseFact, LedgerDay, Ratings, RulesError, ScoringRules, SiteInputs

pytestmark = pytest.mark.unit

T0 = datetime(2026, 9, 1, 4, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT = ScoringRules()


def fact(
    site: str = "s1",
    *,
    source: str = "detection",
    risk: int = 3,
    at: datetime = T0,
    close_h: float | None = None,
    verdict: str = "",
    overdue: bool = False,
    org: str = "/minghu/lakeside/north",
) -> CaseFact:
    return CaseFact(
        site_id=site,
        org_path=org,
        case_type="no_chef_hat",
        source=source,
        risk_class=risk,
        created_at=at,
        closed_at=at + timedelta(hours=close_h) if close_h is not None else None,
        verdict=verdict,
        card_level=1 if overdue else 0,
        overdue=overdue,
    )


def days(site: str, n: int, score: float = 100.0) -> list[LedgerDay]:
    return [
        LedgerDay(site, "/minghu", f"2026-08-{i + 1:02d}", score, {"morning_check": score / 100})
        for i in range(n)
    ]


def score(facts=(), ledger=(), ratings=Ratings(), site="s1", scoring=DEFAULT) -> rules.SiteScore:
    return rules.risk_score(SiteInputs(site, "/minghu", list(facts), list(ledger), ratings), scoring)


# --- figures ---------------------------------------------------------------------------------------


def test_figures_count_captured_handled_and_time_to_close():
    fs = [fact(close_h=2), fact(close_h=4), fact(close_h=None), fact(close_h=6, verdict="false_alarm")]
    f = rules.figures("all", fs)
    assert (f.captured, f.handled, f.closure_rate, f.false_alarms) == (4, 3, 0.75, 1)
    assert (f.mean_close_h, f.median_close_h, f.p95_close_h) == (4.0, 4.0, 5.8)
    empty = rules.figures("none", [])
    assert (empty.closure_rate, empty.mean_close_h, empty.median_close_h) == (0.0, None, None)


def test_periods_are_the_tenants_calendar():
    late = datetime(2026, 8, 31, 23, 30, tzinfo=UTC)  # 07:30 on 1 September in Shanghai
    assert rules.period_key(late, "day", SHANGHAI) == "2026-09-01"
    assert rules.period_key(late, "day", ZoneInfo("UTC")) == "2026-08-31"
    assert rules.period_key(late, "month", SHANGHAI) == "2026-09"
    assert rules.period_key(late, "quarter", SHANGHAI) == "2026-Q3"
    assert rules.period_key(late, "week", SHANGHAI) == "2026-W36"
    assert rules.period_key(late, "year", SHANGHAI) == "2026"
    by_day = rules.group([fact(at=late), fact(at=late - timedelta(hours=1))], rules.grouping("day", SHANGHAI))
    assert [(g.key, g.captured) for g in by_day] == [("2026-09-01", 2)]


def test_grouping_by_org_unit_levels():
    fs = [fact(org="/minghu/lakeside/north"), fact(org="/minghu/lakeside"), fact(org="/minghu/hillview")]
    assert [(g.key, g.captured) for g in rules.group(fs, rules.grouping("district", SHANGHAI))] == [
        ("/minghu/hillview", 1),
        ("/minghu/lakeside", 2),
    ]
    assert [g.key for g in rules.group(fs, rules.grouping("org_unit", SHANGHAI))] == [
        "/minghu/hillview",
        "/minghu/lakeside",
        "/minghu/lakeside/north",
    ]
    with pytest.raises(RulesError) as err:
        rules.grouping("weekday", SHANGHAI)
    assert err.value.field == "group_by"


def test_ledger_completeness_figures():
    ds = [
        LedgerDay("a", "/m/x", "2026-09-01", 100.0, {"morning_check": 1.0, "sample_retention": 1.0}),
        LedgerDay("a", "/m/x", "2026-09-02", 50.0, {"morning_check": 1.0, "sample_retention": 0.0}),
        LedgerDay("b", "/m/y", "2026-09-01", 75.0, {"morning_check": 0.5}),
    ]
    (all_,) = rules.group_completeness(ds, rules.ledger_grouping("none"))
    assert (all_.days, all_.complete_days, all_.mean, all_.completeness_rate) == (3, 1, 75.0, 0.3333)
    assert all_.items == {"morning_check": 0.833, "sample_retention": 0.5}
    assert [g.key for g in rules.group_completeness(ds, rules.ledger_grouping("site"))] == ["a", "b"]


# --- the score -------------------------------------------------------------------------------------


def test_clean_site_scores_100_and_is_low_risk_inspected_yearly():
    s = score()
    assert (s.score, s.grade, s.inspection_frequency, s.findings) == (100.0, "low", "yearly", 0)
    assert s.ledger_completeness is None and s.mean_close_h is None


def test_each_component_takes_its_weight():
    s = score(
        facts=[
            fact(risk=1, close_h=1),  # 10
            fact(risk=2, close_h=1),  # 4
            fact(risk=3, close_h=1, verdict="false_alarm"),  # nothing: a false alarm is no fact
            fact(source="complaint", close_h=1),  # 3
            fact(source="ledger", close_h=1, overdue=True),  # 3 + 5 overdue
        ],
        ledger=days("s1", 10, 80.0),  # 20 * 20 % = 4
    )
    assert s.deductions == {
        "violations": 14.0,
        "complaints": 3.0,
        "ledger_findings": 3.0,
        "overdue": 5.0,
        "slow_rectification": 0.0,
        "ledger_completeness": 4.0,
        "ratings": 0.0,
    }
    assert s.score == 71.0 and (s.violations, s.complaints, s.ledger_findings, s.overdue) == (2, 1, 1, 1)
    assert s.grade == "medium" and s.inspection_frequency == "quarterly" and s.has_class_i


def test_slow_rectification_costs_up_to_its_cap():
    assert score([fact(close_h=48)]).deductions["slow_rectification"] == 2.0
    assert score([fact(close_h=24 * 30)]).deductions["slow_rectification"] == 10.0
    assert score([fact(close_h=23)]).deductions["slow_rectification"] == 0.0


def test_ratings_move_the_score_only_with_enough_votes():
    assert score(ratings=Ratings(2, 0, 0)).deductions["ratings"] == 0.0  # below min_ratings
    happy = score([fact(risk=1)], ratings=Ratings(3, 1, 0))
    assert happy.deductions["ratings"] == -3.75 and happy.score == 93.8
    angry = score(ratings=Ratings(0, 0, 4))
    assert angry.deductions["ratings"] == 5.0 and angry.score == 95.0


def test_score_is_clamped_and_grades_follow_tenant_thresholds():
    worst = score([fact(risk=1, overdue=True) for _ in range(10)])
    assert worst.score == 0.0 and worst.grade == "high" and worst.inspection_frequency == "monthly"
    strict = ScoringRules.from_mapping({"grade_low_min": 99, "class_iii": 1})
    s = score([fact(risk=3)], scoring=strict)
    assert s.score == 99.0 and s.grade == "low"
    assert score([fact(risk=3), fact(risk=3)], scoring=strict).grade == "medium"


def test_tenant_rules_are_validated_with_the_key_named():
    assert ScoringRules.from_mapping({"class_i": 15, "list_size": 3}).class_i == 15.0
    for bad, key in (
        ({"class_one": 1}, "class_one"),
        ({"class_i": "ten"}, "class_i"),
        ({"class_i": -1}, "class_i"),
        ({"list_size": 2.5}, "list_size"),
        ({"list_size": 0}, "list_size"),
        ({"black_max_score": 95}, "black_max_score"),
        ({"grade_medium_min": 90}, "grade_medium_min"),
        ({"window_days": 400}, "window_days"),
        ({"ratings": True}, "ratings"),
    ):
        with pytest.raises(RulesError) as err:
            ScoringRules.from_mapping(bad)
        assert err.value.field == key, bad
    assert ScoringRules().digest() == ScoringRules.from_mapping({}).digest()
    assert ScoringRules().digest() != ScoringRules.from_mapping({"class_i": 11}).digest()


# --- the lists ---------------------------------------------------------------------------------------


def test_worst_site_is_black_never_red_even_when_lists_are_longer_than_the_city():
    """The bug this replaces: with 4 sites and 10 places, the top 10 included the worst site."""
    scores = [
        score(site="best", ledger=days("best", 10)),
        score([fact("ok", risk=3)], site="ok", ledger=days("ok", 10)),
        score([fact("bad", risk=1, overdue=True) for _ in range(5)], site="bad"),
        score([fact("worse", risk=1, overdue=True) for _ in range(8)], site="worse"),
    ]
    places = {p.site_id: p for p in rules.red_black_list(scores, DEFAULT)}
    assert (places["best"].list, places["best"].rank) == ("red", 1)
    assert (places["ok"].list, places["ok"].rank) == ("red", 2)
    assert (places["worse"].list, places["worse"].rank) == ("black", 1)
    assert (places["bad"].list, places["bad"].rank) == ("black", 2)


def test_red_needs_evidence_and_a_clean_record():
    no_ledger = score(site="a")
    short = score(site="b", ledger=days("b", 3))
    incomplete = score(site="c", ledger=days("c", 10, 85.0))
    class_i = score([fact("d", risk=1, close_h=1)], site="d", ledger=days("d", 10))
    overdue = score([fact("e", overdue=True, close_h=1)], site="e", ledger=days("e", 10))
    for s in (no_ledger, short, incomplete, class_i, overdue):
        assert rules.red_eligible(s, DEFAULT) is not None, s.site_id
    places = rules.red_black_list([no_ledger, short, incomplete, class_i, overdue], DEFAULT)
    assert all(p.list == "" and p.reason for p in places)


def test_black_needs_confirmed_findings_not_missing_data():
    empty_ledgers = score(site="quiet", ledger=days("quiet", 10, 0.0))  # 80: ledger gap alone
    strict = ScoringRules.from_mapping({"ledger_completeness": 50})  # 50 points at 0 %
    quiet = score(site="quiet", ledger=days("quiet", 10, 0.0), scoring=strict)
    assert quiet.score == 50.0 and quiet.findings == 0
    assert rules.black_eligible(quiet, strict) is not None
    assert rules.red_black_list([quiet, empty_ledgers], strict)[0].list == ""
    false_alarms = score([fact(risk=1, verdict="false_alarm") for _ in range(20)])
    assert false_alarms.score == 100.0


def test_list_size_and_ties():
    same = [score([fact(f"s{i}", risk=1, overdue=True) for _ in range(5)], site=f"s{i}") for i in range(4)]
    small = ScoringRules.from_mapping({"list_size": 2})
    places = rules.red_black_list(same, small)
    assert [(p.site_id, p.list, p.rank) for p in places] == [
        ("s0", "black", 1),
        ("s1", "black", 2),
        ("s2", "", 0),
        ("s3", "", 0),
    ]
    assert "full" in places[2].reason


def test_local_month_bounds_and_window():
    start, end = rules.local_month_bounds("2026-12", SHANGHAI)
    assert start.astimezone(UTC) == datetime(2026, 11, 30, 16, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2026, 12, 31, 16, tzinfo=UTC)
    assert rules.window(T0, DEFAULT) == (T0 - timedelta(days=30), T0)
