"""Dynamic batching across every stream and camera: the GPU sees full batches, callers see one frame.

Frames wait in a bounded queue; one collector takes up to ``max_batch_size`` of them, waiting at
most ``max_wait_ms`` for a partial batch to fill, and runs the model in a worker thread so the event
loop keeps serving gRPC. A full queue blocks ``submit``, which stops the gRPC reader, which lets
HTTP/2 flow control push back on the gateway: backpressure end to end.
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


@dataclass(slots=True)
class _Item:
    image: np.ndarray
    future: asyncio.Future[Sequence[RawDetectionLike]]


class DynamicBatcher:
    def __init__(self, model: DetectionModel, *, max_batch_size: int, max_wait_ms: float,
                 max_queue: int) -> None:
        self.model = model
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=max_queue)
        self._task: asyncio.Task[None] | None = None
        self._cuda = str(getattr(model, "device", "")).startswith("cuda")

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
        if not self.running:
            raise InferenceError("batcher is not running")
        future: asyncio.Future[Sequence[RawDetectionLike]] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Item(image, future))
        metrics.QUEUE_DEPTH.set(self._queue.qsize())
        return await future

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            await self._infer(batch)

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
        start = time.perf_counter()
        try:
            results = await asyncio.to_thread(self.model.predict, [item.image for item in live])
            if len(results) != len(live):
                raise InferenceError(f"model returned {len(results)} results for {len(live)} images")
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
            if not item.future.done():
                item.future.set_result(dets)


def _cuda_memory() -> float:
    try:
        import torch

        return float(torch.cuda.memory_allocated())
    except Exception:  # metrics must never break inference
        return 0.0
