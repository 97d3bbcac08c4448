"""Completeness rule: each expected ledger scores 0..1 for the day; the day's score is their mean."""

from __future__ import annotations

from bk_ledger.completeness.models import Completeness, DayCounts


def _ratio(done: int, expected: int) -> float:
    return 1.0 if expected == 0 else min(done / expected, 1.0)


def score(c: DayCounts, *, is_school: bool) -> Completeness:
    items = {
        "morning_check": _ratio(c.staff_checked, c.staff) if c.staff else float(c.staff_checked > 0),
        # Without dishes recorded we cannot know what was cooked: one sample is the least expected.
        "sample_retention": _ratio(c.dishes_sampled, c.dishes_served)
        if c.dishes_served
        else float(c.samples > 0),
        "disinfection": float(c.disinfections > 0),
        "pesticide_test": float(c.pesticide_tests > 0),
    }
    if is_school:  # schools: a leader accompanies every meal (陪餐)
        items["accompanying_meal"] = (
            _ratio(len(c.accompanied_meals & c.meals_served), len(c.meals_served))
            if c.meals_served
            else float(bool(c.accompanied_meals))
        )
    gaps = sorted(k for k, v in items.items() if v < 1.0)
    return Completeness(round(100 * sum(items.values()) / len(items), 1), items, gaps)
