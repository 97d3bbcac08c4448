"""Dynamic batching across every stream and camera: the GPU sees full batches, callers see one frame.

Callers hand in groups of frames (one FrameBatch: one queue entry and one future, not one per
frame). Frames wait in a bounded queue; one collector takes up to ``max_batch_size`` of them
(splitting a group across batches when it does not fit), waiting for a partial batch to fill
until its oldest frame has waited ``max_wait_ms`` since it arrived (frames that queued while every
inference slot was busy have waited already and go at once), and runs the model in a worker thread
so the event
loop keeps serving gRPC. A full queue blocks ``submit``, which stops the gRPC reader, which lets
HTTP/2 flow control push back on the gateway: backpressure end to end.

Items are decoded RGB arrays, or, when the model decodes on its own device (``predict_jpeg``:
nvJPEG on the GPU), the JPEG bytes themselves: a batch of bytes is decoded in one batched call.

Model calls run on the batcher's own inference threads, one per batch in flight, always the same
ones (not the event loop's shared default pool): per-thread GPU state (the CUDA stream, cuDNN's
execution-plan cache) stays warm, and ``warm_up`` runs the model's warm-up (each padded batch
size once, see ``ModelRuntime``) on every one of them before the first batch.

``swap_model`` replaces the model between two batches: the batch being run finishes on the model
it started with, the next one runs on the new model, and no queued frame is lost or run twice.
Each result carries the version of the model that produced it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from bk_detector import metrics
from bk_detector.load import PodLoad
from bk_detector.modelapi import DetectionModel, RawDetectionLike
from bkcore.tasks import cancel_and_wait, wait_event

log = logging.getLogger("bk_detector.batching")


class InferenceError(RuntimeError):
    """The model call for this frame's batch failed."""


SHUTTING_DOWN = "detector is shutting down"
# Time constant of bk_detector_load_ratio: a step in load shows 63% within it, 95% within 3x; about
# the HPA's 15 s period, so the autoscaler sees the last minute, not one batch.
LOAD_TAU_S = 15.0
LOOP_PROBE_S = 1.0  # how often the event loop thread's CPU time is read for the load ratio


Versioned = tuple[Sequence[RawDetectionLike], str]  # detections + the model version that made them


Outcome = Versioned | Exception  # per frame: its detections, or why it has none (FrameError, ...)


@dataclass(slots=True, eq=False)
class _Group:
    """The frames of one caller (one FrameBatch): one queue entry and one future for all of them,
    not one per frame. A group larger than the room left in a batch is split across batches."""

    images: Sequence[np.ndarray | bytes]
    future: asyncio.Future[list[Outcome]]
    results: list[Outcome | None]
    remaining: int  # frames whose outcome is still unknown
    arrived: float  # time.monotonic() when it was queued
    taken: int = 0  # frames handed to a batch so far


class DynamicBatcher:
    def __init__(
        self,
        model: DetectionModel,
        *,
        max_batch_size: int,
        max_wait_ms: float,
        max_queue: int,
        concurrency: int = 1,
        load_tau_s: float = LOAD_TAU_S,
        loop_probe_s: float = LOOP_PROBE_S,
    ) -> None:
        self.model = model
        # Batches run at once (each in its own worker thread and, on CUDA, its own stream): with 2,
        # the next batch decodes and runs on the GPU while the last one's results go back to Python.
        self.concurrency = max(1, concurrency)
        self._inflight: set[asyncio.Task[None]] = set()
        self.max_batch_size = max_batch_size
        # bk_detector_load_ratio, what the pool scales on: frames served / frames servable
        self.load = PodLoad(max_batch_size, self.concurrency, load_tau_s)
        self._loop_probe_s = loop_probe_s  # 0: the loop's share is not read (a process of many batchers)
        self._probe: asyncio.Task[None] | None = None
        self.max_wait_s = max_wait_ms / 1000
        self.max_queue = max(1, max_queue)
        self._pending: deque[_Group] = deque()
        self._queued = 0  # frames waiting (counted from admission, so waiters cannot overshoot)
        self._space: deque[tuple[int, asyncio.Future[None]]] = deque()  # callers waiting for room
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._cuda = str(getattr(model, "device", "")).startswith("cuda")
        # One single-thread executor per batch in flight; _infer borrows an idle one.
        self._workers: list[ThreadPoolExecutor] = []
        self._idle: deque[ThreadPoolExecutor] = deque()

    def swap_model(self, model: DetectionModel) -> DetectionModel:
        """Use ``model`` from the next batch on; returns the previous one. Call on the event loop:
        ``_infer`` reads ``self.model`` once per batch, so a batch never mixes two models."""
        old, self.model = self.model, model
        self._cuda = str(getattr(model, "device", "")).startswith("cuda")
        return old

    async def start(self) -> None:
        if self._task is None:
            if not self._workers:
                self._workers = [
                    ThreadPoolExecutor(1, thread_name_prefix=f"bk-infer-{i}") for i in range(self.concurrency)
                ]
                self._idle = deque(self._workers)
            await self.warm_up(self.model)
            self._task = asyncio.create_task(self._run(), name="detector-batcher")
            if self._loop_probe_s > 0:
                self._probe = asyncio.create_task(self._probe_loop(), name="detector-loop-probe")
            metrics.LOAD_RATIO.set_function(self.load.ratio)

    async def _probe_loop(self) -> None:
        """Read this (the event loop's) thread's CPU time: a loop-bound pod's load shows there."""
        while True:
            self.load.loop_sample(time.thread_time())
            await asyncio.sleep(self._loop_probe_s)

    async def warm_up(self, model: DetectionModel) -> None:
        """Run ``model.warm_up`` (if it has one) once on each inference thread. Before ``start``
        there are no threads yet: ``start`` warms its model up itself."""
        fn = getattr(model, "warm_up", None)
        if fn is None or not self._workers:
            return
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        await asyncio.gather(*(loop.run_in_executor(ex, fn) for ex in self._workers))
        log.info(
            "model warmed up on %d inference threads in %.2f s",
            len(self._workers),
            time.perf_counter() - start,
        )

    async def stop(self) -> None:
        if self._probe is not None:
            await cancel_and_wait(self._probe)
            self._probe = None
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        shutting = InferenceError(SHUTTING_DOWN)
        while self._pending:  # nobody will run these: tell their callers
            group = self._pending.popleft()
            if not group.future.done():
                group.future.set_exception(shutting)
        self._queued = 0
        while self._space:
            _, waiter = self._space.popleft()
            if not waiter.done():
                waiter.set_exception(shutting)
        metrics.QUEUE_DEPTH.set(0)
        metrics.LOAD_RATIO.set_function(lambda: 0.0)
        for ex in self._workers:  # a model call still running finishes on its own
            ex.shutdown(wait=False, cancel_futures=True)
        self._workers, self._idle = [], deque()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def submit(self, image: np.ndarray) -> Sequence[RawDetectionLike]:
        """Detections for one image; waits (backpressure) while the queue is full."""
        return (await self.submit_versioned(image))[0]

    async def submit_versioned(self, image: np.ndarray | bytes) -> Versioned:
        """Detections for one RGB image (or JPEG bytes, for a model with ``predict_jpeg``), and the
        version of the model that produced them. A frame the model cannot decode raises FrameError."""
        [outcome] = await self.submit_many([image])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def submit_many(self, images: Sequence[np.ndarray | bytes]) -> list[Outcome]:
        """One outcome per image, in order: (detections, model version), or the exception that
        frame alone got (FrameError: undecodable; InferenceError: its model call failed). One
        queue entry and one future for the lot. Waits (backpressure) while the queue is full;
        raises InferenceError when the batcher is not running or shuts down meanwhile."""
        if not self.running:
            raise InferenceError("batcher is not running")
        n = len(images)
        if n == 0:
            return []
        await self._admit(n)
        group = _Group(images, asyncio.get_running_loop().create_future(), [None] * n, n, time.monotonic())
        self._pending.append(group)
        metrics.QUEUE_DEPTH.set(self._queued)
        self._arrived.set()
        return await group.future  # type: ignore[return-value]

    async def _admit(self, n: int) -> None:
        """Reserve room for ``n`` frames, first come first served. A group larger than the whole
        queue is let in when the queue is empty, so it is never refused for good."""
        if not self._space and (self._queued == 0 or self._queued + n <= self.max_queue):
            self._queued += n
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._space.append((n, waiter))
        try:
            await waiter  # _make_room reserved our n frames before waking us
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._queued -= n  # woken and cancelled at once: give the room back
            with contextlib.suppress(ValueError):
                self._space.remove((n, waiter))
            self._make_room()
            raise

    def _make_room(self) -> None:
        while self._space:
            n, waiter = self._space[0]
            if waiter.done():  # cancelled while waiting
                self._space.popleft()
                continue
            if self._queued and self._queued + n > self.max_queue:
                return
            self._space.popleft()
            self._queued += n
            waiter.set_result(None)

    async def _run(self) -> None:
        if self.concurrency == 1:
            while True:
                batch = await self._collect()
                await self._infer(batch)
        slots = asyncio.Semaphore(self.concurrency)
        try:
            while True:
                await slots.acquire()
                batch = await self._collect()
                task = asyncio.create_task(self._infer(batch))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
                task.add_done_callback(lambda _: slots.release())
        finally:
            for task in list(self._inflight):
                task.cancel()

    def _take(self, parts: list[tuple[_Group, int, int]], size: int) -> int:
        """Move queued frames into ``parts`` until the batch is full; returns the new size."""
        while self._pending and size < self.max_batch_size:
            group = self._pending[0]
            left = len(group.images) - group.taken
            if group.future.done():  # its caller gave up (cancelled): skip what is left of it
                self._pending.popleft()
                self._queued -= left
                continue
            take = min(left, self.max_batch_size - size)
            parts.append((group, group.taken, group.taken + take))
            group.taken += take
            self._queued -= take
            size += take
            if group.taken == len(group.images):
                self._pending.popleft()
        self._make_room()
        return size

    async def _collect(self) -> list[tuple[_Group, int, int]]:
        while not self._pending:
            self._arrived.clear()
            await self._arrived.wait()
        parts: list[tuple[_Group, int, int]] = []
        size = self._take(parts, 0)
        # counted from the oldest frame's arrival, not from now: a frame that queued behind busy
        # inference slots has waited its share already
        oldest = parts[0][0].arrived if parts else time.monotonic()
        deadline = oldest + self.max_wait_s
        try:
            while size < self.max_batch_size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrived.clear()
                if not await wait_event(self._arrived, remaining):
                    break
                size = self._take(parts, size)
        except asyncio.CancelledError:  # stopped while gathering: these frames left the queue
            _fail_unanswered(parts)
            raise
        metrics.QUEUE_DEPTH.set(self._queued)
        return parts

    async def _infer(self, parts: list[tuple[_Group, int, int]]) -> None:
        live = [p for p in parts if not p[0].future.done()]
        if not live:
            return
        inputs = [img for group, lo, hi in live for img in group.images[lo:hi]]
        metrics.BATCH_SIZE.observe(len(inputs))
        now = time.monotonic()
        for group, _, _ in live:
            metrics.QUEUE_WAIT_SECONDS.observe(now - group.arrived)
        model = self.model  # read once: a swap during this batch applies from the next one
        version = str(model.version)
        start = time.perf_counter()
        # An idle inference thread (there is always one: at most `concurrency` batches run at
        # once); the event loop's default pool only if the batcher was never started.
        worker = self._idle.popleft() if self._idle else None
        self.load.begin()
        served = 0  # frames the model answered: what the load counts
        try:
            fn = model.predict_jpeg if all(isinstance(x, bytes) for x in inputs) else model.predict  # type: ignore[attr-defined]
            results = await asyncio.get_running_loop().run_in_executor(worker, fn, inputs)
            if len(results) != len(inputs):
                raise InferenceError(f"model returned {len(results)} results for {len(inputs)} images")
            served = len(inputs)
        except asyncio.CancelledError:  # shutting down mid-batch: nobody will answer these frames
            _fail_unanswered(live)
            raise
        except Exception as exc:
            log.exception("model call failed for a batch of %d frames", len(inputs))
            error = exc if isinstance(exc, InferenceError) else InferenceError(f"inference failed: {exc}")
            for group, lo, hi in live:
                self._settle(group, lo, [error] * (hi - lo))
            return
        finally:
            self.load.end(served, time.perf_counter() - start)
            if worker is not None and worker in self._workers:
                self._idle.append(worker)
            metrics.INFERENCE_SECONDS.observe(time.perf_counter() - start)
            if self._cuda:
                metrics.GPU_MEMORY_BYTES.set(_cuda_memory())
        at = 0
        for group, lo, hi in live:
            # an Exception in a slot: that frame alone failed (predict_jpeg: undecodable)
            self._settle(
                group,
                lo,
                [r if isinstance(r, Exception) else (r, version) for r in results[at : at + hi - lo]],
            )
            at += hi - lo

    @staticmethod
    def _settle(group: _Group, lo: int, outcomes: list[Outcome]) -> None:
        group.results[lo : lo + len(outcomes)] = outcomes
        group.remaining -= len(outcomes)
        if group.remaining <= 0 and not group.future.done():
            group.future.set_result(group.results)  # type: ignore[arg-type]


def _fail_unanswered(parts: list[tuple[_Group, int, int]]) -> None:
    """Shutting down with these frames out of the queue: tell their callers instead of leaving
    them waiting on a future nobody will set."""
    for group, _, _ in parts:
        if not group.future.done():
            group.future.set_exception(InferenceError(SHUTTING_DOWN))


def _cuda_memory() -> float:
    try:
        import torch

        return float(torch.cuda.memory_allocated())
    except Exception:  # metrics must never break inference
        return 0.0
