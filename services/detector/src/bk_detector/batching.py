"""Dynamic batching across every stream and camera: the GPU sees full batches, callers see one frame.

Frames wait in a bounded queue; one collector takes up to ``max_batch_size`` of them, waiting at
most ``max_wait_ms`` for a partial batch to fill, and runs the model in a worker thread so the event
loop keeps serving gRPC. A full queue blocks ``submit``, which stops the gRPC reader, which lets
HTTP/2 flow control push back on the gateway: backpressure end to end.

Items are decoded RGB arrays, or, when the model decodes on its own device (``predict_jpeg``:
nvJPEG on the GPU), the JPEG bytes themselves: a batch of bytes is decoded in one batched call.

``swap_model`` replaces the model between two batches: the batch being run finishes on the model
it started with, the next one runs on the new model, and no queued frame is lost or run twice.
Each result carries the version of the model that produced it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bk_detector import metrics
from bk_detector.modelapi import DetectionModel, RawDetectionLike

log = logging.getLogger("bk_detector.batching")


class InferenceError(RuntimeError):
    """The model call for this frame's batch failed."""


Versioned = tuple[Sequence[RawDetectionLike], str]  # detections + the model version that made them


@dataclass(slots=True)
class _Item:
    image: np.ndarray | bytes
    future: asyncio.Future[Versioned]


class DynamicBatcher:
    def __init__(self, model: DetectionModel, *, max_batch_size: int, max_wait_ms: float,
                 max_queue: int, concurrency: int = 1) -> None:
        self.model = model
        # Batches run at once (each in its own worker thread and, on CUDA, its own stream): with 2,
        # the next batch decodes and runs on the GPU while the last one's results go back to Python.
        self.concurrency = max(1, concurrency)
        self._inflight: set[asyncio.Task[None]] = set()
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=max_queue)
        self._task: asyncio.Task[None] | None = None
        self._cuda = str(getattr(model, "device", "")).startswith("cuda")

    def swap_model(self, model: DetectionModel) -> DetectionModel:
        """Use ``model`` from the next batch on; returns the previous one. Call on the event loop:
        ``_infer`` reads ``self.model`` once per batch, so a batch never mixes two models."""
        old, self.model = self.model, model
        self._cuda = str(getattr(model, "device", "")).startswith("cuda")
        return old

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="detector-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while not self._queue.empty():  # nobody will run these: tell their callers
            item = self._queue.get_nowait()
            if not item.future.done():
                item.future.set_exception(InferenceError("detector is shutting down"))
        metrics.QUEUE_DEPTH.set(0)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def submit(self, image: np.ndarray) -> Sequence[RawDetectionLike]:
        """Detections for one image; waits (backpressure) while the queue is full."""
        return (await self.submit_versioned(image))[0]

    async def submit_versioned(self, image: np.ndarray | bytes) -> Versioned:
        """Detections for one RGB image (or JPEG bytes, for a model with ``predict_jpeg``), and the
        version of the model that produced them. A frame the model cannot decode raises FrameError."""
        if not self.running:
            raise InferenceError("batcher is not running")
        future: asyncio.Future[Versioned] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Item(image, future))
        metrics.QUEUE_DEPTH.set(self._queue.qsize())
        return await future

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

    async def _collect(self) -> list[_Item]:
        batch = [await self._queue.get()]
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch_size:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        metrics.QUEUE_DEPTH.set(self._queue.qsize())
        return batch

    async def _infer(self, batch: list[_Item]) -> None:
        live = [item for item in batch if not item.future.cancelled()]
        if not live:
            return
        metrics.BATCH_SIZE.observe(len(live))
        model = self.model  # read once: a swap during this batch applies from the next one
        version = str(model.version)
        start = time.perf_counter()
        try:
            inputs = [item.image for item in live]
            if all(isinstance(x, bytes) for x in inputs):
                results = await asyncio.to_thread(model.predict_jpeg, inputs)  # type: ignore[attr-defined]
            else:
                results = await asyncio.to_thread(model.predict, inputs)
            if len(results) != len(live):
                raise InferenceError(f"model returned {len(results)} results for {len(live)} images")
        except asyncio.CancelledError:  # shutting down mid-batch: nobody will answer these frames
            for item in live:
                if not item.future.done():
                    item.future.set_exception(InferenceError("detector is shutting down"))
            raise
        except Exception as exc:
            log.exception("model call failed for a batch of %d frames", len(live))
            error = exc if isinstance(exc, InferenceError) else InferenceError(f"inference failed: {exc}")
            for item in live:
                if not item.future.done():
                    item.future.set_exception(error)
            return
        finally:
            metrics.INFERENCE_SECONDS.observe(time.perf_counter() - start)
            if self._cuda:
                metrics.GPU_MEMORY_BYTES.set(_cuda_memory())
        for item, dets in zip(live, results, strict=True):
            if item.future.done():
                continue
            if isinstance(dets, Exception):  # this frame alone failed (predict_jpeg: undecodable)
                item.future.set_exception(dets)
            else:
                item.future.set_result((dets, version))


def _cuda_memory() -> float:
    try:
        import torch

        return float(torch.cuda.memory_allocated())
    except Exception:  # metrics must never break inference
        return 0.0
