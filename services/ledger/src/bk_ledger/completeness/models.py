"""Completeness is computed from the ledgers on request; these are its plain data shapes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DayCounts:
    staff: int  # active staff on the roster
    staff_checked: int  # of them (or anyone, with no roster) checked that day
    meals_served: frozenset[str]  # meals with dishes recorded
    dishes_served: int
    dishes_sampled: int  # dishes served that have a retained sample
    samples: int
    disinfections: int
    pesticide_tests: int
    accompanied_meals: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Completeness:
    score: float  # 0–100
    items: dict[str, float]  # ledger → 0..1
    gaps: list[str]
