"""Detector pool autoscaling, simulated: does the chart's autoscaler ask for more pods under overload,
and fewer when the pool idles?

Each pod is a real ``DynamicBatcher`` (what ``bk_detector_load_ratio`` is measured in) serving a model
that takes a fixed time per batch and no CPU (``ScriptedModel(delay_s=...)`` sleeps in the batcher's
inference thread, like a GPU sync). Each pod is fed by gateway-like feeders: frames offered at a fixed
rate into a drop-oldest queue, sent in groups with at most 4 unanswered (the gateway's stream, without
gRPC). After a warm-up, the pods' load ratios are read and the chart's autoscaler is applied with the
Kubernetes formula, ``desired = ceil(current x average / target)``, nothing done within 10% of the
target, clamped to min/max replicas; the target, metric and bounds come from the rendered chart.
Time is compressed (20 ms batches, a 0.5 s averaging constant instead of 15 s): the ratio is
dimensionless, the steps are the same. The pods here are model-bound; the ratio's other reading, the
event loop thread's CPU share, is off, as every simulated pod and gateway shares this one loop.

    .venv/bin/python bench/autoscale_sim.py [--values values-prod.yaml] [--overload 3]

Prints, per autoscaler period, the pods, frames offered / served / dropped per pod and second, the
average load ratio and the replicas the autoscaler asks for; then an idle pool and a pool at half load.
Also imported by tests/deploy/test_autoscaling.py (one harness for the test and the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import math
import os
import platform
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from bk_detector import metrics
from bk_detector.batching import DynamicBatcher
from bk_detector.testing import ScriptedModel

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "bright-kitchen"
METRIC = metrics.LOAD_RATIO.describe()[0].name  # what the detector exports
TOLERANCE = 0.1  # the HPA controller's default --horizontal-pod-autoscaler-tolerance
FRAME = np.zeros((2, 2, 3), np.uint8)  # the model never looks at it


# --- the chart's autoscaler ------------------------------------------------------------------------


@dataclass(frozen=True)
class Autoscaler:
    """The detector pool's autoscaler as rendered: what it reads, its target and bounds."""

    kind: str  # HorizontalPodAutoscaler (Pods metric, per-pod average) or ScaledObject (pool sum)
    metric: str
    target: float  # per pod
    min_replicas: int
    max_replicas: int

    def desired(self, current: int, average: float) -> int:
        """Replicas the HPA controller asks for (KEDA hands its ScaledObject to the same controller:
        ``sum / threshold`` over ``current`` pods is the same ratio as ``average / target``)."""
        ratio = average / self.target
        want = current if abs(ratio - 1) <= TOLERANCE else math.ceil(current * ratio - 1e-9)
        return max(self.min_replicas, min(self.max_replicas, want))


def quantity(text: str) -> float:
    """A Kubernetes quantity as a number ("0.7", "700m", "1")."""
    text = str(text).strip()
    return float(Decimal(text[:-1]) / 1000) if text.endswith("m") else float(Decimal(text))


def detector_autoscaler(docs: list[dict[str, Any]]) -> Autoscaler:
    """The detector pool's HPA or ScaledObject in rendered manifests, read for ``METRIC``."""
    for d in docs:
        if d.get("kind") == "HorizontalPodAutoscaler" and d["spec"]["scaleTargetRef"]["name"].endswith(
            "-detector"
        ):
            for m in d["spec"]["metrics"]:
                if m["type"] == "Pods" and m["pods"]["metric"]["name"] == METRIC:
                    target = m["pods"]["target"]
                    assert target["type"] == "AverageValue", target
                    return Autoscaler(
                        d["kind"],
                        METRIC,
                        quantity(target["averageValue"]),
                        d["spec"]["minReplicas"],
                        d["spec"]["maxReplicas"],
                    )
        if d.get("kind") == "ScaledObject" and d["spec"]["scaleTargetRef"]["name"].endswith("-detector"):
            for t in d["spec"]["triggers"]:
                query = t["metadata"].get("query", "")
                if t["type"] == "prometheus" and METRIC in query:
                    assert query.startswith(f"sum({METRIC}"), f"the pool's sum, divided per pod: {query}"
                    return Autoscaler(
                        d["kind"],
                        METRIC,
                        quantity(t["metadata"]["threshold"]),
                        d["spec"]["minReplicaCount"],
                        d["spec"]["maxReplicaCount"],
                    )
    raise LookupError(f"no detector autoscaler on {METRIC} in the rendered chart")


def render_chart(values: list[str]) -> list[dict[str, Any]]:
    """The chart rendered the way k8s/render.py (and the deploy tests) render it."""
    import yaml

    spec = importlib.util.spec_from_file_location("bk_k8s_render", ROOT / "k8s" / "render.py")
    assert spec is not None and spec.loader is not None
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    return [d for d in yaml.safe_load_all(render.render([CHART / v for v in values])) if d]


# --- the simulated pool -----------------------------------------------------------------------------


@dataclass
class Feeder:
    """One gateway's frames for one pod: a drop-oldest queue, groups sent with at most ``inflight``
    unanswered (a DetectorStream without gRPC)."""

    rate: float  # frames offered per second
    group: int = 8
    inflight: int = 4
    queue_size: int = 512
    offered: int = 0
    served: int = 0
    dropped: int = 0

    async def run(self, batcher: DynamicBatcher, stop: asyncio.Event, tick_s: float = 0.01) -> None:
        loop = asyncio.get_running_loop()
        queue: deque[int] = deque()
        sending: set[asyncio.Task[None]] = set()
        owed, last = 0.0, loop.time()
        while not stop.is_set():
            now = loop.time()
            owed += self.rate * (now - last)
            last = now
            new, owed = int(owed), owed - int(owed)
            self.offered += new
            queue.extend(range(new))
            while len(queue) > self.queue_size:  # the gateway keeps the freshest frames
                queue.popleft()
                self.dropped += 1
            while queue and len(sending) < self.inflight:
                n = min(len(queue), self.group)
                for _ in range(n):
                    queue.popleft()
                task = asyncio.create_task(self._send(batcher, n))
                sending.add(task)
                task.add_done_callback(sending.discard)
            await asyncio.sleep(tick_s)
        await asyncio.gather(*sending)

    async def _send(self, batcher: DynamicBatcher, n: int) -> None:
        await batcher.submit_many([FRAME] * n)
        self.served += n


@dataclass(frozen=True)
class PoolFigures:
    pods: int
    offered_fps: float  # per pod
    served_fps: float  # per pod
    dropped_fps: float  # per pod
    load_ratio: float  # average over the pods, as the autoscaler sees it
    capacity_fps: float  # per pod, as the pods learned it from their batches
    exported: float  # the bk_detector_load_ratio gauge's value (the last pod started)
    last_pod_ratio: float  # that pod's own ratio at the same moment


async def run_pool(
    pods: int,
    offered_fps: float,
    *,
    batch_s: float = 0.02,
    max_batch: int = 8,
    feeders: int = 2,
    tau_s: float = 0.5,
    measure_s: float = 2.0,
) -> PoolFigures:
    """``pods`` detectors sharing ``offered_fps`` in total (the gateways spread cameras evenly)."""
    batchers = [
        DynamicBatcher(
            ScriptedModel(delay_s=batch_s),
            max_batch_size=max_batch,
            max_wait_ms=5,
            max_queue=8 * max_batch,
            load_tau_s=tau_s,
            loop_probe_s=0,  # one event loop runs every pod and gateway here: its CPU share is no pod's
        )
        for _ in range(pods)
    ]
    for b in batchers:
        await b.start()
    stop = asyncio.Event()
    per_feeder = offered_fps / pods / feeders
    fed = [(b, Feeder(per_feeder)) for b in batchers for _ in range(feeders)] if offered_fps > 0 else []
    tasks = [asyncio.create_task(f.run(b, stop)) for b, f in fed]
    try:
        await asyncio.sleep(4 * tau_s)  # the average settles (98% of a step)
        before = [(f.offered, f.served, f.dropped) for _, f in fed]
        await asyncio.sleep(measure_s)
        ratios = [b.load.ratio() for b in batchers]
        capacity = [b.load.capacity() or 0.0 for b in batchers]
        exported = metrics.LOAD_RATIO.collect()[0].samples[0].value
        after = [(f.offered, f.served, f.dropped) for _, f in fed]
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        for b in batchers:
            await b.stop()

    def per_pod_fps(i: int) -> float:
        return sum(a[i] - b[i] for a, b in zip(after, before, strict=True)) / measure_s / pods

    return PoolFigures(
        pods,
        per_pod_fps(0),
        per_pod_fps(1),
        per_pod_fps(2),
        sum(ratios) / pods,
        sum(capacity) / pods,
        exported,
        ratios[-1],
    )


async def scale_out(
    scaler: Autoscaler, overload: float, *, pod_fps: float, max_steps: int = 8, **pool: Any
) -> list[tuple[PoolFigures, int]]:
    """Offer ``overload`` x what the minimum pool serves; apply the autoscaler period after period
    until it asks for no change. Each period's figures and the replicas asked for."""
    offered = overload * pod_fps * scaler.min_replicas
    pods, steps = scaler.min_replicas, []
    for _ in range(max_steps):
        fig = await run_pool(pods, offered, **pool)
        want = scaler.desired(pods, fig.load_ratio)
        steps.append((fig, want))
        if want == pods:
            break
        pods = want
    return steps


# --- the report -------------------------------------------------------------------------------------


def _row(fig: PoolFigures, want: int) -> str:
    capacity = f"{fig.capacity_fps:,.0f}" if fig.served_fps else "-"
    return (
        f"| {fig.pods} | {fig.offered_fps:,.0f} | {fig.served_fps:,.0f} | {fig.dropped_fps:,.0f} "
        f"| {capacity} | {fig.load_ratio:.2f} | {want} |"
    )


HEADER = (
    "| pods | offered/pod (frames/s) | served/pod | dropped/pod | capacity/pod (learned) | load ratio "
    "| autoscaler asks |\n| --- | --- | --- | --- | --- | --- | --- |"
)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--values", action="append", default=[], help="chart values file, e.g. values-prod.yaml")
    ap.add_argument("--overload", type=float, default=3.0, help="offered / what the minimum pool serves")
    ap.add_argument("--batch-ms", type=float, default=20.0, help="model time per batch")
    ap.add_argument("--max-batch", type=int, default=8)
    args = ap.parse_args()
    scaler = detector_autoscaler(render_chart(args.values))
    pod_fps = args.max_batch / (args.batch_ms / 1000)
    pool = {"batch_s": args.batch_ms / 1000, "max_batch": args.max_batch}
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    print(
        f"chart ({', '.join(args.values) or 'default values'}): {scaler.kind} on {scaler.metric}, "
        f"target {scaler.target:g} per pod, {scaler.min_replicas}-{scaler.max_replicas} pods"
    )
    print(f"pod: {args.max_batch} frames per {args.batch_ms:g} ms batch = {pod_fps:,.0f} frames/s at most\n")
    print(f"{args.overload:g}x overload of the minimum pool, one autoscaler period per row:\n{HEADER}")
    for fig, want in await scale_out(scaler, args.overload, pod_fps=pod_fps, **pool):
        print(_row(fig, want))
    half = max(scaler.min_replicas, min(scaler.max_replicas, 4))
    fig = await run_pool(half, 0.5 * pod_fps * half, **pool)
    print(f"\nhalf load:\n{HEADER}\n{_row(fig, scaler.desired(half, fig.load_ratio))}")
    most = scaler.max_replicas
    fig = await run_pool(most, 0.0, **pool)
    print(f"\nidle, from the maximum pool:\n{HEADER}\n{_row(fig, scaler.desired(most, fig.load_ratio))}")


if __name__ == "__main__":
    asyncio.run(main())
