"""Turn head outputs into detections on the device: max-pool NMS + top-k, no per-object Python."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from bk_detector.model.net import STRIDE


class Detections(NamedTuple):
    """Batched, fixed-size results: N x K each (boxes N x K x 4 normalised xyxy, attributes N x K x A)."""

    scores: torch.Tensor
    labels: torch.Tensor
    boxes: torch.Tensor
    attributes: torch.Tensor


def decode(out: torch.Tensor, num_classes: int, k: int = 64) -> Detections:
    _, _, h, w = out.shape
    out = out.float()
    heat = torch.sigmoid(out[:, :num_classes])
    peaks = heat * (F.max_pool2d(heat, 3, 1, 1) == heat)  # a peak is its own 3x3 maximum
    scores, idx = peaks.flatten(1).topk(k)
    labels = idx // (h * w)
    pix = idx % (h * w)
    ys, xs = (pix // w).float(), (pix % w).float()
    rest = out[:, num_classes:].flatten(2)  # N, 4+A, H*W
    picked = rest.gather(2, pix.unsqueeze(1).expand(-1, rest.shape[1], -1))  # N, 4+A, K
    bw, bh = picked[:, 0].clamp(max=8).exp(), picked[:, 1].clamp(max=8).exp()
    cx, cy = xs + picked[:, 2], ys + picked[:, 3]
    boxes = torch.stack(
        [(cx - bw / 2) / w, (cy - bh / 2) / h, (cx + bw / 2) / w, (cy + bh / 2) / h], -1
    ).clamp(0, 1)
    return Detections(scores, labels, boxes, torch.sigmoid(picked[:, 4:]).transpose(1, 2))


__all__ = ["STRIDE", "Detections", "decode"]
