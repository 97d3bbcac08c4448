"""Plain data the rules, tracker and voter pass around, and the geometry they share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

Box = tuple[float, float, float, float]  # normalised x1, y1, x2, y2


@dataclass(frozen=True, slots=True)
class Detection:
    """One object in one frame, after masks; ``track_id`` 0 until the tracker has seen it."""

    label: str
    score: float
    box: Box
    attributes: dict[str, float] = field(default_factory=dict)
    track_id: int = 0

    def with_track(self, track_id: int) -> Detection:
        # the constructor, not dataclasses.replace: this runs for every detection of every frame
        return Detection(self.label, self.score, self.box, self.attributes, track_id)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A violation seen in one frame, before voting decides whether it is real."""

    violation_type: str
    track_id: int
    score: float
    box: Box


def clamp_box(box: Sequence[float]) -> Box:
    """``box`` inside the unit square, corners in order. Written out, no generator: this runs for
    every detection of every frame on the detector's event loop."""
    x1, y1, x2, y2 = box
    # "> 0.0" is false for NaN too: a NaN coordinate becomes 0, never a NaN box
    x1 = 1.0 if x1 >= 1.0 else float(x1) if x1 > 0.0 else 0.0
    y1 = 1.0 if y1 >= 1.0 else float(y1) if y1 > 0.0 else 0.0
    x2 = 1.0 if x2 >= 1.0 else float(x2) if x2 > 0.0 else 0.0
    y2 = 1.0 if y2 >= 1.0 else float(y2) if y2 > 0.0 else 0.0
    if x1 <= x2 and y1 <= y2:
        return (x1, y1, x2, y2)
    return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


def centre(box: Box) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


def area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def intersection(a: Box, b: Box) -> float:
    return area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def iou(a: Box, b: Box) -> float:
    inter = intersection(a, b)
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def expand(box: Box, margin: float) -> Box:
    """``box`` grown by ``margin`` times its own width/height on every side."""
    w, h = box[2] - box[0], box[3] - box[1]
    return (box[0] - w * margin, box[1] - h * margin, box[2] + w * margin, box[3] + h * margin)


def point_in_polygon(x: float, y: float, xy: Sequence[float]) -> bool:
    """Even-odd ray casting over a flat x0, y0, x1, y1, ... list (at least 3 points)."""
    pts = list(zip(xy[0::2], xy[1::2], strict=False))
    if len(pts) < 3:
        return False
    inside = False
    j = len(pts) - 1
    for i, (xi, yi) in enumerate(pts):
        xj, yj = pts[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside
