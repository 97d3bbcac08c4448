"""Decode a bring-your-own model's raw output into the platform's detections: pure numpy, no I/O.

Three layouts (``labelmap.LAYOUTS``) become one list of candidates (box in input pixels, class,
score, attribute outputs), then: per-class thresholds, NMS per concept (two classes the map gives one
concept are one object), the box mapped back through the letterbox to the frame, and attribute
classes (a ``chef_hat`` or ``no_chef_hat`` box) attached to the person box they overlap most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bk_detector.detections import Box, Detection, clamp_box, intersection
from bk_detector.model.labelmap import ABSENT, ATTRIBUTE_CONCEPTS, LabelMap

#: An attribute box joins a person only when at least this share of it lies in the person's box:
#: a hat whose wearer was not detected must not be pinned on the neighbour it grazes.
ATTACH_MIN = 0.2
PRE_NMS_TOP = 3000  # candidates kept (by score) before NMS: a noisy frame costs bounded time


@dataclass(frozen=True, slots=True)
class Geometry:
    """How one frame was fitted into the model's input: input px = frame px * scale + pad."""

    width: int
    height: int
    scale_x: float
    scale_y: float
    pad_x: int
    pad_y: int

    @property
    def resized(self) -> tuple[int, int]:
        return round(self.width * self.scale_x), round(self.height * self.scale_y)


def fit(width: int, height: int, lm: LabelMap) -> Geometry:
    """The letterbox (aspect kept, centred, the rest padded) or plain stretch of a frame."""
    if lm.resize == "stretch":
        return Geometry(width, height, lm.input_width / width, lm.input_height / height, 0, 0)
    r = min(lm.input_width / width, lm.input_height / height)
    new_w, new_h = max(1, round(width * r)), max(1, round(height * r))
    # the scale actually applied (rounded sides), so boxes map back onto the frame exactly
    return Geometry(
        width,
        height,
        new_w / width,
        new_h / height,
        (lm.input_width - new_w) // 2,
        (lm.input_height - new_h) // 2,
    )


@dataclass(frozen=True, slots=True)
class Candidates:
    """One frame's raw candidates: xyxy in input px (M, 4), class (M,), score (M,), attributes (M, A)."""

    boxes: np.ndarray
    classes: np.ndarray
    scores: np.ndarray
    attributes: np.ndarray | None = None


def _xywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    cx, cy, w, h = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)


def _pick(boxes: np.ndarray, scores: np.ndarray, thresholds: np.ndarray) -> Candidates:
    """Every (anchor, class) pair over its class's threshold: one anchor may be two things (a
    person and, on the same box, a no_chef_hat), as ultralytics' multi-label decoding allows."""
    anchor, cls = np.nonzero(scores >= thresholds[None, :])
    picked = scores[anchor, cls]
    if len(picked) > PRE_NMS_TOP:
        top = np.argpartition(-picked, PRE_NMS_TOP)[:PRE_NMS_TOP]
        anchor, cls, picked = anchor[top], cls[top], picked[top]
    return Candidates(_xywh_to_xyxy(boxes[anchor].astype(np.float32)), cls, picked.astype(np.float32))


def thresholds(lm: LabelMap) -> np.ndarray:
    """Per model class: its score threshold, infinite for a class the map ignores."""
    return np.array([c.threshold if c.concept is not None else np.inf for c in lm.classes], np.float32)


def yolov8(out: np.ndarray, lm: LabelMap) -> Candidates:
    """One frame of ``[4+nc, N]``: cx, cy, w, h, then per-class scores (no objectness)."""
    return _pick(out[:4].T, out[4:].T, thresholds(lm))


def yolov5(out: np.ndarray, lm: LabelMap) -> Candidates:
    """One frame of ``[N, 5+nc]``: cx, cy, w, h, objectness, per-class scores (score = obj * cls)."""
    return _pick(out[:, :4], out[:, 4:5] * out[:, 5:], thresholds(lm))


def kitchennet(
    scores: np.ndarray, labels: np.ndarray, boxes: np.ndarray, attributes: np.ndarray, lm: LabelMap
) -> Candidates:
    """One frame of our own export: K slots of score, class, normalised xyxy box, attribute
    probabilities (already peak-suppressed on the device)."""
    labels = labels.astype(np.int64)
    valid = (labels >= 0) & (labels < len(lm.classes))
    thr = thresholds(lm)
    keep = valid & (scores >= thr[np.clip(labels, 0, len(thr) - 1)])
    scale = np.array([lm.input_width, lm.input_height] * 2, np.float32)
    return Candidates(
        boxes[keep].astype(np.float32) * scale,
        labels[keep],
        scores[keep].astype(np.float32),
        attributes[keep].astype(np.float32),
    )


def nms(boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, iou: float, limit: int) -> np.ndarray:
    """Indices kept by greedy NMS within each group, best first, at most ``limit``. Boxes of
    different groups never suppress each other (offset trick: each group in its own far square)."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    offset = groups[:, None].astype(np.float32) * (float(boxes.max()) + 1.0)
    b = boxes + offset
    areas = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    while len(order) and len(kept) < limit:
        i, rest = order[0], order[1:]
        kept.append(int(i))
        w = np.clip(np.minimum(b[i, 2], b[rest, 2]) - np.maximum(b[i, 0], b[rest, 0]), 0, None)
        h = np.clip(np.minimum(b[i, 3], b[rest, 3]) - np.maximum(b[i, 1], b[rest, 1]), 0, None)
        inter = w * h
        union = areas[i] + areas[rest] - inter
        order = rest[inter <= iou * np.maximum(union, 1e-9)]
    return np.array(kept, np.int64)


def _to_frame(box: np.ndarray, g: Geometry) -> Box:
    """Input-pixel xyxy -> the frame's normalised xyxy, undoing the letterbox."""
    x1 = (float(box[0]) - g.pad_x) / g.scale_x / g.width
    y1 = (float(box[1]) - g.pad_y) / g.scale_y / g.height
    x2 = (float(box[2]) - g.pad_x) / g.scale_x / g.width
    y2 = (float(box[3]) - g.pad_y) / g.scale_y / g.height
    return clamp_box((round(x1, 5), round(y1, 5), round(x2, 5), round(y2, 5)))


def detections(c: Candidates, lm: LabelMap, g: Geometry, *, suppress: bool = True) -> list[Detection]:
    """Candidates -> the platform's detections in the frame: objects by concept, attribute boxes
    folded into the persons they belong to (P(worn): the strongest box's score, or one minus it for
    an ``absent`` box)."""
    concept_of = [cl.concept for cl in lm.classes]
    if suppress and len(c.scores):
        group_ids = {name: i for i, name in enumerate(dict.fromkeys(concept_of))}
        groups = np.array([group_ids[concept_of[k]] for k in c.classes], np.int64)
        order = nms(c.boxes, c.scores, groups, lm.iou_threshold, lm.max_detections)
    else:
        order = np.argsort(-c.scores, kind="stable")[: lm.max_detections]
    objects: list[tuple[str, float, Box, dict[str, float]]] = []
    evidence: list[tuple[str, float, Box]] = []  # (attribute concept, score, box)
    for k in order:
        concept = concept_of[int(c.classes[k])]
        score, box = round(float(c.scores[k]), 4), _to_frame(c.boxes[k], g)
        if concept in ATTRIBUTE_CONCEPTS:
            evidence.append((concept, score, box))  # type: ignore[arg-type]
            continue
        attrs: dict[str, float] = {}
        if concept == "person" and c.attributes is not None:
            for entry, p in zip(lm.attributes, c.attributes[k].tolist(), strict=True):
                if entry.concept is not None:
                    _worn(attrs, entry.concept, round(p, 4), strongest=False)
        objects.append((concept, score, box, attrs))  # type: ignore[arg-type]
    persons = [o for o in objects if o[0] == "person"]
    strength: dict[tuple[int, str], float] = {}
    for concept, score, box in evidence:
        owner = _owner(box, [p[2] for p in persons])
        if owner is None:
            continue
        attribute = concept.removeprefix(ABSENT)
        if score > strength.get((owner, attribute), -1.0):  # the most confident box speaks
            strength[(owner, attribute)] = score
            _worn(persons[owner][3], concept, score, strongest=True)
    return [Detection(label, score, box, attrs) for label, score, box, attrs in objects]


def _worn(attrs: dict[str, float], concept: str, p: float, *, strongest: bool) -> None:
    attribute = concept.removeprefix(ABSENT)
    worn = round(1.0 - p, 4) if concept.startswith(ABSENT) else p
    if strongest or attribute not in attrs:
        attrs[attribute] = worn


def _owner(box: Box, persons: list[Box]) -> int | None:
    """The person whose box holds the largest share of ``box`` (at least ATTACH_MIN of it)."""
    own = max((box[2] - box[0]) * (box[3] - box[1]), 1e-12)
    best, best_share = None, ATTACH_MIN
    for i, p in enumerate(persons):
        share = intersection(box, p) / own
        if share >= best_share and (best is None or share > best_share):
            best, best_share = i, share
    return best
