"""CPU per camera for the stream gateway: keyframes-only vs 1 fps vs decode-all, same run, same clip.

A 1080p H.264 clip (25 fps, GOP 2 s, synthetic kitchen) is encoded once, then pulled through the
gateway's own PyAVSource + Sampler in each mode; CPU seconds (process time) per second of video give
the cameras one core can carry. Usage: python bench/gateway_decode_bench.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from bk_gateway.sampler import Sampler, SamplingMode
from bk_gateway.sources.pyav import PyAVSource
from bk_gateway.synth_video import write_kitchen_video


def run(path: Path, mode: str) -> tuple[float, int]:
    keyframes = mode == "keyframes"
    src = PyAVSource(str(path), keyframes_only=keyframes, open_timeout_s=10, read_timeout_s=10,
                     watchdog_s=60, codecs=frozenset({"h264"}))
    sampler = Sampler(SamplingMode.KEYFRAMES if keyframes else SamplingMode.FPS,
                      1.0 if mode == "1fps" else 1000.0)
    start = time.process_time()
    src.open()
    sampled = 0
    for frame in src.frames():
        if sampler.take(frame.time_s, frame.keyframe):
            frame.probe()  # what every sampled frame costs the gateway's health checks
            sampled += 1
    src.close()
    return time.process_time() - start, sampled


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        clip = write_kitchen_video(Path(d) / "k1080.mkv", seconds=args.seconds, fps=25, width=1920,
                                   height=1080, gop_s=2.0, preset="ultrafast")
        print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
        print(f"clip: 1920x1080 H.264 25 fps GOP 2 s, {args.seconds:.0f} s")
        print("| mode | CPU s per video s | cameras per core | frames sampled |")
        print("| --- | --- | --- | --- |")
        for mode in ("keyframes", "1fps", "all"):
            cpu, n = run(clip, mode)
            per_s = cpu / args.seconds
            print(f"| {mode} | {per_s:.4f} | {1 / per_s:.0f} | {n} |")


if __name__ == "__main__":
    main()
