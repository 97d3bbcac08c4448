"""Frames/s of the two-stage detector (NanoDet people + attribute crops + kitchen model) against the
single-stage kitchen model, in the same run, through the runtime the service calls.

``ModelRuntime.predict`` on 640x360 RGB frames (bk-synth's demo kitchens, the size the simulated
cameras send): resize to 512x288 on the device, the network(s), box decoding, NMS, attribute crops,
thresholds and the Python results. Each (model, batch) is warmed up, then timed ``--runs`` times;
the median is reported. Two figures: frames/s of wall time, and frames per CPU-second of the
process (its CPU time, all threads): on a shared machine the second does not move with the
neighbours' load, the first does. ``--threads 1`` gives a per-core figure.

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


def rate(model: ModelRuntime, batch: list[np.ndarray], seconds: float, runs: int) -> tuple[float, float]:
    """(frames per wall second, frames per CPU second of this process), medians of ``runs``."""
    model.predict(batch)  # warm-up: first-call allocations
    wall, cpu = [], []
    for _ in range(runs):
        n, start, start_cpu = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - start < seconds:
            model.predict(batch)
            n += len(batch)
        if model.device.startswith("cuda"):
            torch.cuda.synchronize()
        wall.append(n / (time.perf_counter() - start))
        cpu.append(n / max(time.process_time() - start_cpu, 1e-9))
    return statistics.median(wall), statistics.median(cpu)


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
    per_cpu: dict[str, dict[int, float]] = {}
    models = {
        kind: ModelRuntime.load(None, device=args.device, kind=kind) for kind in ("single_stage", "two_stage")
    }
    print(
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.device}, "
        f"{torch.get_num_threads()} threads; 640x360 frames -> 512x288"
    )
    for b in args.batches:
        for kind, model in models.items():
            fps, fpc = rate(model, pool[:b], args.seconds, args.runs)
            out.setdefault(kind, {})[b] = round(fps, 2)
            per_cpu.setdefault(kind, {})[b] = round(fpc, 2)
            print(
                f"batch {b:3d}  {kind:12s} {fps:7.2f} frames/s wall  {fpc:7.2f} frames per CPU-second "
                f"({1000 / fpc:6.1f} CPU-ms/frame)",
                flush=True,
            )
        ratio = per_cpu["two_stage"][b] / per_cpu["single_stage"][b]
        print(f"batch {b:3d}  two-stage / single-stage (per CPU-second): {ratio:.2f}x")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "device": args.device,
                    "threads": args.threads,
                    "frames_per_wall_s": out,
                    "frames_per_cpu_s": per_cpu,
                },
                fh,
                indent=2,
            )


if __name__ == "__main__":
    main()
