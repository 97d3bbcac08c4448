"""The detector's per-frame event-loop work once the model has answered: masks, tracking, rules,
voting and the reply, for frames that show people (the common case in a working kitchen).

A py-spy profile of one detector process at max load on an H100 (docs/benchmarks.md, detector)
found the event loop holding ~70 % of the GIL, most of it here, so this path sets how many frames
one process can answer. No model, no gRPC, no GPU: ``DetectionPipeline.judge_batch`` on FrameBatches
of 16 cameras, each frame with two cooks (hat, mask, uniform, gloves worn) and a closed bin moving a
little between frames, 2 frames/s per camera.

    PYTHONPATH=libs/bk-core/src:libs/bk-synth/src:services/detector/src \\
        python bench/detector_judge_bench.py [--batches 2000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import platform
import pstats
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

from bk_detector.pipeline import Analysed, DetectionPipeline
from bk_detector.settings import DetectorSettings
from bk_detector.testing import kitchen_detections
from bkproto.detector.v1 import detector_pb2 as pb

CAMERAS = 16


class _NoEvidence:
    """Nothing is raised with everything worn; should a rule fire, its job is dropped here."""

    def submit(self, job: object) -> None:
        return None


class _Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 11, 22, 12, tzinfo=UTC)

    def now(self) -> datetime:
        return self.t


def _batch(n: int) -> tuple[list[pb.Frame], list[Analysed]]:
    frames = [
        pb.Frame(frame_id=f"{n}-{c}", tenant_id="t", site_id="s", camera_id=f"c{c}") for c in range(CAMERAS)
    ]
    analysed = [
        Analysed(detections=kitchen_detections(n + c), detected=True, model_version="bench")
        for c in range(CAMERAS)
    ]
    return frames, analysed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=2000, help="FrameBatches per timed run")
    ap.add_argument("--runs", type=int, default=5, help="timed runs; the median is reported")
    ap.add_argument("--profile", action="store_true", help="also print where the time goes (cProfile)")
    args = ap.parse_args()

    clock = _Clock()
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = DetectionPipeline(
            settings=DetectorSettings(data_dir=tmp),
            batcher=None,  # type: ignore[arg-type]
            evidence=_NoEvidence(),
            model_version="bench",  # type: ignore[arg-type]
            clock=clock,
            input_size=(512, 288),
        )
        prepared = [_batch(n) for n in range(200)]

        def run(batches: int) -> None:
            for n in range(batches):
                frames, analysed = prepared[n % len(prepared)]
                clock.t += timedelta(milliseconds=500)
                pipeline.judge_batch(frames, analysed, pb.DetectionBatch())

        run(100)  # cameras, tracks and profiles exist from here on, as in a running service
        per_frame = []
        for _ in range(args.runs):
            start = time.perf_counter()
            run(args.batches)
            per_frame.append((time.perf_counter() - start) / (args.batches * CAMERAS))
        us = 1e6 * statistics.median(per_frame)
        print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
        print(
            f"judge_batch: {us:.1f} us per frame (3 detections, 16 cameras per FrameBatch; median of "
            f"{args.runs} runs of {args.batches} batches) -> {1e6 / us:,.0f} frames/s of one core"
        )
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(run, 300)
            pstats.Stats(profile).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
