"""Ground-truth types shared by the renderer, the timeline and the COCO writer."""

from __future__ import annotations

from dataclasses import dataclass, field

LABELS: tuple[str, ...] = (
    "person",
    "phone",
    "cigarette",
    "rodent",
    "trash_bin_open",
    "trash_bin_closed",
    "flame",
)
PERSON_ATTRIBUTES: tuple[str, ...] = ("chef_hat", "mask", "uniform", "gloves")


@dataclass(frozen=True)
class Annotation:
    """One labelled object: box is normalised xyxy (0..1), attributes only for persons (1 = worn)."""

    label: str
    box: tuple[float, float, float, float]
    attributes: dict[str, int] = field(default_factory=dict)
    track_id: int | None = None  # stable id of the actor in a Scenario; None in random frames
    # share of the object the camera sees (generator v2: occlusion and frame edges); None = not measured
    visibility: float | None = None


@dataclass
class PixelBox:
    """A box in pixels while drawing; normalised only when the frame is finished."""

    label: str
    x0: float
    y0: float
    x1: float
    y1: float
    attributes: dict[str, int] = field(default_factory=dict)
    track_id: int | None = None

    def clip_bottom(self, y: float) -> None:
        self.y1 = min(self.y1, y)

    def to_annotation(self, w: int, h: int, min_px: float = 2.0) -> Annotation | None:
        x0, x1 = max(0.0, self.x0), min(float(w), self.x1)
        y0, y1 = max(0.0, self.y0), min(float(h), self.y1)
        if x1 - x0 < min_px or y1 - y0 < min_px:
            return None  # fully out of frame or hidden: not a learnable object
        box = (round(x0 / w, 5), round(y0 / h, 5), round(x1 / w, 5), round(y1 / h, 5))
        return Annotation(self.label, box, dict(self.attributes), self.track_id)
