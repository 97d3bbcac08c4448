"""How far a model agrees with the supervisors' verdicts: one score per labelled item. Pure.

A verdict set labels only parts of each capture, so mAP cannot judge it. Each labelled item is
scored instead, in 0..1 and at the model's thresholds:

- an object that is there: the score of the model's best box of that class over it (IoU >= 0.5);
- one of its attributes: the probability the model gives the judged value (worn or not);
- an object somewhere in a region: the best score of that class with its centre in the region;
- a class absent from a region: 1 minus the best score of that class with its centre in it.

``agreement`` is their mean: it moves with every score, so a candidate that learnt a little shows
it. ``accuracy`` is the share of items the model gets right at its thresholds (what an alarm sees).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bk_detector.training.evaluate import Box, iou_matrix
from bkcore.verdicts import CaptureLabels

WORN_BELOW = 0.5  # the rules' cut between worn and not worn


@dataclass(frozen=True, slots=True)
class ItemScore:
    kind: str  # object | attribute | somewhere | absent
    label: str  # the class (or "person.<attribute>")
    score: float  # agreement, 0..1
    right: bool  # right at the model's thresholds


def _inside(box: tuple[float, ...], region: tuple[float, ...]) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return region[0] <= cx <= region[2] and region[1] <= cy <= region[3]


def score_capture(
    preds: Sequence[Box], labels: CaptureLabels, thresholds: Mapping[str, float], iou: float = 0.5
) -> list[ItemScore]:
    """Every labelled item of one capture against the model's boxes of it (any score)."""
    out: list[ItemScore] = []
    for obj in labels.objects:
        same = [p for p in preds if p.label == obj.label]
        thr = thresholds.get(obj.label, 0.3)
        if not obj.located:
            best = max((p.score for p in same if _inside(p.box, obj.box)), default=0.0)
            out.append(ItemScore("somewhere", obj.label, best, best >= thr))
            continue
        ious = iou_matrix(np.array([obj.box]), np.array([p.box for p in same]).reshape(-1, 4))[0]
        hits = [p for p, v in zip(same, ious, strict=True) if v >= iou]
        best = max(hits, key=lambda p: p.score, default=None)
        out.append(
            ItemScore(
                "object", obj.label, best.score if best else 0.0, best is not None and best.score >= thr
            )
        )
        for name, worn in obj.attributes.items():
            p_worn = best.attributes.get(name) if best is not None else None
            if p_worn is None:  # the person was not found: nothing said about what they wear
                out.append(ItemScore("attribute", f"{obj.label}.{name}", 0.0, False))
                continue
            agree = p_worn if worn else 1.0 - p_worn
            right = bool(best.score >= thr and (p_worn >= WORN_BELOW) == bool(worn))  # type: ignore[union-attr]
            out.append(ItemScore("attribute", f"{obj.label}.{name}", float(agree), right))
    for region in labels.absent:
        thr = thresholds.get(region.label, 0.3)
        worst = max(
            (p.score for p in preds if p.label == region.label and _inside(p.box, region.box)), default=0.0
        )
        out.append(ItemScore("absent", region.label, 1.0 - worst, worst < thr))
    return out


def summarise(items: Sequence[ItemScore]) -> dict[str, object]:
    """agreement (mean score), accuracy (share right at the thresholds), counts by kind."""
    if not items:
        return {"agreement": float("nan"), "accuracy": float("nan"), "items": 0, "by_kind": {}}
    by_kind: dict[str, dict[str, float]] = {}
    for kind in sorted({i.kind for i in items}):
        mine = [i for i in items if i.kind == kind]
        by_kind[kind] = {
            "items": len(mine),
            "agreement": float(np.mean([i.score for i in mine])),
            "accuracy": float(np.mean([i.right for i in mine])),
        }
    return {
        "agreement": float(np.mean([i.score for i in items])),
        "accuracy": float(np.mean([i.right for i in items])),
        "items": len(items),
        "by_kind": by_kind,
    }
