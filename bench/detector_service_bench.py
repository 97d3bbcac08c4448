"""Detector benchmark: the service end to end over gRPC, and the model alone against a baseline.

    PYTHONPATH=libs/bk-core/src:libs/bk-synth/src:services/detector/src \\
        python bench/detector_service_bench.py            # on a GPU: the figures for docs/benchmarks.md
    ... python bench/detector_service_bench.py --tiny     # CPU smoke check (seconds)
    ... python bench/detector_service_bench.py --null --null-scene --procs 2
                                  # any machine: the server path's ceiling, every frame with people

1. Model only: kitchen model (fp16 on CUDA, uint8 input already on the device, forward + box
   decoding) at batch 1/8/32/128 against torchvision's ``fasterrcnn_mobilenet_v3_large_320_fpn``
   at the same input size, same device, same run; prints the ratios.
2. GPU JPEG decode alone (batched nvJPEG), for the bottleneck analysis.
3. End to end: the real ``DetectorService`` (gRPC server, dynamic batcher, GPU decode, tracking,
   rules, voting, evidence) in this process; client processes stream FrameBatches of realistic
   640x360 JPEGs rendered by bksynth over several concurrent gRPC streams, closed loop, as fast as
   the service answers: max frames/s. Every frame must come back with a result.
4. Open loop at half that rate: per-batch latency (send -> DetectionBatch back) p50/p99, once per
   ``--arrivals`` mode (paced: each stream at its own random phase, like independent cameras;
   poisson; lockstep: every stream at once), with the first server's stage breakdown, GC pauses
   and event-loop lag. The service starts as its runner starts it (start-up heap frozen).

Writes a JSON report (--out) and prints a table last.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any


def render_jpegs(n: int, width: int = 640, height: int = 360, quality: int = 85) -> list[bytes]:
    from PIL import Image

    from bksynth import demo_scenarios

    scenes = demo_scenarios(0)
    out = []
    for i in range(n):
        arr, _ = scenes[i % len(scenes)].render(2.0 + 0.7 * i, width, height)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
        out.append(buf.getvalue())
    return out


# -- 1. model only ------------------------------------------------------------------------------


def _time_loop(fn: Any, iters: int, cuda: bool) -> float:
    import torch

    for _ in range(3):
        fn()
    if cuda:
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t


def model_only(batches: list[int], device: str, seconds: float) -> dict[str, Any]:
    import torch
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn

    from bk_detector.model.runtime import ModelRuntime

    cuda = device.startswith("cuda")
    rt = ModelRuntime.load(None, device=device)
    w, h = rt.input_width, rt.input_height
    base = fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None).to(device).eval()
    dtype = torch.float16 if cuda else torch.float32
    base = base.to(dtype)
    res: dict[str, Any] = {
        "input": f"{w}x{h}",
        "precision": rt.precision,
        "kitchen": {},
        "baseline": {},
        "ratio": {},
    }
    for b in batches:
        x = torch.randint(0, 255, (b, 3, h, w), dtype=torch.uint8, device=device)
        one = _time_loop(lambda x=x: rt.predict_tensor(x), 1, cuda)
        iters = max(3, min(500, int(seconds / max(one, 1e-4))))
        res["kitchen"][b] = round(b * iters / _time_loop(lambda x=x: rt.predict_tensor(x), iters, cuda), 1)
        imgs = [torch.rand(3, h, w, device=device, dtype=dtype) for _ in range(b)]
        with torch.inference_mode():
            one = _time_loop(lambda imgs=imgs: base(imgs), 1, cuda)
            iters = max(2, min(200, int(seconds / max(one, 1e-4))))
            res["baseline"][b] = round(b * iters / _time_loop(lambda imgs=imgs: base(imgs), iters, cuda), 1)
        res["ratio"][b] = round(res["kitchen"][b] / res["baseline"][b], 1)
        print(
            f"model-only batch {b:4d}: kitchen {res['kitchen'][b]:9.0f} img/s  "
            f"baseline {res['baseline'][b]:7.0f} img/s  ratio {res['ratio'][b]:.1f}x",
            flush=True,
        )
    res["best_ratio"] = round(max(res["kitchen"].values()) / max(res["baseline"].values()), 1)
    return res


# -- 2. GPU decode alone --------------------------------------------------------------------------


def decode_only(jpegs: list[bytes], device: str, batch: int, seconds: float) -> dict[str, float]:
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    raw = [torch.frombuffer(bytearray(jpegs[i % len(jpegs)]), dtype=torch.uint8) for i in range(batch)]
    cuda = device.startswith("cuda")

    def run() -> None:
        decode_jpeg(raw, mode=ImageReadMode.RGB, device=device)

    one = _time_loop(run, 1, cuda)
    iters = max(3, int(seconds / max(one, 1e-4)))
    rate = batch * iters / _time_loop(run, iters, cuda)
    print(f"decode_jpeg batched ({device}, batch {batch}): {rate:.0f} frames/s", flush=True)
    return {"batch": batch, "frames_per_s": round(rate, 1)}


# -- 3/4. the service end to end --------------------------------------------------------------------


ARRIVALS = ("paced", "poisson", "lockstep")


def _client(
    address: str,
    jpegs: list[bytes],
    streams: int,
    frames_per_batch: int,
    window: int,
    duration: float,
    rate_per_stream: float,
    proc: int,
    q: Any,
    arrivals: str = "paced",
) -> None:
    """One client process: ``streams`` concurrent Detect streams; closed loop (rate 0) or open
    loop at ``rate_per_stream`` with ``arrivals``:

    - ``paced``: a fixed period per stream, each stream at its own random phase, as independent
      cameras sampled at a fixed rate arrive;
    - ``poisson``: random (exponential) gaps with the same mean: bursts happen;
    - ``lockstep``: a fixed period, every stream in the same phase: all of them send at the same
      instant, a burst of every stream's batch at once (the worst case; the old generator).
    """
    import random

    import grpc

    from bkproto.detector.v1 import detector_pb2 as pb
    from bkproto.detector.v1 import detector_pb2_grpc as pb_grpc

    async def stream(idx: int, stub: Any) -> tuple[int, int, int, list[float], set[str]]:
        cams = [f"p{proc}s{idx}c{c}" for c in range(frames_per_batch)]
        sent_at: dict[str, float] = {}
        lat: list[float] = []
        versions: set[str] = set()
        got = errors = 0
        slots = asyncio.Semaphore(window)
        call = stub.Detect()
        stop_at = time.perf_counter() + duration
        sent = 0
        rng = random.Random(proc * 1000 + idx)
        period = frames_per_batch / rate_per_stream if rate_per_stream > 0 else 0.0

        def gap() -> float:
            return rng.expovariate(1 / period) if arrivals == "poisson" else period

        async def writer() -> None:
            nonlocal sent
            n = 0
            next_t = time.perf_counter()
            if period and arrivals == "paced":
                next_t += rng.uniform(0, period) - period  # this stream's phase
            while time.perf_counter() < stop_at:
                await slots.acquire()
                if period:
                    next_t += gap()
                    delay = next_t - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                frames = [
                    pb.Frame(
                        frame_id=f"{n}-{c}",
                        tenant_id="bench",
                        site_id="s",
                        camera_id=cam,
                        jpeg=jpegs[(n * frames_per_batch + c + idx * 7) % len(jpegs)],
                    )
                    for c, cam in enumerate(cams)
                ]
                bid = f"{idx}-{n}"
                sent_at[bid] = time.perf_counter()
                await call.write(pb.FrameBatch(batch_id=bid, frames=frames))
                sent += len(frames)
                n += 1
            await call.done_writing()

        async def reader() -> None:
            nonlocal got, errors
            async for resp in call:
                lat.append(time.perf_counter() - sent_at.pop(resp.batch_id))
                got += len(resp.results)
                errors += sum(1 for r in resp.results if r.error)
                versions.add(resp.model_version)
                slots.release()

        await asyncio.gather(writer(), reader())
        return sent, got, errors, lat, versions

    async def main() -> None:
        opts = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
        async with grpc.aio.insecure_channel(address, options=opts) as channel:
            stub = pb_grpc.DetectorStub(channel)
            t0 = time.perf_counter()
            out = await asyncio.gather(*(stream(i, stub) for i in range(streams)))
            elapsed = time.perf_counter() - t0
        q.put(
            {
                "sent": sum(o[0] for o in out),
                "got": sum(o[1] for o in out),
                "errors": sum(o[2] for o in out),
                "lat": [x for o in out for x in o[3]],
                "versions": sorted({v for o in out for v in o[4]}),
                "elapsed": elapsed,
            }
        )

    import gc

    gc.freeze()  # as a service runner does (bkcore.heap): no full collection walks start-up objects
    asyncio.run(main())


def drive(
    address: str | list[str],
    jpegs: list[bytes],
    *,
    procs: int,
    streams: int,
    frames_per_batch: int,
    window: int,
    duration: float,
    rate: float = 0.0,
    arrivals: str = "paced",
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    per_stream = rate / (procs * streams) if rate > 0 else 0.0
    addresses = [address] if isinstance(address, str) else address
    # Client process i talks to server i mod n: each camera is pinned to one detector process,
    # as the gateway pins it.
    ps = [
        ctx.Process(
            target=_client,
            args=(
                addresses[i % len(addresses)],
                jpegs,
                streams,
                frames_per_batch,
                window,
                duration,
                per_stream,
                i,
                q,
                arrivals,
            ),
        )
        for i in range(procs)
    ]
    for p in ps:
        p.start()
    results = [q.get(timeout=duration + 120) for _ in ps]
    for p in ps:
        p.join(10)
    lat = sorted(x for r in results for x in r["lat"])
    elapsed = max(r["elapsed"] for r in results)
    got = sum(r["got"] for r in results)
    out = {
        "procs": procs,
        "streams": procs * streams,
        "frames_per_batch": frames_per_batch,
        "window": window,
        "offered_fps": rate or None,
        "arrivals": arrivals if rate else "closed loop",
        "sent": sum(r["sent"] for r in results),
        "got": got,
        "errors": sum(r["errors"] for r in results),
        "seconds": round(elapsed, 2),
        "frames_per_s": round(got / elapsed, 1),
        "batch_latency_ms": _ms_summary(lat, 1),
        "versions": sorted({v for r in results for v in r["versions"]}),
    }
    return out


_TIMED = (
    "bk_detector_batch_seconds",
    "bk_detector_queue_wait_seconds",
    "bk_detector_inference_seconds",
    "bk_detector_stage_seconds",
    "bk_gc_pause_seconds",
)


def _histograms() -> dict[str, dict[str, float]]:
    """This process's detector latency histograms: {series: {le or 'count'/'sum': value}}."""
    from prometheus_client import REGISTRY

    out: dict[str, dict[str, float]] = {}
    for metric in REGISTRY.collect():
        if metric.name not in _TIMED:
            continue
        for sample in metric.samples:
            labels = [f"{k}={v}" for k, v in sample.labels.items() if k != "le"]
            name = metric.name + (f"[{','.join(labels)}]" if labels else "")
            key = sample.labels.get("le") or sample.name.rsplit("_", 1)[-1]
            out.setdefault(name, {})[key] = sample.value
    return out


Histos = dict[str, dict[str, float]]


def stage_breakdown(before: Histos, after: Histos) -> dict[str, Any]:
    """Per series, over the interval: calls, mean ms and p99 ms (the upper edge of the histogram
    bucket holding the 99th percentile): where a batch's time went, in the server process."""
    out: dict[str, Any] = {}
    for name, now in after.items():
        then = before.get(name, {})
        n = now.get("count", 0.0) - then.get("count", 0.0)
        if n <= 0:
            continue
        edges = sorted(
            (float(k), now[k] - then.get(k, 0.0)) for k in now if k not in ("count", "sum", "created")
        )
        p99 = next((edge for edge, c in edges if c >= 0.99 * n), float("inf"))
        out[name] = {
            "calls": int(n),
            "mean_ms": round(1000 * (now["sum"] - then.get("sum", 0.0)) / n, 2),
            "p99_ms_at_most": round(1000 * p99, 1),
        }
    return out


def _ms_summary(seconds: list[float], digits: int) -> dict[str, float | None]:
    """p50 / p99 / max in ms of an ascending list of durations in seconds (None when empty)."""
    if not seconds:
        return {"p50": None, "p99": None, "max": None}
    return {
        "p50": round(1000 * statistics.median(seconds), digits),
        "p99": round(1000 * seconds[min(len(seconds) - 1, int(0.99 * len(seconds)))], digits),
        "max": round(1000 * seconds[-1], digits),
    }


class NullModel:
    """Zero-cost test double for the server-path ceiling: answers every frame instantly with canned
    detections (none for most frames; a person without a hat on every ``hit_every``-th), so what
    is measured is gRPC, batching, header checks, tracking, rules, voting, replies and evidence."""

    labels = ["person", "phone", "cigarette", "rodent", "trash_bin_open", "trash_bin_closed", "flame"]
    name, version, device, precision = "null", "null-1", "cpu", "fp32"
    input_width, input_height = 512, 288

    def __init__(self, hit_every: int = 0, scene: bool = False) -> None:
        # the pipeline's own Detection objects, as the real model (ModelRuntime) answers
        from bk_detector.detections import Detection
        from bk_detector.testing import kitchen_detections

        self.hit_every, self.scene = hit_every, scene
        self._n = 0
        self._hit = [
            Detection(
                "person",
                0.9,
                (0.1, 0.1, 0.3, 0.9),
                {"chef_hat": 0.1, "mask": 0.9, "uniform": 0.9, "gloves": 0.9},
            )
        ]
        # --null-scene: a working kitchen on every frame, as the real model sees the bench's frames
        self._scenes = [kitchen_detections(step) for step in range(7)]

    def predict(self, images: list[Any]) -> list[list[Any]]:
        return self.predict_jpeg(images)

    def predict_jpeg(self, items: list[Any]) -> list[list[Any]]:
        if self.scene:
            self._n += 1  # one step per model call: a camera's consecutive frames move a little
            return [self._scenes[self._n % len(self._scenes)] for _ in items]
        if not self.hit_every:
            return [[] for _ in items]
        out = []
        for _ in items:
            self._n += 1
            out.append(self._hit if self._n % self.hit_every == 0 else [])
        return out


class LoopProbe:
    """How late the server's event loop wakes up: one task asks to sleep 1 ms, over and over, and
    records how much later than asked it ran. Inference threads holding the GIL, or long callbacks
    on the loop, show up here as lag every gRPC read and reply also pays."""

    def __init__(self) -> None:
        # flat arrays of floats, not a list of tuples: nothing the garbage collector has to walk
        self.when, self.lag = array("d"), array("d")

    async def run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.when.append(now)
            self.lag.append(now - start - 0.001)

    def window(self, t0: float, t1: float) -> dict[str, float | None]:
        return _ms_summary(
            sorted(lag for when, lag in zip(self.when, self.lag, strict=True) if t0 <= when <= t1), 2
        )


async def _serve(
    settings_kw: dict[str, Any],
    work: Any,
    model: Any = None,
    switch_interval_ms: float | None = None,
    freeze: bool = True,
) -> Any:
    """Start the service as ``bkcore.standalone`` does (GC pauses observed, start-up heap frozen
    unless ``freeze`` is off), then run ``work(address, probe)`` in a thread."""
    import sys

    from bk_detector.service import create_service
    from bk_detector.settings import DetectorSettings
    from bkcore.bus.inproc import InProcessBus
    from bkcore.heap import freeze_startup_heap, install_gc_metrics
    from bkcore.objstore.local import LocalObjectStore
    from bkcore.service import Runtime
    from bkcore.testing.tokens import new_token_issuer

    tmp = Path(tempfile.mkdtemp(prefix="bk-bench-"))
    settings = DetectorSettings(data_dir=tmp, grpc_port=0, **settings_kw)
    bus = InProcessBus()
    store = LocalObjectStore(tmp / "objects", "bench-secret", "http://127.0.0.1:8000")
    service = create_service(
        Runtime(settings=settings, bus=bus, store=store, tokens=new_token_issuer()), settings, model=model
    )
    if switch_interval_ms:
        sys.setswitchinterval(switch_interval_ms / 1000)
    await bus.start()
    await service.start()
    install_gc_metrics()
    if freeze:
        freeze_startup_heap()
    probe = LoopProbe()
    probing = asyncio.create_task(probe.run())
    try:
        info = {
            "device": service.model.device,
            "precision": service.model.precision,  # type: ignore[union-attr]
            "device_decode": service.pipeline.device_decode,  # type: ignore[union-attr]
            "concurrency": service._batcher.concurrency,  # type: ignore[union-attr]
            "buckets": list(getattr(service.model, "buckets", ())),
            "cuda_graphs": bool(getattr(service.model, "cuda_graphs", False)),
            "switch_interval_ms": round(1000 * sys.getswitchinterval(), 3),
            "frozen_heap": freeze,
        }
        print(f"service up: {info}", flush=True)
        return info, await asyncio.to_thread(work, service.grpc_address, probe)
    finally:
        probing.cancel()
        await service.stop()
        await bus.stop()


def _extra_server(
    settings_kw: dict[str, Any], q: Any, stop: Any, switch_interval_ms: float | None, freeze: bool
) -> None:
    """Another detector process on the same device (``--servers``): reports its address, serves
    until told to stop."""

    def work(address: str, _probe: LoopProbe) -> None:
        q.put(address)
        stop.wait()

    asyncio.run(_serve(settings_kw, work, switch_interval_ms=switch_interval_ms, freeze=freeze))


def service_bench(
    jpegs: list[bytes],
    *,
    device: str,
    procs: int,
    streams: int,
    fpb: int,
    window: int,
    duration: float,
    max_batch: int,
    concurrency: int,
    device_decode: bool | None,
    half_load: bool,
    null_model: Any = None,
    servers: int = 1,
    buckets: str = "auto",
    warmup_s: float = 3.0,
    label: str = "",
    settings: dict[str, Any] | None = None,
    switch_interval_ms: float | None = None,
    freeze: bool = True,
    arrivals: tuple[str, ...] = ("paced",),
) -> dict[str, Any]:
    kw = {
        "device": device,
        "max_batch_size": max_batch,
        "max_wait_ms": 4.0,
        "max_queue_frames": 8192,
        "max_inflight_batches": window,
        "inference_concurrency": concurrency,
        "device_decode": device_decode,
        "evidence_max_pending": 200,
        "batch_buckets": buckets,
        **(settings or {}),
    }

    ctx = mp.get_context("spawn")
    q, stop = ctx.Queue(), ctx.Event()
    extra = [
        ctx.Process(target=_extra_server, args=(kw, q, stop, switch_interval_ms, freeze))
        for _ in range(servers - 1)
    ]
    for p in extra:
        p.start()

    def work(first: str, probe: LoopProbe) -> dict[str, Any]:
        address = [first] + [q.get(timeout=300) for _ in extra]
        drive(
            address,
            jpegs,
            procs=procs,
            streams=streams,
            frames_per_batch=fpb,
            window=window,
            duration=min(warmup_s, duration),
        )  # warm-up: allocator, thread pools, client processes
        peak = drive(
            address,
            jpegs,
            procs=procs,
            streams=streams,
            frames_per_batch=fpb,
            window=window,
            duration=duration,
        )
        print(
            f"  max load: {peak['frames_per_s']:.0f} frames/s, {peak['got']}/{peak['sent']} answered, "
            f"errors {peak['errors']}, batch p99 {peak['batch_latency_ms']['p99']} ms",
            flush=True,
        )
        out = {"max": peak}
        for mode in arrivals if half_load else ():
            before, t0 = _histograms(), time.perf_counter()
            half = drive(
                address,
                jpegs,
                procs=procs,
                streams=streams,
                frames_per_batch=fpb,
                window=window,
                duration=duration,
                rate=peak["frames_per_s"] / 2,
                arrivals=mode,
            )
            half["stages"] = stage_breakdown(before, _histograms())  # this process's server only
            half["loop_lag_ms"] = probe.window(t0, time.perf_counter())
            print(f"  half load, {mode} arrivals:", flush=True)
            print(f"    event-loop lag (1 ms sleeps, first server): {half['loop_lag_ms']}", flush=True)
            for name, st in half["stages"].items():
                print(
                    f"    {name}: {st['calls']} calls, mean {st['mean_ms']} ms, "
                    f"p99 <= {st['p99_ms_at_most']} ms",
                    flush=True,
                )
            print(
                f"  half load ({half['offered_fps']:.0f} offered, {mode}): {half['frames_per_s']:.0f} "
                f"frames/s, batch p50 {half['batch_latency_ms']['p50']} ms p99 "
                f"{half['batch_latency_ms']['p99']} ms",
                flush=True,
            )
            out.setdefault("half", half)  # the first mode is the headline figure
            out.setdefault("half_by_arrivals", {})[mode] = half
        return out

    try:
        info, out = asyncio.run(_serve(kw, work, null_model, switch_interval_ms, freeze))
    finally:
        stop.set()
        for p in extra:
            p.join(30)
    return {
        "config": {
            **kw,
            "label": label,
            "servers": servers,
            "procs": procs,
            "streams_per_proc": streams,
            "frames_per_batch": fpb,
            **info,
        },
        **out,
    }


def parse_variant(spec: str) -> dict[str, Any]:
    """``"label:key=value,key=value"`` -> service_bench keywords: label, settings (DetectorSettings
    fields), switch_interval_ms, freeze."""
    label, _, rest = spec.partition(":")
    out: dict[str, Any] = {"label": label or "variant", "settings": {}}
    for item in filter(None, (x.strip() for x in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"--variant {spec!r}: {item!r} is not KEY=VALUE")
        if key == "switch_interval_ms":
            out[key] = float(value)
        elif key == "freeze":
            out[key] = value.lower() in ("1", "true", "yes", "on")
        else:
            out["settings"][key] = value  # DetectorSettings validates (and converts) it
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="CPU smoke check: small sizes, a few seconds each")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=os.environ.get("OUT", ".") + "/detector_bench.json")
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--skip", nargs="*", default=[], help="sections to skip: model decode service")
    ap.add_argument(
        "--null",
        action="store_true",
        help="service only, with a zero-cost NullModel (header checks only, no decode, no "
        "inference): the server path's ceiling on this machine's CPUs",
    )
    ap.add_argument(
        "--null-hit-every",
        type=int,
        default=50,
        help="--null: every n-th frame shows a hatless person (0 = never)",
    )
    ap.add_argument(
        "--null-scene",
        action="store_true",
        help="--null: every frame shows two cooks and a bin (everything worn): the "
        "server path's ceiling when the model finds people, as in a working kitchen",
    )
    ap.add_argument("--procs", type=int, default=6, help="client processes (24 streams in all)")
    ap.add_argument(
        "--only-first",
        action="store_true",
        help="service: only the first (default) configuration, with its half-load run",
    )
    ap.add_argument(
        "--buckets",
        default="auto",
        help="BK_BATCH_BUCKETS for the service runs: sizes every model call is padded to "
        "(auto: 8..max batch on CUDA, off on CPU; off: no padding)",
    )
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of load before each measurement")
    ap.add_argument(
        "--servers",
        type=int,
        default=1,
        help="also run the default configuration with this many detector server processes "
        "sharing the device (client process i talks to server i mod n)",
    )
    ap.add_argument(
        "--only-servers",
        action="store_true",
        help="with --servers N: run only N server processes, not also one",
    )
    ap.add_argument(
        "--arrivals",
        nargs="+",
        choices=ARRIVALS,
        default=["paced"],
        help="how the half-load run offers its frames (one run per mode given): paced = "
        "each stream at a fixed period and its own random phase, like independent "
        "cameras; poisson = random gaps, same mean; lockstep = every stream at the "
        "same instant (worst-case bursts)",
    )
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL:KEY=VALUE,...",
        help="service: run the first configuration once per variant, each with these "
        "detector settings (fields of DetectorSettings, e.g. cuda_graphs=false,"
        "max_wait_ms=2), switch_interval_ms=N (the server's GIL switch "
        "interval) and freeze=false (do not freeze the start-up heap, which the "
        "service runner does); e.g. --variant eager:cuda_graphs=false --variant graphs:",
    )
    args = ap.parse_args()
    try:
        variants = [parse_variant(v) for v in args.variant]
    except ValueError as exc:
        ap.error(str(exc))
    import torch

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
    }
    print(f"device: {report['device']}, torch {report['torch']}, {report['cpus']} CPUs", flush=True)
    jpegs = render_jpegs(16 if args.tiny else 96)
    report["jpeg_bytes_mean"] = round(sum(map(len, jpegs)) / len(jpegs))

    def save() -> None:
        Path(args.out).write_text(json.dumps(report, indent=2))

    if args.null:
        args.skip = ["model", "decode", "service"]
        procs = max(1, args.procs)
        report["service_null"] = [
            service_bench(
                jpegs,
                device="cpu",
                duration=args.duration,
                procs=procs,
                streams=max(1, 24 // procs),
                fpb=16,
                window=4,
                max_batch=128,
                concurrency=1,
                device_decode=True,
                half_load=True,
                null_model=NullModel(args.null_hit_every, scene=args.null_scene),
            )
        ]
        save()
    if "model" not in args.skip:
        try:
            report["model_only"] = model_only(
                [1, 8] if args.tiny else [1, 8, 32, 128], device, 0.3 if args.tiny else 1.5
            )
        except Exception as exc:  # one section failing must not cost the others
            report["model_only"] = {"error": repr(exc)}
            print("model-only failed:", repr(exc), flush=True)
        save()
    if "decode" not in args.skip:
        try:
            report["decode_only"] = decode_only(
                jpegs, device, 8 if args.tiny else 128, 0.3 if args.tiny else 1.5
            )
        except Exception as exc:
            report["decode_only"] = {"error": repr(exc)}
            print("decode failed:", repr(exc), flush=True)
        save()
    if "service" not in args.skip:
        if args.servers > 1 or args.only_first:
            configs = [
                dict(
                    procs=args.procs,
                    streams=1 if args.tiny else max(1, 24 // args.procs),
                    fpb=4 if args.tiny else 16,
                    window=2 if args.tiny else 4,
                    max_batch=8 if args.tiny else 128,
                    concurrency=2,
                    device_decode=None,
                    half_load=True,
                )
            ]
            counts = [args.servers] if args.only_servers else sorted({1, args.servers})
            configs = [dict(c, servers=n) for c in configs for n in counts]
            if variants:
                configs = [dict(c, **v) for c in configs for v in variants]
        elif args.tiny:
            configs = [
                dict(
                    procs=1,
                    streams=2,
                    fpb=4,
                    window=2,
                    max_batch=8,
                    concurrency=1,
                    device_decode=None,
                    half_load=True,
                ),
                dict(
                    procs=1,
                    streams=2,
                    fpb=4,
                    window=2,
                    max_batch=8,
                    concurrency=2,
                    device_decode=True,
                    half_load=False,
                ),
            ]
        else:
            configs = [
                dict(
                    procs=6,
                    streams=4,
                    fpb=16,
                    window=4,
                    max_batch=128,
                    concurrency=2,
                    device_decode=None,
                    half_load=True,
                ),
                dict(
                    procs=6,
                    streams=4,
                    fpb=16,
                    window=4,
                    max_batch=256,
                    concurrency=3,
                    device_decode=None,
                    half_load=False,
                ),
                dict(
                    procs=6,
                    streams=4,
                    fpb=16,
                    window=4,
                    max_batch=128,
                    concurrency=2,
                    device_decode=False,
                    half_load=False,
                ),
            ]
        report["service"] = []
        for cfg in configs:
            print(f"service: {cfg}", flush=True)
            try:
                report["service"].append(
                    service_bench(
                        jpegs,
                        device=device,
                        duration=2.0 if args.tiny else args.duration,
                        buckets=args.buckets,
                        warmup_s=args.warmup,
                        arrivals=tuple(args.arrivals),
                        **cfg,
                    )
                )
            except Exception as exc:
                report["service"].append({"config": cfg, "error": repr(exc)})
                print("service run failed:", repr(exc), flush=True)
            save()
    save()
    print("\n== summary ==")
    print(json.dumps({k: v for k, v in report.items() if not k.startswith("service")}, indent=1))
    for run in report.get("service_null", []) + report.get("service", []):
        if "max" in run:
            c = run["config"]
            line = (
                f"{c.get('label') or 'service'} x{c.get('servers', 1)} batch<={c['max_batch_size']} "
                f"buckets={c.get('buckets')} "
                f"conc={c['inference_concurrency']} graphs={c.get('cuda_graphs')} "
                f"gpu_decode={c['device_decode']} streams={c['procs'] * c['streams_per_proc']}: "
                f"max {run['max']['frames_per_s']:.0f} fps ({run['max']['got']}/{run['max']['sent']}, "
                f"err {run['max']['errors']})"
            )
            for mode, half in run.get("half_by_arrivals", {"": run["half"]} if "half" in run else {}).items():
                line += (
                    f"; half load{' ' + mode if mode else ''} {half['frames_per_s']:.0f} fps p50 "
                    f"{half['batch_latency_ms']['p50']} ms p99 "
                    f"{half['batch_latency_ms']['p99']} ms, loop lag p99 "
                    f"{half.get('loop_lag_ms', {}).get('p99')} ms"
                )
            print(line)
        else:
            print("service run:", run)


if __name__ == "__main__":
    main()
