"""CPU per camera for the stream gateway: keyframes-only vs 1 fps vs decode-all, same run, same clip.

A camera-like 1080p H.264 clip is encoded once: a bksynth kitchen scene (people moving) with a fixed
surface texture and per-frame sensor noise, x264 ``veryfast`` (not ``ultrafast``: CABAC, deblocking,
like an IP camera's main profile), 25 fps, fixed GOP 2 s, no B-frames, ~4 Mbit/s VBV-capped. It is
then pulled through the gateway's own PyAVSource + Sampler in each mode, with the 64×36 health probe
on every sampled frame (what the worker does before deciding to send a frame on). CPU = process time
per second of video (single decoding thread, as in the gateway), including opening the file.

The open (FFmpeg probing the stream) is timed apart: a camera opens once and runs for hours. For
reference the same scene is also encoded as a camera's 640x360 sub-stream (512 kbit/s) and pulled in
keyframes-only mode in the same run.

A second column adds what each sampled frame then costs on its way to the detectors: the 640x360 RGB
conversion and the JPEG encode (the worker's ``to_jpeg(frame.rgb(...))``; motion gating may skip it).

``--nvdec`` adds the 1080p rows decoded on the GPU's NVDEC (``BK_VIDEO_DECODER=nvdec``: the same
PyAVSource, FFmpeg's CUDA hwaccel), in the same run as the software rows. It needs an NVIDIA GPU with
the driver's video capability and fails, saying so, without one.

Usage: python bench/gateway_decode_bench.py [--seconds 20] [--preset veryfast] [--bitrate 4000] [--nvdec]
                                           [--nvdec-cameras 1 16 64]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from bk_gateway.encode import to_jpeg
from bk_gateway.sampler import Sampler, SamplingMode
from bk_gateway.sources import SourceError
from bk_gateway.sources.pyav import PyAVSource, check_nvdec
from bk_gateway.sources.sim import load_scenario

W, H, FPS, GOP_S = 1920, 1080, 25, 2.0


def _x264(out: av.container.OutputContainer, w: int, h: int, preset: str, kbps: int) -> av.VideoStream:
    gop = int(FPS * GOP_S)
    stream = out.add_stream("libx264", rate=FPS)
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    stream.codec_context.gop_size = gop
    stream.codec_context.bit_rate = kbps * 1000
    stream.codec_context.options = {
        "preset": preset,
        "bf": "0",
        "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:vbv-maxrate={kbps}:vbv-bufsize={kbps * 2}",
    }
    return stream


def write_camera_clip(
    path: Path, sub_path: Path, *, seconds: float, preset: str, kbps: int, seed: int = 3
) -> None:
    """A kitchen scene encoded like a 1080p IP camera's main stream (see the module docstring), and
    the same frames as its 640x360 sub-stream."""
    render = load_scenario("cooking")
    rng = np.random.default_rng(seed)
    texture = rng.normal(0.0, 5.0, (H, W, 1)).astype(np.float32)  # tiles, steel, food: not flat colour
    with av.open(str(path), "w") as out, av.open(str(sub_path), "w") as sub_out:
        main, sub = _x264(out, W, H, preset, kbps), _x264(sub_out, 640, 360, preset, 512)
        for i in range(int(seconds * FPS)):
            img = render(i / FPS, W, H).astype(np.float32) + texture
            img += rng.normal(0.0, 2.0, (H, W, 1)).astype(np.float32)  # sensor noise, every frame
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
            for packet in main.encode(frame):
                out.mux(packet)
            for packet in sub.encode(frame.reformat(width=640, height=360, format="yuv420p")):
                sub_out.mux(packet)
        for s, o in ((main, out), (sub, sub_out)):
            for packet in s.encode():
                o.mux(packet)


def src_seconds(path: Path) -> float:
    """The clip's length (a reused ``--clip`` need not be ``--seconds`` long)."""
    with av.open(str(path)) as c:
        return float(c.duration or 0) / 1_000_000


def clip_stats(path: Path) -> tuple[float, float]:
    """(mean bitrate kbit/s, mean keyframe size KB)."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        sizes, keys, n = 0, [], 0
        for p in c.demux(v):
            if p.size:
                sizes += p.size
                n += 1
                if p.is_keyframe:
                    keys.append(p.size)
    return sizes * 8 / (n / FPS) / 1000, sum(keys) / max(1, len(keys)) / 1024


def run(path: Path, seconds: float, mode: str) -> tuple[float, float, int, int, float]:
    """(CPU s of the pull per video s in steady state, CPU s of the detector JPEGs per video s, frames
    sampled, frames decoded, CPU s of the open and the first frame).

    The first frame is start-up, like the open: it pays for creating the decoder (~50 ms for an NVDEC
    decoder and its surfaces, once per camera). Steady state is the CPU of the frames after it, per
    frame, times the frames decoded per second of video."""
    keyframes = mode.startswith("keyframes")
    src = PyAVSource(
        str(path),
        keyframes_only=keyframes,
        open_timeout_s=10,
        read_timeout_s=10,
        watchdog_s=60,
        codecs=frozenset({"h264"}),
        skip_deblock=mode != "keyframes-deblock",
        decoder="nvdec" if mode.endswith("nvdec") else "software",
    )
    sampler = Sampler(
        SamplingMode.KEYFRAMES if keyframes else SamplingMode.FPS, 1.0 if mode.startswith("1fps") else 1000.0
    )
    start = time.process_time()
    src.open()
    first = 0.0
    sampled = decoded = 0
    jpeg_s = 0.0
    for frame in src.frames():
        decoded += 1
        if decoded == 1:
            first = time.process_time()
        if sampler.take(frame.time_s, frame.keyframe):
            frame.probe()  # what every sampled frame costs the gateway's health checks
            sampled += 1
            t = time.process_time()
            to_jpeg(frame.rgb(640, 360), 80)
            jpeg_s += time.process_time() - t
    pull_s = time.process_time() - first - jpeg_s
    if mode.endswith("nvdec") and src.decoder != "nvdec":
        raise SystemExit(f"{path.name}: NVDEC did not decode the stream (it went to {src.decoder})")
    src.close()
    return (pull_s / (decoded - 1) * decoded / seconds, jpeg_s / seconds, sampled, decoded, first - start)


def gpu_memory_mib() -> int:
    """Memory in use on the whole GPU (nvidia-smi): FFmpeg's decoders allocate outside any allocator we
    could ask."""
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.split()[0])


def nvdec_memory(path: Path, counts: tuple[int, ...]) -> list[tuple[int, int]]:
    """GPU memory (MiB above the idle GPU) with 1, ..., n cameras open on NVDEC at once, each past its
    first keyframe, so its decoder and its pool of surfaces exist. This sets cameras per GPU."""
    idle = gpu_memory_mib()
    sources: list[PyAVSource] = []
    pulls = []
    held = []
    try:
        for n in counts:
            while len(sources) < n:
                src = PyAVSource(
                    str(path),
                    keyframes_only=True,
                    open_timeout_s=10,
                    read_timeout_s=10,
                    watchdog_s=60,
                    codecs=frozenset({"h264"}),
                    decoder="nvdec",
                )
                src.open()
                sources.append(src)
                pulls.append(src.frames())
                next(pulls[-1])
            time.sleep(1.0)  # nvidia-smi samples; let it see the last allocation
            held.append((n, gpu_memory_mib() - idle))
    finally:
        for pull in pulls:
            pull.close()
        for src in sources:
            src.close()
    return held


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--preset", default="veryfast")
    ap.add_argument("--bitrate", type=int, default=4000, help="kbit/s (VBV cap), like a 1080p camera")
    ap.add_argument("--repeat", type=int, default=3, help="runs per mode; the lowest CPU is reported")
    ap.add_argument("--clip", type=Path, help="reuse (or write) the clip here instead of a temp dir")
    ap.add_argument(
        "--nvdec",
        action="store_true",
        help="add the 1080p rows decoded on NVDEC (needs an NVIDIA GPU), in the same run, and "
        "the GPU memory that cameras on NVDEC hold",
    )
    ap.add_argument(
        "--nvdec-cameras",
        type=int,
        nargs="+",
        default=[1, 16, 64],
        help="with --nvdec: how many cameras to hold open on NVDEC at once for the memory rows",
    )
    args = ap.parse_args()
    if args.seconds < 3 * GOP_S:
        ap.error(
            f"--seconds must be at least {3 * GOP_S:.0f}: steady state is timed after the first "
            "keyframe, so it needs a few more"
        )
    if args.nvdec:
        try:
            check_nvdec()
        except SourceError as exc:
            raise SystemExit(exc.message) from None
    with tempfile.TemporaryDirectory() as d:
        clip = args.clip or Path(d) / "k1080.mkv"
        sub_clip = clip.with_name(clip.stem + "-sub.mkv")
        if not (clip.exists() and sub_clip.exists()):
            t0 = time.monotonic()
            write_camera_clip(clip, sub_clip, seconds=args.seconds, preset=args.preset, kbps=args.bitrate)
            print(f"(clips encoded in {time.monotonic() - t0:.0f} s)")
        kbps, key_kb = clip_stats(clip)
        sub_kbps, sub_key_kb = clip_stats(sub_clip)
        print(
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
            f"python {platform.python_version()}, PyAV {av.__version__}, load {os.getloadavg()[0]:.2f}"
        )
        print(
            f"clip: 1920x1080 H.264 x264 {args.preset}, 25 fps, GOP 2 s, no B-frames, "
            f"{args.seconds:.0f} s, {kbps:.0f} kbit/s, keyframes {key_kb:.0f} KB on average"
        )
        print(
            f"sub-stream: 640x360, same scene and GOP, {sub_kbps:.0f} kbit/s, keyframes {sub_key_kb:.0f} KB"
        )
        print(
            "| clip | mode | CPU s per video s | cameras per core | with the detector JPEGs "
            "| frames decoded | frames sampled | open + first frame (CPU ms) |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        modes = ["keyframes", "keyframes-deblock", "1fps", "all"]
        if args.nvdec:
            modes += ["keyframes-nvdec", "1fps-nvdec"]
        rows = [("1080p", clip, m) for m in modes]
        rows.append(("640x360 sub", sub_clip, "keyframes"))
        seconds = {p: src_seconds(p) for p in (clip, sub_clip)}
        for name, path, mode in rows:
            results = [run(path, seconds[path], mode) for _ in range(args.repeat)]
            per_s, jpeg_s, n, dec, open_s = min(results)
            print(
                f"| {name} | {mode} | {per_s:.4f} | {1 / per_s:.0f} | {1 / (per_s + jpeg_s):.0f} "
                f"| {dec} | {n} | {open_s * 1000:.0f} |",
                flush=True,
            )
        if args.nvdec:
            held = nvdec_memory(clip, tuple(sorted(args.nvdec_cameras)))
            print("\n| 1080p cameras open on NVDEC | GPU memory held (MiB) |\n| --- | --- |")
            for n, mib in held:
                print(f"| {n} | {mib} |")
            (n0, m0), (n1, m1) = held[0], held[-1]
            if n1 > n0:
                print(
                    f"GPU memory per camera: {(m1 - m0) / (n1 - n0):.1f} MiB "
                    f"(first camera with the CUDA context: {m0} MiB)"
                )


if __name__ == "__main__":
    main()
