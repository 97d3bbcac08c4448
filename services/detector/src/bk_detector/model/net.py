"""KitchenNet: a compact CenterNet-style detector with person-attribute heads.

Depthwise-separable backbone (stride 32) + a light top-down neck back to stride 4, where small
things (cigarettes, phones, a rat far away) are still a few cells wide. Heads at stride 4: class
heatmaps, box size (log, in cells), centre offset, and four attribute logits read at a person's centre.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

STRIDE = 4


def conv_bn(cin: int, cout: int, k: int = 1, s: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class DSBlock(nn.Module):
    """Depthwise 3x3 + pointwise 1x1; residual when shape is kept (cheap depth, stable training)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.dw = conv_bn(cin, cin, 3, stride, groups=cin)
        self.pw = conv_bn(cin, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pw(self.dw(x))
        return F.relu(y + x if self.residual else y)


def stage(cin: int, cout: int, depth: int) -> nn.Sequential:
    return nn.Sequential(DSBlock(cin, cout, 2), *[DSBlock(cout, cout) for _ in range(depth - 1)])


class KitchenNet(nn.Module):
    def __init__(
        self,
        num_classes: int = 7,
        num_attributes: int = 4,
        widths: tuple[int, ...] = (24, 32, 64, 128, 192),
        depths: tuple[int, ...] = (2, 3, 4, 3),
        head: int = 64,
    ) -> None:
        super().__init__()
        self.num_classes, self.num_attributes = num_classes, num_attributes
        self.stem = conv_bn(3, widths[0], 3, 2)
        self.stages = nn.ModuleList([stage(widths[i], widths[i + 1], depths[i]) for i in range(4)])
        self.lateral = nn.ModuleList([conv_bn(w, head) for w in widths[1:]])
        self.smooth = nn.ModuleList([DSBlock(head, head) for _ in range(3)])
        self.trunk = nn.Sequential(DSBlock(head, head), DSBlock(head, head))
        self.out = nn.Conv2d(head, num_classes + 4 + num_attributes, 1)
        with torch.no_grad():  # start heatmaps at p = 0.01 so the focal loss is not flooded by negatives
            self.out.bias.zero_()
            self.out.bias[:num_classes].fill_(-4.6)
        # ImageNet-like normalisation inside the net: callers hand in 0..255 values.
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255)
        self.register_buffer("inv_std", 1.0 / (torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: N,3,H,W float in 0..255 -> N, C+4+A, H/4, W/4 raw head outputs."""
        x = (x - self.mean) * self.inv_std
        feats = []
        x = self.stem(x)
        for s in self.stages:
            x = s(x)
            feats.append(x)
        y = self.lateral[3](feats[3])
        for i in (2, 1, 0):  # top-down: coarse context into finer maps
            y = F.interpolate(y, size=feats[i].shape[-2:], mode="nearest") + self.lateral[i](feats[i])
            y = self.smooth[i](y)
        return self.out(self.trunk(y))


def fuse_bn(model: nn.Module) -> nn.Module:
    """Fold BatchNorm into the preceding conv for inference: fewer kernels, same numbers."""
    for mod in model.modules():
        if (
            isinstance(mod, nn.Sequential)
            and len(mod) >= 2
            and isinstance(mod[0], nn.Conv2d)
            and isinstance(mod[1], nn.BatchNorm2d)
        ):
            conv, bn = mod[0], mod[1]
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            fused = nn.Conv2d(
                conv.in_channels,
                conv.out_channels,
                conv.kernel_size,
                conv.stride,
                conv.padding,
                groups=conv.groups,
                bias=True,
            ).to(conv.weight.device)
            with torch.no_grad():
                fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
                fused.bias.copy_(bn.bias - bn.running_mean * scale)
            mod[0], mod[1] = fused, nn.Identity()
    return model
