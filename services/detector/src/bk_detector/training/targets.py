"""CenterNet targets and losses, built on the device for a whole batch at once."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def detection_loss(
    out: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, attrs: torch.Tensor, num_classes: int
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
    picked = rest[b_idx, :, iy, ix]  # K, 4+A
    size_t = torch.stack([bw.log(), bh.log()], 1)
    off_t = torch.stack([cx - ix.float(), cy - iy.float()], 1)
    size_loss = F.l1_loss(picked[:, :2], size_t, reduction="sum") / num_pos
    off_loss = F.l1_loss(picked[:, 2:4], off_t, reduction="sum") / num_pos
    known = (att >= 0) & (lab == 0)[:, None]  # attributes belong to persons (label 0)
    bce = F.binary_cross_entropy_with_logits(picked[:, 4:], att.clamp(min=0), reduction="none")
    attr_loss = (bce * known).sum() / known.sum().clamp(min=1)
    total = heat_loss + 0.5 * size_loss + off_loss + attr_loss
    parts = {"heat": heat_loss, "size": size_loss, "offset": off_loss, "attr": attr_loss}
    return total, {k: v.detach() for k, v in parts.items()}
