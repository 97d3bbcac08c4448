"""PersonAttributeNet: what a person wears (chef hat, mask, uniform, gloves), read from a crop of
the person. Stage two of the two-stage detector: stage one (a real person detector) finds people,
this classifies each one's crop.

Crops are cut with ``roi_align`` from the batch the runtime already has on the device (no trip
through the CPU, fixed shapes for CUDA graphs); the box is widened a little so a hat above the head
and gloves beside the body stay inside. The same function cuts the training crops.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.ops import roi_align

from bk_detector.model.net import DSBlock, conv_bn

CROP_HEIGHT, CROP_WIDTH = 96, 48
CONTEXT = 0.1  # the crop is the person's box grown by this share of its size on every side


class PersonAttributeNet(nn.Module):
    """N,3,96,48 float 0..255 person crops -> N,A attribute logits (sigmoid = P(worn))."""

    def __init__(self, num_attributes: int = 4, widths: tuple[int, ...] = (16, 32, 48, 64)) -> None:
        super().__init__()
        self.num_attributes = num_attributes
        self.stem = conv_bn(3, widths[0], 3, 2)  # 48x24
        self.body = nn.Sequential(
            DSBlock(widths[0], widths[1], 2),
            DSBlock(widths[1], widths[1]),  # 24x12
            DSBlock(widths[1], widths[2], 2),
            DSBlock(widths[2], widths[2]),  # 12x6
            DSBlock(widths[2], widths[3], 2),  # 6x3
        )
        # where on the body matters (hat on top, gloves at the hands): keep a 3x1 layout, not one mean
        self.pool = nn.AdaptiveAvgPool2d((3, 1))
        self.out = nn.Linear(widths[3] * 3, num_attributes)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255)
        self.register_buffer("inv_std", 1.0 / (torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255))

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        x = (crops - self.mean) * self.inv_std
        return self.out(self.pool(self.body(self.stem(x))).flatten(1))


def person_crops(images: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """images N,3,H,W float; boxes N,K,4 normalised xyxy -> N*K,3,96,48 crops (row-major by frame).
    Empty slots (zero boxes) give crops too: fixed shapes; their results are never read."""
    n, k, _ = boxes.shape
    h, w = images.shape[-2:]
    bw, bh = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
    grown = torch.stack(
        [
            (boxes[..., 0] - bw * CONTEXT) * w,
            (boxes[..., 1] - bh * CONTEXT) * h,
            (boxes[..., 2] + bw * CONTEXT) * w,
            (boxes[..., 3] + bh * CONTEXT) * h,
        ],
        -1,
    )
    index = torch.arange(n, device=boxes.device, dtype=grown.dtype).repeat_interleave(k)[:, None]
    rois = torch.cat([index, grown.reshape(n * k, 4)], 1).to(images.dtype)
    return roi_align(
        images, rois, (CROP_HEIGHT, CROP_WIDTH), spatial_scale=1.0, sampling_ratio=2, aligned=True
    )


def save(path: Path, model: PersonAttributeNet, meta: dict[str, Any]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save(state, path / "weights.pt")
    (path / "model.json").write_text(json.dumps(meta, indent=2) + "\n")


def load(path: Path) -> tuple[PersonAttributeNet, dict[str, Any]]:
    meta = json.loads((path / "model.json").read_text())
    model = PersonAttributeNet(len(meta["attributes"]), tuple(meta["architecture"]["widths"]))
    state = torch.load(path / "weights.pt", map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.eval(), meta
