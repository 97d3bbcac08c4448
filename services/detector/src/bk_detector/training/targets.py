"""CenterNet targets and losses, built on the device for a whole batch at once.

Box regression is trained at the centre cell and its 3x3 neighbours (weighted by the object's own
Gaussian, so a 2-cell cigarette is trained almost only at its centre and a person at all nine): the
peak the decoder picks is not always the centre cell. Besides L1 on offsets and log sizes, a GIoU
term scores the decoded box itself, so a 1-pixel error on a 4-pixel cigarette costs what it costs in
the IoU the evaluation uses, while the same pixel on a person costs nearly nothing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# the 3x3 neighbourhood around an object's centre cell, centre first
_NEIGHBOURS = [(0, 0)] + [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


def giou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Generalised IoU of matching rows of two K,4 xyxy tensors."""
    iw = (torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])).clamp(min=0)
    ih = (torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])).clamp(min=0)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a + area_b - inter
    hull = (torch.maximum(a[:, 2], b[:, 2]) - torch.minimum(a[:, 0], b[:, 0])) * (
        torch.maximum(a[:, 3], b[:, 3]) - torch.minimum(a[:, 1], b[:, 1])
    )
    return inter / union.clamp(min=1e-6) - (hull - union) / hull.clamp(min=1e-6)


def detection_loss(
    out: torch.Tensor,
    boxes: torch.Tensor,
    labels: torch.Tensor,
    attrs: torch.Tensor,
    num_classes: int,
    giou_weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """out: N,C+4+A,h,w raw; boxes N,M,4 normalised; labels N,M (-1 pad); attrs N,M,A (-1 unknown)."""
    n, _, h, w = out.shape
    out = out.float()
    valid = labels >= 0
    b_idx = torch.arange(n, device=out.device)[:, None].expand_as(labels)[valid]
    lab, box, att = labels[valid], boxes[valid], attrs[valid]
    cx, cy = (box[:, 0] + box[:, 2]) / 2 * w, (box[:, 1] + box[:, 3]) / 2 * h
    bw, bh = ((box[:, 2] - box[:, 0]) * w).clamp(min=0.25), ((box[:, 3] - box[:, 1]) * h).clamp(min=0.25)
    ix, iy = cx.long().clamp(0, w - 1), cy.long().clamp(0, h - 1)
    # elliptic Gaussians (TTFNet-style: sigma follows the box's own aspect), peak = 1 at the centre cell
    sx, sy = (0.54 * bw / 6).clamp(min=0.4), (0.54 * bh / 6).clamp(min=0.4)
    xs = torch.arange(w, device=out.device, dtype=torch.float32)
    ys = torch.arange(h, device=out.device, dtype=torch.float32)
    gx = torch.exp(-((xs[None] - ix[:, None].float()) ** 2) / (2 * sx[:, None] ** 2))  # K,w
    gy = torch.exp(-((ys[None] - iy[:, None].float()) ** 2) / (2 * sy[:, None] ** 2))  # K,h
    gauss = (gy[:, :, None] * gx[:, None, :]).flatten(1)  # K,h*w
    heat_t = torch.zeros(n * num_classes, h * w, device=out.device)
    if len(lab):
        heat_t.index_reduce_(0, b_idx * num_classes + lab, gauss, "amax", include_self=True)
    heat_t = heat_t.view(n, num_classes, h, w)
    logits = out[:, :num_classes]
    pos = heat_t.eq(1.0)
    p = torch.sigmoid(logits)
    # masks as multipliers, not boolean indexing: no host sync, no gather of a huge index list
    pos_loss = -(F.logsigmoid(logits) * (1 - p) ** 2 * pos).sum()
    neg_loss = -(F.logsigmoid(-logits) * p**2 * (1 - heat_t) ** 4 * (~pos)).sum()
    num_pos = max(1.0, float(len(lab)))
    heat_loss = (pos_loss + neg_loss) / num_pos
    rest = out[:, num_classes:]
    size_t = torch.stack([bw.log(), bh.log()], 1)
    target_box = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
    size_loss = off_loss = giou_loss = out.new_zeros(())
    weights = []
    for dy, dx in _NEIGHBOURS:
        jx, jy = ix + dx, iy + dy
        inside = (jx >= 0) & (jx < w) & (jy >= 0) & (jy < h)
        weights.append(torch.exp(-(dx**2) / (2 * sx**2) - dy**2 / (2 * sy**2)) * inside)
    weight_sum = torch.stack(weights).sum(0).clamp(min=1e-6)
    for (dy, dx), wgt in zip(_NEIGHBOURS, weights, strict=True):
        jx, jy = ix + dx, iy + dy
        picked = rest[b_idx, :4, jy.clamp(0, h - 1), jx.clamp(0, w - 1)]  # K, 4
        fx, fy = jx.float(), jy.float()
        wn = wgt / weight_sum  # every object weighs the same, however many cells it has
        off_t = torch.stack([cx - fx, cy - fy], 1)
        size_loss = size_loss + (F.l1_loss(picked[:, :2], size_t, reduction="none").sum(1) * wn).sum()
        off_loss = off_loss + (F.l1_loss(picked[:, 2:4], off_t, reduction="none").sum(1) * wn).sum()
        if giou_weight:
            pw, ph = picked[:, 0].clamp(max=8).exp(), picked[:, 1].clamp(max=8).exp()
            pcx, pcy = fx + picked[:, 2], fy + picked[:, 3]
            pred_box = torch.stack([pcx - pw / 2, pcy - ph / 2, pcx + pw / 2, pcy + ph / 2], 1)
            giou_loss = giou_loss + ((1 - giou(pred_box, target_box)) * wn).sum()
    size_loss, off_loss, giou_loss = size_loss / num_pos, off_loss / num_pos, giou_loss / num_pos
    picked_attr = rest[b_idx, 4:, iy, ix]  # K, A
    known = (att >= 0) & (lab == 0)[:, None]  # attributes belong to persons (label 0)
    bce = F.binary_cross_entropy_with_logits(picked_attr, att.clamp(min=0), reduction="none")
    attr_loss = (bce * known).sum() / known.sum().clamp(min=1)
    total = heat_loss + 0.5 * size_loss + off_loss + giou_weight * giou_loss + attr_loss
    parts = {"heat": heat_loss, "size": size_loss, "offset": off_loss, "giou": giou_loss, "attr": attr_loss}
    return total, {k: v.detach() for k, v in parts.items()}
