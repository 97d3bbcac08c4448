"""Pure rules for a case's labels: which labels stand for a capture, and which cases can carry any."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bk_cases.cases.enums import Source
from bkcore.verdicts import CaptureLabels, labels_for_verdict, not_a_violation, parse_labels

LabelledBy = Literal["supervisor", "verdict", "none"]


@dataclass(frozen=True, slots=True)
class Effective:
    labels: CaptureLabels | None
    labelled_by: LabelledBy


def effective_labels(
    *, case_type: str, verdict: str, box: Sequence[float], saved: Mapping[str, Any] | None
) -> Effective:
    """A supervisor's corrections win; without them the verdict says what the capture means (None
    when it cannot: an open case, or a type no model class stands for)."""
    if saved is not None:
        return Effective(parse_labels(dict(saved)), "supervisor")
    meaning = labels_for_verdict(case_type, verdict, tuple(box))
    return Effective(meaning, "verdict" if meaning is not None else "none")


def not_violation_labels(*, case_type: str, box: Sequence[float]) -> CaptureLabels:
    """What "not a violation" means for this capture; with no model meaning, just the flag."""
    return not_a_violation(case_type, tuple(box)) or CaptureLabels(not_violation=True)


def labelling_problem(*, source: str, raw_snapshot_key: str) -> str | None:
    """Why a case cannot carry labels (None: it can). Only a detector's capture is a picture the
    model saw."""
    if source != Source.DETECTION.value:
        return f"only detection cases carry labels (this one comes from {source!r})"
    if not raw_snapshot_key:
        return "this case has no raw snapshot to label"
    return None
