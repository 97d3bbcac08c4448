"""The pure half of face detection: BlazeFace's anchors and box decoding, tiles, merging, the keep rule.

BlazeFace ("back" model, 256×256 input) is an SSD-style detector: every anchor predicts a score
logit and 16 numbers (box centre offset, box size, then six key points). Its anchors follow
MediaPipe's face detector: strides 16 and 32 with fixed-size anchors, so each anchor is only a cell
centre — 16×16 cells with 2 anchors each, then 8×8 cells with 6 each (896 in all, row by row, the
anchors of one cell next to each other). Offsets and sizes are in input pixels.

One pass over a whole picture sees faces down to ~1/16 of its long side; people far from a ceiling
camera are smaller than that, so the picture is also cut into overlapping square tiles, each halving
the last, until a tile is about the model's own input size. Detections of all passes are merged by
score-weighted averaging (MediaPipe's "weighted NMS"), which steadies boxes seen several times.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

INPUT = 256  # the model's input side, pixels
_LAYERS = ((16, 2), (8, 6))  # (cells per side, anchors per cell) for strides 16 and 32


@dataclass(frozen=True)
class FacePolicy:
    """How detections become face boxes; defaults chosen on the real-photo set (docs/privacy.md).

    Privacy errs towards blurring: the score threshold is low. But the model is very sure of a real
    face it sees large (0.87-0.94 on the set), while its large low-score boxes were a cat's, a dog's
    and a mandrill's faces; a box wider than ``large_px`` in the model's input must score
    ``large_score``.
    """

    min_score: float = 0.6
    large_px: float = 96.0
    large_score: float = 0.8
    merge_iou: float = 0.3
    # Growth of a box before blurring, as fractions of its size. BlazeFace boxes run from the brows
    # to the chin and sit low on small faces; forehead, hairline and ears identify people too.
    grow_side: float = 0.3
    grow_top: float = 0.5
    grow_bottom: float = 0.2
    finest_tile: int = 192  # stop halving tiles below this side (source pixels)
    max_side: int = 1280  # pictures larger than this are searched at this size
    flip: bool = True  # also search the mirrored tile: profiles score higher one way round

    def keeps(self, score: float, width_px: float) -> bool:
        return score >= self.min_score and (width_px <= self.large_px or score >= self.large_score)


@dataclass(frozen=True, order=True)
class Face:
    """A face box in the picture's pixels: corners (x1, y1) inclusive, (x2, y2) exclusive."""

    score: float
    x1: float
    y1: float
    x2: float
    y2: float

    def grown(self, policy: FacePolicy, width: int, height: int) -> tuple[int, int, int, int]:
        """The box grown as ``policy`` says, in whole pixels inside a ``width``×``height`` picture."""
        w, h = self.x2 - self.x1, self.y2 - self.y1
        return (
            max(0, int(np.floor(self.x1 - w * policy.grow_side))),
            max(0, int(np.floor(self.y1 - h * policy.grow_top))),
            min(width, int(np.ceil(self.x2 + w * policy.grow_side))),
            min(height, int(np.ceil(self.y2 + h * policy.grow_bottom))),
        )


@dataclass(frozen=True)
class Tile:
    """A square of the picture (may reach past its right and bottom edges: padded black)."""

    x: int
    y: int
    side: int


@cache
def anchors() -> np.ndarray:
    """(896, 2) anchor centres (x, y) in [0, 1], in the model's output order."""
    out = []
    for cells, per_cell in _LAYERS:
        ys, xs = np.mgrid[0:cells, 0:cells]
        centres = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


def decode(logits: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores (N,) and boxes (N, 4) as x1, y1, x2, y2 in [0, 1] of the input, from the model's
    score logits (N,) and regressors (N, 16), N = 896."""
    a = anchors()
    if logits.shape != (len(a),) or raw.shape != (len(a), 16):
        raise ValueError(f"expected {len(a)} anchors, got logits {logits.shape} and boxes {raw.shape}")
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80.0, 80.0)))
    cx = a[:, 0] + raw[:, 0] / INPUT
    cy = a[:, 1] + raw[:, 1] / INPUT
    hw, hh = raw[:, 2] / INPUT / 2, raw[:, 3] / INPUT / 2
    return scores, np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=1)


def unflip(boxes: np.ndarray) -> np.ndarray:
    """Boxes found on the mirrored input, back in the input's own coordinates."""
    return np.stack([1.0 - boxes[:, 2], boxes[:, 1], 1.0 - boxes[:, 0], boxes[:, 3]], axis=1)


def tile_plan(width: int, height: int, *, finest: int) -> list[Tile]:
    """The whole picture (letterboxed), then tiles halving in side with half-tile overlap, down to
    ``finest``: any face up to half a tile lies wholly inside some tile of its level."""
    side = max(width, height)
    plan = [Tile(0, 0, side)]
    while side // 2 >= finest:
        side //= 2
        plan += [Tile(x, y, side) for y in _starts(height, side) for x in _starts(width, side)]
    return plan


def _starts(length: int, side: int) -> list[int]:
    if length <= side:
        return [0]
    starts = list(range(0, length - side + 1, side // 2))
    if starts[-1] + side < length:
        starts.append(length - side)  # the last tile ends at the edge
    return starts


def iou(a: Face, b: Face) -> float:
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = ix * iy
    union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter
    return inter / union if union > 0 else 0.0


def merge(faces: list[Face], *, iou_threshold: float) -> list[Face]:
    """Weighted NMS: each group of boxes overlapping the best remaining one by ``iou_threshold``
    becomes their score-weighted average, with the group's best score."""
    rest = sorted(faces, reverse=True)
    out: list[Face] = []
    while rest:
        best, group, keep = rest[0], [rest[0]], []
        for f in rest[1:]:
            (group if iou(best, f) >= iou_threshold else keep).append(f)
        w = np.array([f.score for f in group])
        box = (np.array([[f.x1, f.y1, f.x2, f.y2] for f in group]) * w[:, None]).sum(axis=0) / w.sum()
        out.append(Face(best.score, *(float(v) for v in box)))
        rest = keep
    return out
