"""CenterNet targets and losses, built on the device for a whole batch at once.

Box regression is trained at the centre cell and its 3x3 neighbours (weighted by the object's own
Gaussian, so a 2-cell cigarette is trained almost only at its centre and a person at all nine): the
peak the decoder picks is not always the centre cell. Besides L1 on offsets and log sizes, a GIoU
term scores the decoded box itself, so a 1-pixel error on a 4-pixel cigarette costs what it costs in
the IoU the evaluation uses, while the same pixel on a person costs nearly nothing.

Frames labelled only in part (supervisors' verdicts) train only what is labelled: the heatmap of a
class learns "nothing here" only inside that class's labelled regions (``Supervision``), and an
object whose place is unknown (a phone somewhere in a person's box) pushes up the class's strongest
cell in that region instead of a box (multiple-instance learning). Unlabelled classes and regions
cost nothing, so a handful of verdicts cannot teach the model that people are gone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bk_detector.training.data import Supervision

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
    supervision: Supervision | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """out: N,C+4+A,h,w raw; boxes N,M,4 normalised; labels N,M (-1 pad); attrs N,M,A (-1 unknown);
    supervision: where partly labelled frames are labelled (None: every class everywhere)."""
    n, _, h, w = out.shape
    out = out.float()
    valid = labels >= 0
    b_idx = torch.arange(n, device=out.device)[:, None].expand_as(labels)[valid]
    lab, box, att = labels[valid], boxes[valid], attrs[valid]
    # Objects whose box is only the detector's guess (a verdict) teach presence, not size or place.
    geo = supervision.box_known[valid].float() if supervision is not None else torch.ones_like(box[:, 0])
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
    neg_w = (1 - heat_t) ** 4 * (~pos)
    bag_loss, n_bags = out.new_zeros(()), 0
    if supervision is not None and not bool(supervision.full.all()):
        known, bag_cells, bag_idx = supervised_cells(supervision, num_classes, h, w, b_idx, lab, box)
        neg_w = neg_w * known
        if len(bag_idx):  # each bag: its class's strongest cell inside it should fire
            flat = logits.reshape(n * num_classes, h * w)[bag_idx]
            top = flat.masked_fill(~bag_cells, float("-inf")).amax(1)
            bag_loss = -(F.logsigmoid(top) * (1 - torch.sigmoid(top)) ** 2).sum()
            n_bags = len(bag_idx)
    neg_loss = -(F.logsigmoid(-logits) * p**2 * neg_w).sum()
    num_pos = max(1.0, float(len(lab) + n_bags))
    heat_loss = (pos_loss + neg_loss + bag_loss) / num_pos
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
        wn = wgt / weight_sum * geo  # every object weighs the same, however many cells it has
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


def _cells(boxes: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """K,h*w bool: the output cells whose centres lie in each normalised box, and always the cell
    holding the box's centre (a 2-pixel cigarette still owns one cell)."""
    xs = (torch.arange(w, device=boxes.device, dtype=torch.float32) + 0.5) / w
    ys = (torch.arange(h, device=boxes.device, dtype=torch.float32) + 0.5) / h
    inx = (xs[None] >= boxes[:, 0:1]) & (xs[None] <= boxes[:, 2:3])
    iny = (ys[None] >= boxes[:, 1:2]) & (ys[None] <= boxes[:, 3:4])
    cx = ((boxes[:, 0] + boxes[:, 2]) / 2 * w).long().clamp(0, w - 1)
    cy = ((boxes[:, 1] + boxes[:, 3]) / 2 * h).long().clamp(0, h - 1)
    inx[torch.arange(len(boxes), device=boxes.device), cx] = True
    iny[torch.arange(len(boxes), device=boxes.device), cy] = True
    return (iny[:, :, None] & inx[:, None, :]).flatten(1)


def supervised_cells(
    sup: Supervision,
    num_classes: int,
    h: int,
    w: int,
    obj_image: torch.Tensor,
    obj_label: torch.Tensor,
    obj_box: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N,C,h,w float: 1 where a class's heatmap is labelled, bag cells (B,h*w bool), and each bag's
    row in the N*C heatmaps). On a partly labelled frame a labelled object (``obj_*``: image, class,
    normalised box) teaches its class in the middle third of its box only, an ABSENT region all of
    it; a bag's cells are never "nothing here" for its class."""
    n = sup.full.shape[0]
    dev = sup.full.device
    valid = sup.region_labels >= 0
    rows = (torch.arange(n, device=dev)[:, None] * num_classes + sup.region_labels)[valid]
    cells = _cells(sup.regions[valid], h, w)
    bag = sup.kinds[valid] == Supervision.BAG
    centre = torch.stack([(obj_box[:, 0] + obj_box[:, 2]) / 2, (obj_box[:, 1] + obj_box[:, 3]) / 2], 1)
    half = torch.stack([obj_box[:, 2] - obj_box[:, 0], obj_box[:, 3] - obj_box[:, 1]], 1) / 6
    core = _cells(torch.cat([centre - half, centre + half], 1), h, w)
    # Regions of one class may overlap: count cells per heatmap row, then compare (an OR).
    count = torch.zeros(n * num_classes, h * w, device=dev)
    count.index_put_((rows[~bag],), cells[~bag].float(), accumulate=True)
    count.index_put_((obj_image * num_classes + obj_label,), core.float(), accumulate=True)
    in_bag = torch.zeros_like(count)
    in_bag.index_put_((rows[bag],), cells[bag].float(), accumulate=True)
    full = sup.full.repeat_interleave(num_classes)[:, None]
    known = full | ((count > 0) & (in_bag == 0))
    return known.view(n, num_classes, h, w).float(), cells[bag], rows[bag]


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, num_classes: int) -> torch.Tensor:
    """How far a fine-tuned model's outputs moved from the model it started from (learning without
    forgetting): the class heatmaps as soft targets (binary cross-entropy on the teacher's
    probabilities, summed over classes, mean over cells), and the box and attribute outputs where
    the teacher saw something (weighted by its strongest class there: elsewhere they mean nothing)."""
    s, t = student.float(), teacher.float()
    heat_t = torch.sigmoid(t[:, :num_classes])
    heat = F.binary_cross_entropy_with_logits(s[:, :num_classes], heat_t, reduction="none")
    # the teacher's own entropy is the floor of that cross-entropy: subtract it, so 0 = unchanged
    floor = F.binary_cross_entropy_with_logits(t[:, :num_classes], heat_t, reduction="none")
    n = max(1, s.shape[0])
    seen = heat_t.amax(1, keepdim=True)  # N,1,h,w
    rest = ((s[:, num_classes:] - t[:, num_classes:]) ** 2 * seen).sum()
    return ((heat - floor).sum() + rest) / n  # per image, as the detection loss is per object
