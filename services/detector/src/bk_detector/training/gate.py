"""The promotion gate (上线闸门): whether a candidate model may replace the live one. Pure.

A candidate is published only if, against the model it would replace, it

- loses no more than ``max_map_loss`` mAP@0.5 on every frozen held-out set (synthetic v1, v2, real
  photos: what the model already knows must stay), and
- gains on the verdict set (the supervisors' held-out captures: what it was retrained for).

Anything the gate cannot judge (no held-out set, no verdict set, a set it could not score) refuses:
a model is never promoted on missing evidence. The table says why, set by set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

HELDOUT, VERDICTS = "heldout", "verdicts"


@dataclass(frozen=True, slots=True)
class GatePolicy:
    max_map_loss: float = 0.01  # mAP@0.5 a held-out set may lose
    min_verdict_gain: float = 0.0  # the verdict agreement must rise by more than this


@dataclass(frozen=True, slots=True)
class SetScore:
    """One set scored for the live model (old) and the candidate (new)."""

    name: str
    kind: str  # HELDOUT (metric mAP@0.5) or VERDICTS (metric agreement)
    images: int
    old: float
    new: float
    note: str = ""  # e.g. the set could not be read: then old/new are NaN

    @property
    def metric(self) -> str:
        return "mAP@0.5" if self.kind == HELDOUT else "agreement"


@dataclass(frozen=True, slots=True)
class Row:
    score: SetScore
    passed: bool
    why: str


@dataclass(frozen=True)
class GateDecision:
    rows: list[Row]
    reasons: list[str] = field(default_factory=list)  # why it is refused (empty: promoted)

    @property
    def passed(self) -> bool:
        return not self.reasons

    def as_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "reasons": self.reasons,
            "sets": [
                {
                    "name": r.score.name,
                    "kind": r.score.kind,
                    "metric": r.score.metric,
                    "images": r.score.images,
                    "old": r.score.old,
                    "new": r.score.new,
                    "passed": r.passed,
                    "why": r.why,
                }
                for r in self.rows
            ],
        }


def judge(scores: Sequence[SetScore], policy: GatePolicy = GatePolicy()) -> GateDecision:
    rows: list[Row] = []
    reasons: list[str] = []
    for s in scores:
        if math.isnan(s.old) or math.isnan(s.new) or s.images == 0:
            why = s.note or "nothing to score"
            rows.append(Row(s, False, f"cannot be judged: {why}"))
            reasons.append(f"{s.name}: cannot be judged ({why})")
            continue
        delta = s.new - s.old
        if s.kind == HELDOUT:
            ok = delta >= -policy.max_map_loss - 1e-12
            why = "kept" if ok else f"loses {-delta:.3f} mAP (limit {policy.max_map_loss:.3f})"
        else:
            ok = delta > policy.min_verdict_gain
            why = f"gains {delta:+.3f}" if ok else f"does not gain ({delta:+.3f})"
        rows.append(Row(s, ok, why))
        if not ok:
            reasons.append(f"{s.name}: {why}")
    if not any(s.kind == HELDOUT for s in scores):
        reasons.append("no frozen held-out set to judge what the model already knows")
    if not any(s.kind == VERDICTS for s in scores):
        reasons.append("no verdict set: nothing shows the candidate learnt from the supervisors")
    return GateDecision(rows, reasons)


def format_table(decision: GateDecision) -> str:
    """The table ``publish`` prints: old vs new per set, and the verdict."""
    lines = [f"{'set':<22}{'metric':<11}{'images':>7}{'old':>8}{'new':>8}{'delta':>8}  verdict"]
    for r in decision.rows:
        s = r.score
        delta = s.new - s.old
        lines.append(
            f"{s.name:<22}{s.metric:<11}{s.images:>7}{s.old:>8.3f}{s.new:>8.3f}{delta:>+8.3f}  "
            f"{'ok' if r.passed else 'REFUSED'}: {r.why}"
        )
    lines.append("promoted" if decision.passed else "refused: " + "; ".join(decision.reasons))
    return "\n".join(lines)
