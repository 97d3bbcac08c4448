"""Model-only throughput of torchvision's fasterrcnn_mobilenet_v3_large_320_fpn, our speed yardstick."""

from __future__ import annotations

import time

import torch


def bench_fasterrcnn(batch: int = 8, iters: int = 20, width: int = 640, height: int = 360) -> float:
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn

    m = fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None).cuda().half().eval()
    x = [torch.rand(3, height, width, device="cuda", dtype=torch.half) for _ in range(batch)]
    with torch.inference_mode():
        for _ in range(3):
            m(x)
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(iters):
            m(x)
        torch.cuda.synchronize()
    rate = batch * iters / (time.perf_counter() - t)
    print(f"fasterrcnn_mobilenet_v3_large_320_fpn fp16 batch {batch}: {rate:.0f} img/s")
    return rate


if __name__ == "__main__":
    for b in (1, 8, 32):
        bench_fasterrcnn(b)
