"""Detector tail latency at half load: the start-up heap left to the garbage collector vs frozen.

The real ``DetectorService`` (gRPC, dynamic batcher, tracking, rules, voting, replies, evidence) in
this process, with torch imported as in production, serves a model that costs what the H100 costs
but no CPU: each model call sleeps (like a CUDA synchronise, without the GIL) for
``--base-ms + --per-frame-ms x batch``. Client processes (``detector_service_bench``'s) first find the
maximum rate, then offer half of it in an open loop, alternating the two heap modes in the same
process at the same offered rate:

- ``gc default``: CPython's collector walks every start-up object (torch, grpc, ...) at each full
  collection;
- ``gc frozen``: ``bkcore.heap.freeze_startup_heap()`` after start-up, what every service runner does.

Printed per run: frames/s, per-FrameBatch latency p50 / p99 / max, and the collector's full (gen 2)
collections with their longest pause. No GPU is needed: the point is the host side of the tail.

Usage: python bench/detector_gc_bench.py [--duration 10] [--rounds 2] [--procs 2]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from detector_service_bench import NullModel, _serve, drive, render_jpegs


class SleepModel(NullModel):
    """GPU-like cost: the calling thread waits without holding the GIL, as on a CUDA sync."""

    version = "sleep-1"

    def __init__(self, base_ms: float, per_frame_ms: float, hit_every: int) -> None:
        super().__init__(hit_every)
        self.base_s, self.per_frame_s = base_ms / 1000, per_frame_ms / 1000

    def predict_jpeg(self, items: list[Any]) -> list[list[Any]]:
        time.sleep(self.base_s + self.per_frame_s * len(items))
        return super().predict_jpeg(items)


class _Gen2Watch:
    """Full collections and their pauses while installed."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._t = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._t = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    ap.add_argument("--rounds", type=int, default=2, help="default/frozen pairs, alternating")
    ap.add_argument("--procs", type=int, default=2, help="client processes")
    ap.add_argument("--streams", type=int, default=12, help="Detect streams in all")
    ap.add_argument("--base-ms", type=float, default=3.0, help="model call: fixed cost")
    ap.add_argument("--per-frame-ms", type=float, default=0.1, help="model call: cost per frame")
    ap.add_argument("--out", default=os.environ.get("OUT", ".") + "/detector_gc_bench.json")
    args = ap.parse_args()

    import torch  # the production detector's heap: torch and torchvision are imported

    import bkcore.heap as heap

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"python {platform.python_version()}, torch {torch.__version__}, load {os.getloadavg()[0]:.2f}"
    )
    print(f"objects tracked by the collector at start: {len(gc.get_objects())}")
    jpegs = render_jpegs(48)
    procs = max(1, args.procs)
    streams = max(1, args.streams // procs)
    kw = {
        "device": "cpu",
        "max_batch_size": 128,
        "max_wait_ms": 4.0,
        "max_queue_frames": 8192,
        "max_inflight_batches": 4,
        "inference_concurrency": 2,
        "device_decode": True,
        "evidence_max_pending": 200,
        "batch_buckets": "off",
    }
    model = SleepModel(args.base_ms, args.per_frame_ms, hit_every=50)
    report: dict[str, Any] = {"args": vars(args), "runs": []}

    def load(address: str, rate: float = 0.0) -> dict[str, Any]:
        return drive(
            address,
            jpegs,
            procs=procs,
            streams=streams,
            frames_per_batch=16,
            window=4,
            duration=args.duration,
            rate=rate,
        )

    def work(address: str) -> None:
        load(address)  # warm-up: thread pools, client processes, allocator
        peak = load(address)
        rate = peak["frames_per_s"] / 2
        print(f"max load {peak['frames_per_s']:.0f} frames/s; half load offered: {rate:.0f} frames/s")
        report["max"] = peak
        print("| heap | frames/s | p50 ms | p99 ms | max ms | full collections | longest pause ms |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for _ in range(args.rounds):
            for frozen in (False, True):
                heap.unfreeze()
                if frozen:
                    heap.freeze_startup_heap()
                watch = _Gen2Watch()
                gc.callbacks.append(watch)
                try:
                    res = load(address, rate)
                finally:
                    gc.callbacks.remove(watch)
                lat = res["batch_latency_ms"]
                longest = round(1000 * max(watch.pauses), 1) if watch.pauses else 0.0
                mode = "gc frozen" if frozen else "gc default"
                print(
                    f"| {mode} | {res['frames_per_s']:.0f} | {lat['p50']} | {lat['p99']} | {lat['max']} "
                    f"| {len(watch.pauses)} | {longest} |",
                    flush=True,
                )
                report["runs"].append(
                    {"mode": mode, **res, "gen2": len(watch.pauses), "gen2_max_ms": longest}
                )
        heap.unfreeze()

    asyncio.run(_serve(kw, work, model))
    Path(args.out).write_text(json.dumps(report, indent=2))
    for mode in ("gc default", "gc frozen"):
        p99 = [r["batch_latency_ms"]["p99"] for r in report["runs"] if r["mode"] == mode]
        print(f"{mode}: p99 per run {p99}")


if __name__ == "__main__":
    main()
