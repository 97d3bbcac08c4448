"""Pure rules of recalls (no I/O): the supplier's credit code, and what one affected site is told."""

from __future__ import annotations

import pytest

from bk_ledger.common.findings import Severity
from bk_ledger.purchase import licence
from bk_ledger.recall import rules

pytestmark = pytest.mark.unit

VALID = "91350100M000100Y43"  # a published example of a 统一社会信用代码


@pytest.mark.parametrize(
    ("code", "why"),
    [
        (VALID, None),
        (VALID[:-1] + "4", "校验位"),  # the check character
        (VALID[:-1], "18 位"),  # too short
        ("9135010OM000100Y43", "非法字符"),  # a letter O where only the 31 characters may stand
        ("91AB0100M000100Y43", "行政区划码"),  # the region code is digits
    ],
)
def test_credit_codes(code: str, why: str | None) -> None:
    got = licence.problem(code)
    assert (got is None) if why is None else (why in str(got)), got


def test_codes_are_compared_without_spaces_or_case() -> None:
    assert licence.checked(f" {VALID[:9].lower()} {VALID[9:]} ") == VALID
    with pytest.raises(ValueError, match="校验位"):
        licence.checked(VALID[:-1] + "4")


def test_every_check_character_is_reachable_and_self_consistent() -> None:
    for serial in range(40):
        body = f"91330100MA{serial:07d}"
        assert licence.problem(body + licence.check_char(body)) is None


def test_a_site_is_told_what_to_pull_and_the_alarm_is_about_the_supplier() -> None:
    site = rules.site_report(
        {"site_id": "s1", "name": "湖滨第一小学食堂"},
        [{"id": "p1", "item": "豆腐", "batch_no": "T1", "quantity": 3, "unit": "箱",
          "purchase_date": "2026-09-01"}],
        [{"id": "d1", "dish": "麻婆豆腐", "meal_date": "2026-09-01", "meal": "lunch"}],
        [
            {"id": "x1", "dish": "麻婆豆腐", "meal_date": "2026-09-01", "meal": "lunch", "fridge": "F1",
             "weight_g": 150, "disposed_at": None},
            {"id": "x2", "dish": "麻婆豆腐", "meal_date": "2026-08-30", "meal": "lunch", "fridge": "F1",
             "weight_g": 150, "disposed_at": "2026-09-01T00:00:00Z"},
        ],
    )  # fmt: skip
    f = rules.site_finding(
        site=site,
        supplier_id="sup-1",
        recalled=rules.what("明湖豆制品厂", VALID, None),
        reason="抽检不合格",
        recall_id="r1",
    )
    assert (f.rule, f.severity, f.site_id, f.subject_id) == ("supplier_recall", Severity.ALARM, "s1", "sup-1")
    assert "麻婆豆腐" in f.message and "留样 retained samples: 1" in f.message  # the disposed one is gone
    assert f.details == {"recall_id": "r1", "purchases": "1", "dishes": "1", "samples": "2"}
    assert rules.alert_id("r1", "s1") != rules.alert_id("r2", "s1")  # each recall a fresh signal
    assert rules.totals([site]) == {"sites": 1, "purchases": 1, "dishes": 1, "samples": 2}
