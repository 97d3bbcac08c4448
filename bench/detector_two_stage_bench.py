"""Frames/s of the two-stage detector (NanoDet people + attribute crops + kitchen model) against the
single-stage kitchen model, in the same run, through the runtime the service calls.

``ModelRuntime.predict`` on 640x360 RGB frames (bk-synth's demo kitchens, the size the simulated
cameras send): resize to 512x288 on the device, the network(s), box decoding, NMS, attribute crops,
thresholds and the Python results. Each (model, batch) is warmed up, then timed ``--runs`` times;
the median is reported. On the CPU the thread count is ``--threads`` (the service's CPU default is
one model batch at a time on torch's threads).

    .venv/bin/python bench/detector_two_stage_bench.py [--device cpu] [--batches 1 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import torch

from bk_detector.model.runtime import ModelRuntime
from bksynth import demo_scenarios


def frames(n: int) -> list[np.ndarray]:
    scenes = demo_scenarios(0)
    return [scenes[i % len(scenes)].render(3.0 + i, 640, 360)[0] for i in range(n)]


def rate(model: ModelRuntime, batch: list[np.ndarray], seconds: float, runs: int) -> float:
    model.predict(batch)  # warm-up: first-call allocations
    results = []
    for _ in range(runs):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            model.predict(batch)
            n += len(batch)
        if model.device.startswith("cuda"):
            torch.cuda.synchronize()
        results.append(n / (time.perf_counter() - start))
    return statistics.median(results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=5.0, help="length of one timed run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pool = frames(max(args.batches))
    out: dict[str, dict[int, float]] = {}
    models = {
        kind: ModelRuntime.load(None, device=args.device, kind=kind) for kind in ("single_stage", "two_stage")
    }
    print(
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.device}, "
        f"{torch.get_num_threads()} threads; 640x360 frames -> 512x288"
    )
    for b in args.batches:
        for kind, model in models.items():
            fps = rate(model, pool[:b], args.seconds, args.runs)
            out.setdefault(kind, {})[b] = round(fps, 1)
            print(f"batch {b:3d}  {kind:12s} {fps:8.1f} frames/s  ({1000 / fps:6.1f} ms/frame)", flush=True)
        print(f"batch {b:3d}  two-stage / single-stage: {out['two_stage'][b] / out['single_stage'][b]:.2f}x")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"device": args.device, "threads": args.threads, "frames_per_s": out}, fh, indent=2)


if __name__ == "__main__":
    main()
