"""Detection metrics: AP@0.5 per class (all-point interpolation), precision/recall at the shipped
thresholds, and person-attribute accuracy on matched persons. Pure functions over plain lists."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Box:
    label: str
    box: tuple[float, float, float, float]
    score: float = 1.0
    attributes: dict[str, float] = field(default_factory=dict)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


def _match(preds: list[Box], gts: list[Box], iou: float) -> list[int]:
    """Greedy by score: index of the matched ground truth per prediction, -1 if none."""
    order = sorted(range(len(preds)), key=lambda i: -preds[i].score)
    ious = iou_matrix(
        np.array([preds[i].box for i in order]).reshape(-1, 4), np.array([g.box for g in gts]).reshape(-1, 4)
    )
    used: set[int] = set()
    out = [-1] * len(preds)
    for r, i in enumerate(order):
        if ious.shape[1] == 0:
            break
        cand = [j for j in np.argsort(-ious[r]) if ious[r, j] >= iou and j not in used]
        if cand:
            used.add(int(cand[0]))
            out[i] = int(cand[0])
    return out


def average_precision(tp: np.ndarray, scores: np.ndarray, n_gt: int) -> float:
    if n_gt == 0:
        return float("nan")
    if len(scores) == 0:
        return 0.0
    tp = tp[np.argsort(-scores, kind="stable")]
    ctp, cfp = np.cumsum(tp), np.cumsum(1 - tp)
    recall, precision = ctp / n_gt, ctp / np.maximum(ctp + cfp, 1e-9)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[1.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    return float(np.sum((mrec[1:] - mrec[:-1]) * mpre[1:]))


def evaluate(
    preds: list[list[Box]],
    gts: list[list[Box]],
    labels: list[str],
    attributes: list[str],
    thresholds: dict[str, float] | None = None,
    iou: float = 0.5,
) -> dict:
    thresholds = thresholds or {}
    per_class: dict[str, dict] = {}
    attr_hits = dict.fromkeys(attributes, 0)
    attr_total = dict.fromkeys(attributes, 0)
    for lab in labels:
        scores, tps, n_gt, tp_thr, fp_thr = [], [], 0, 0, 0
        thr = thresholds.get(lab, 0.3)
        for p_img, g_img in zip(preds, gts, strict=True):
            p = [b for b in p_img if b.label == lab]
            g = [b for b in g_img if b.label == lab]
            n_gt += len(g)
            m = _match(p, g, iou)
            for b, j in zip(p, m, strict=True):
                scores.append(b.score)
                tps.append(1.0 if j >= 0 else 0.0)
            pt = [b for b in p if b.score >= thr]  # operating point: what the service would report
            for b, j in zip(pt, _match(pt, g, iou), strict=True):
                tp_thr += j >= 0
                fp_thr += j < 0
                if j >= 0 and lab == "person":
                    for a in attributes:
                        if a in g[j].attributes and g[j].attributes[a] >= 0 and a in b.attributes:
                            attr_total[a] += 1
                            attr_hits[a] += int((b.attributes[a] >= 0.5) == (g[j].attributes[a] >= 0.5))
        ap = average_precision(np.array(tps), np.array(scores), n_gt)
        per_class[lab] = {
            "ap50": ap,
            "n_gt": n_gt,
            "threshold": thr,
            "precision": tp_thr / max(1, tp_thr + fp_thr),
            "recall": tp_thr / max(1, n_gt),
        }
    aps = [c["ap50"] for c in per_class.values() if not np.isnan(c["ap50"])]
    return {
        "map50": float(np.mean(aps)) if aps else float("nan"),
        "classes": per_class,
        "attribute_accuracy": {
            a: attr_hits[a] / attr_total[a] if attr_total[a] else float("nan") for a in attributes
        },
        "n_images": len(gts),
    }


def best_thresholds(
    preds: list[list[Box]], gts: list[list[Box]], labels: list[str], iou: float = 0.5
) -> dict[str, float]:
    """Per-class score threshold that maximises F1 on a held-out set: the shipped operating point."""
    out = {}
    for lab in labels:
        scores, tps, n_gt = [], [], 0
        for p_img, g_img in zip(preds, gts, strict=True):
            p = [b for b in p_img if b.label == lab]
            g = [b for b in g_img if b.label == lab]
            n_gt += len(g)
            for b, j in zip(p, _match(p, g, iou), strict=True):
                scores.append(b.score)
                tps.append(j >= 0)
        if not scores or n_gt == 0:
            out[lab] = 0.3
            continue
        order = np.argsort(-np.array(scores))
        s, tp = np.array(scores)[order], np.array(tps, float)[order]
        ctp = np.cumsum(tp)
        f1 = 2 * ctp / (np.arange(1, len(s) + 1) + n_gt)
        out[lab] = round(float(max(0.05, min(0.9, s[int(np.argmax(f1))]))), 3)
    return out


def format_table(report: dict) -> str:
    rows = [f"{'class':<18}{'AP@0.5':>8}{'P':>7}{'R':>7}{'thr':>7}{'n_gt':>7}"]
    for lab, c in report["classes"].items():
        rows.append(
            f"{lab:<18}{c['ap50']:>8.3f}{c['precision']:>7.3f}{c['recall']:>7.3f}{c['threshold']:>7.2f}"
            f"{c['n_gt']:>7d}"
        )
    rows.append(f"{'mAP@0.5':<18}{report['map50']:>8.3f}")
    rows += [f"attr {a:<13}{v:>8.3f}" for a, v in report["attribute_accuracy"].items()]
    return "\n".join(rows)


def write_report(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=float))
