"""A night camera the model has not learnt, and a supervisor who knows what it really shows.

The camera films synthetic kitchens (bk-synth, whose ground truth is known) through an infrared
night look: grey, brighter, grainy. The shipped model, trained on colour frames, raises alarms on
it, right and wrong; the supervisor judges each alarm against the ground truth, as a person looking
at the snapshot would, and where the model saw a person who is not there, corrects the capture
("no person here") instead of letting "a person with a hat" stand.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from bk_detector.detections import Candidate, iou
from bkcore.verdicts import (
    ATTRIBUTE_VIOLATIONS,
    HELD_VIOLATIONS,
    OBJECT_VIOLATIONS,
    AbsentRegion,
    CaptureLabels,
)
from bksynth.frame import render_random
from bksynth.truth import Annotation


@dataclass(frozen=True)
class Capture:
    index: int
    rgb: np.ndarray
    jpeg: bytes
    truth: list[Annotation]


def night(arr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The infrared look: luminance only, lifted, with sensor grain."""
    g = arr.astype(np.float32) @ np.array([0.3, 0.59, 0.11], np.float32)
    g = np.clip(g * 1.25 + 12 + rng.normal(0, 7, g.shape), 0, 255).astype(np.uint8)
    return np.stack([g] * 3, -1)


def captures(n: int, seed: int = 7) -> list[Capture]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        arr, truth = render_random(seed * 1_000_003 + i, 640, 360)
        rgb = night(arr, rng)
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=90)
        out.append(Capture(i, rgb, buf.getvalue(), truth))
    return out


@dataclass(frozen=True)
class Judgement:
    confirmed: bool
    correction: CaptureLabels | None = None  # what the supervisor saves instead of the verdict's meaning


def _centre_in(box: tuple[float, ...], region: tuple[float, ...]) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return region[0] <= cx <= region[2] and region[1] <= cy <= region[3]


def judge(alarm: Candidate, truth: list[Annotation]) -> Judgement:
    """What a supervisor looking at the snapshot says about one alarm."""
    box, vtype = alarm.box, alarm.violation_type
    if vtype in ATTRIBUTE_VIOLATIONS:
        people = [a for a in truth if a.label == "person" and iou(a.box, box) >= 0.5]
        if not people:  # no one there at all: not "a person with a hat"
            return Judgement(
                False, CaptureLabels(absent=[AbsentRegion(label="person", box=box)], not_violation=True)
            )
        return Judgement(people[0].attributes.get(ATTRIBUTE_VIOLATIONS[vtype]) == 0)
    if vtype in OBJECT_VIOLATIONS:
        label = OBJECT_VIOLATIONS[vtype]
        return Judgement(any(a.label == label and iou(a.box, box) >= 0.5 for a in truth))
    if vtype in HELD_VIOLATIONS:
        label = HELD_VIOLATIONS[vtype]
        return Judgement(any(a.label == label and _centre_in(a.box, box) for a in truth))
    raise AssertionError(f"no judgement for {vtype}")
