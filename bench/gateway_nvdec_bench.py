"""CPU per camera when NVDEC decodes the keyframes: the hardware-decode route for the gateway.

Not the gateway's code path (that is PyAV, software decode: ``bench/gateway_decode_bench.py``):
this measures what the host CPU would still pay per 1080p camera in keyframes-only mode if the
GPU's video decoder (NVDEC) did the decoding, so the route can be weighed against analysing the
sub-stream. It uses NVIDIA's PyNvVideoCodec: its FFmpeg demuxer reads every packet of the clip (a
live pull reads them all too), and only keyframe packets go to NVDEC, as the gateway's
keyframes-only mode sends only keyframes to its decoder. CPU = process time, single thread.

Needs a machine with an NVIDIA GPU and driver (libnvcuvid) and the PyNvVideoCodec wheel. The clip
is the one ``bench/gateway_decode_bench.py --clip PATH`` writes (1080p H.264, 25 fps, GOP 2 s,
~4 Mbit/s, ~308 KB keyframes): write it where PyAV is installed and carry it to the GPU machine.

Usage: python bench/gateway_nvdec_bench.py CLIP [--rounds 40]
"""

from __future__ import annotations

import argparse
import os
import platform
import time


def keyframes_pass(nvc: object, path: str, decoder: object) -> tuple[int, int, int]:
    """Demux every packet of ``path``; decode keyframes only. Returns (packets, keyframes, frames)."""
    packets = keys = frames = 0
    for packet in nvc.CreateDemuxer(filename=path):  # type: ignore[attr-defined]
        packets += 1
        if packet.key:
            keys += 1
            frames += sum(1 for _ in decoder.Decode(packet))  # type: ignore[attr-defined]
    return packets, keys, frames


def _read(obj: object, name: str) -> float:
    """A demuxer property, whether the binding exposes it as a method or an attribute."""
    value = getattr(obj, name)
    return float(value() if callable(value) else value)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip", help="1080p H.264 clip (see above)")
    ap.add_argument(
        "--rounds", type=int, default=40, help="passes over the clip (cameras, one after another)"
    )
    args = ap.parse_args()
    try:
        import PyNvVideoCodec as nvc
    except ImportError as exc:
        raise SystemExit(
            f"PyNvVideoCodec is not installed ({exc}): pip install PyNvVideoCodec on a "
            "machine with an NVIDIA GPU"
        ) from None

    probe = nvc.CreateDemuxer(filename=args.clip)
    width, height, fps = (_read(probe, name) for name in ("Width", "Height", "FrameRate"))
    decoder = nvc.CreateDecoder(gpuid=0, codec=probe.GetNvCodecId(), usedevicememory=True)
    packets, _, _ = keyframes_pass(nvc, args.clip, decoder)  # warm: decoder session, file cache
    seconds = packets / fps
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"clip {width:.0f}x{height:.0f}, {packets} packets, {seconds:.1f} s at {fps:g} fps"
    )

    cpu0, wall0 = time.process_time(), time.perf_counter()
    keys = frames = 0
    for _ in range(args.rounds):
        _, k, f = keyframes_pass(nvc, args.clip, decoder)
        keys, frames = keys + k, frames + f
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0

    cpu_demux0 = time.process_time()
    for _ in range(args.rounds):
        sum(1 for _ in nvc.CreateDemuxer(filename=args.clip))
    demux = time.process_time() - cpu_demux0

    video_s = seconds * args.rounds
    print("| mode | CPU ms per keyframe | CPU s per video s | cameras per core |")
    print("| --- | --- | --- | --- |")
    print(
        f"| NVDEC keyframes-only (demux all, decode keyframes) | {1000 * cpu / keys:.2f} | "
        f"{cpu / video_s:.5f} | {video_s / cpu:.0f} |"
    )
    print(f"| demux only | — | {demux / video_s:.5f} | {video_s / demux:.0f} |")
    print(
        f"({keys} keyframes sent to NVDEC, {frames} frames back; wall {wall:.2f} s for "
        f"{args.rounds} cameras one after another)"
    )


if __name__ == "__main__":
    main()
