"""Bring-your-own ONNX models that tests build themselves, with outputs known for known pictures.

``ColourBoxes`` is a real network graph, not a stub: for each class it finds the pixels of that
class's colour and answers the box around them in the YOLOv8 (or YOLOv5) output layout, in input
pixels, at a fixed score, plus a slightly shifted weaker copy of every box that NMS must remove.
Draw a red rectangle and a "person" class sees exactly that rectangle, through letterbox, ONNX
Runtime, decoding and NMS; so a test can state the boxes the detector must answer.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: (colour as RGB 0..255, score) per class of the default test model, and the label map that
#: gives them meaning: a red worker, a blue bare head, a green rat, and a yellow knife nobody needs.
CLASSES: list[tuple[str, str | None, tuple[int, int, int], float]] = [
    ("worker", "person", (255, 0, 0), 0.9),
    ("bare_head", "no_chef_hat", (0, 0, 255), 0.8),
    ("rat", "rodent", (0, 255, 0), 0.85),
    ("knife", None, (255, 255, 0), 0.7),
]
TOLERANCE = 0.25  # per channel, of 0..1: survives JPEG and resizing inside a solid rectangle
EXTRA_ANCHORS = 8  # empty anchors after the real ones, as a real head has many


class ColourBoxes(torch.nn.Module):
    """float [B, 3, H, W] in 0..1 -> YOLOv8 [B, 4+nc, N] (or YOLOv5 [B, N, 5+nc]), N = 2*nc + extra."""

    def __init__(
        self, colours: list[tuple[int, int, int]], scores: list[float], layout: str = "yolov8"
    ) -> None:
        super().__init__()
        self.register_buffer("colours", torch.tensor(colours, dtype=torch.float32) / 255.0)
        self.register_buffer("scores", torch.tensor(scores, dtype=torch.float32))
        self.register_buffer("shift", torch.tensor([2.0, 2.0, 0.0, 0.0]))  # a weaker near-duplicate's offset
        self.layout = layout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        nc = self.colours.shape[0]
        diff = (x[:, None] - self.colours[None, :, :, None, None]).abs()  # B, nc, 3, H, W
        mask = (diff < TOLERANCE).all(2)  # B, nc, H, W
        found = mask.flatten(2).any(2).float()  # B, nc
        xs = torch.arange(w, dtype=torch.float32, device=x.device).view(1, 1, 1, w).expand_as(mask)
        ys = torch.arange(h, dtype=torch.float32, device=x.device).view(1, 1, h, 1).expand_as(mask)
        big = torch.full_like(xs, 1e6)
        x1 = torch.where(mask, xs, big).flatten(2).amin(2)
        y1 = torch.where(mask, ys, big).flatten(2).amin(2)
        x2 = torch.where(mask, xs, -big).flatten(2).amax(2) + 1
        y2 = torch.where(mask, ys, -big).flatten(2).amax(2) + 1
        box = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], 2) * found[..., None]  # B, nc, 4
        score = self.scores[None] * found  # B, nc
        eye = torch.eye(nc, device=x.device)
        cls = score[:, :, None] * eye[None]  # anchor c scores only class c
        shifted = box + self.shift
        boxes = torch.cat([box, shifted, box.new_zeros(b, EXTRA_ANCHORS, 4)], 1)  # B, N, 4
        cls = torch.cat([cls, cls * 0.6, cls.new_zeros(b, EXTRA_ANCHORS, nc)], 1)  # B, N, nc
        if self.layout == "yolov5":  # objectness 1 where a box was found, class scores as above
            obj = (cls.amax(2, keepdim=True) > 0).float()
            return torch.cat([boxes, obj, cls], 2)
        return torch.cat([boxes, cls], 2).transpose(1, 2)


def build_onnx(
    out: Path,
    *,
    classes: list[tuple[str, str | None, tuple[int, int, int], float]] | None = None,
    layout: str = "yolov8",
    size: tuple[int, int] = (320, 320),
    dynamic_batch: bool = True,
) -> Path:
    """Export a ColourBoxes model to ``out`` (input "images" [B, 3, h, w]; B dynamic or fixed 1)."""
    classes = classes or CLASSES
    model = ColourBoxes([c[2] for c in classes], [c[3] for c in classes], layout).eval()
    w, h = size
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # the TorchScript exporter (no onnxscript needed) warns it is old
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, h, w),),
            str(out),
            opset_version=17,
            dynamo=False,
            input_names=["images"],
            output_names=["output0"],
            dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}} if dynamic_batch else None,
        )
    return out


def label_map(
    *,
    classes: list[tuple[str, str | None, tuple[int, int, int], float]] | None = None,
    layout: str = "yolov8",
    size: tuple[int, int] = (320, 320),
    **extra: Any,
) -> dict[str, Any]:
    """The label map of a model from ``build_onnx`` with the same arguments."""
    return {
        "name": "acme-kitchen",
        "version": "1.0.0",
        "layout": layout,
        "input_width": size[0],
        "input_height": size[1],
        "classes": [{"name": name, "concept": concept} for name, concept, _, _ in (classes or CLASSES)],
        "rules": ["no_chef_hat", "rodent"],
        **extra,
    }


def artefact(directory: Path, lm: dict[str, Any], **build: Any) -> Path:
    """A bring-your-own artefact directory: model.onnx + label_map.json."""
    directory.mkdir(parents=True, exist_ok=True)
    build_onnx(directory / "model.onnx", **build)
    (directory / "label_map.json").write_text(json.dumps(lm, indent=2))
    return directory


def scene(width: int = 640, height: int = 360) -> np.ndarray:
    """A grey frame with a red worker whose head is a blue bare head, a green rat and a yellow
    knife; ``SCENE_BOXES`` are their rectangles in pixels."""
    img = np.full((height, width, 3), 128, np.uint8)
    for name, (x1, y1, x2, y2) in SCENE_BOXES.items():
        colour = next(c[2] for c in CLASSES if c[0] == name)
        img[y1:y2, x1:x2] = colour
    return img


#: Drawn in this order (the head over the worker); pixel xyxy in a 640x360 frame.
SCENE_BOXES: dict[str, tuple[int, int, int, int]] = {
    "worker": (100, 80, 220, 340),
    "bare_head": (130, 80, 190, 130),
    "rat": (450, 300, 530, 340),
    "knife": (300, 40, 340, 60),
}
