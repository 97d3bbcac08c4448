"""The Detector gRPC API (bkproto.detector.v1): thin, the work is in ``pipeline``."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from bk_detector import metrics
from bk_detector.modelapi import DetectionModel
from bk_detector.pipeline import Analysed, DetectionPipeline
from bkproto.detector.v1 import detector_pb2 as pb
from bkproto.detector.v1 import detector_pb2_grpc as pb_grpc

log = logging.getLogger("bk_detector.grpc")


class DetectorServicer(pb_grpc.DetectorServicer):
    def __init__(
        self, pipeline: DetectionPipeline, model: DetectionModel, *, max_batch_size: int, max_inflight: int
    ) -> None:
        self.pipeline, self.model = pipeline, model
        self.max_batch_size, self.max_inflight = max_batch_size, max_inflight

    async def GetModelInfo(
        self, request: pb.ModelInfoRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInfo:
        return model_info(self.model, self.max_batch_size)

    async def Detect(
        self, request_iterator: AsyncIterator[pb.FrameBatch], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.DetectionBatch]:
        """Batches run concurrently (inference overlaps), but are judged in arrival order, so
        tracking and voting see each camera's frames in sequence."""
        responses: asyncio.Queue[pb.DetectionBatch | BaseException | None] = asyncio.Queue()
        reader = asyncio.create_task(self._read(request_iterator, responses))
        try:
            while (item := await responses.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            reader.cancel()

    async def _read(
        self,
        requests: AsyncIterator[pb.FrameBatch],
        responses: asyncio.Queue[pb.DetectionBatch | BaseException | None],
    ) -> None:
        slots = asyncio.Semaphore(self.max_inflight)
        previous: asyncio.Task[None] | None = None
        tasks: set[asyncio.Task[None]] = set()
        try:
            async for batch in requests:
                # Wait for a slot before reading on: this is what pushes back on the gateway.
                await slots.acquire()
                task = asyncio.create_task(self._one(batch, previous, responses, slots))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                previous = task
            if tasks:
                await asyncio.gather(*tasks)
            responses.put_nowait(None)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            raise
        except Exception as exc:  # a broken stream: end the call with the error
            log.warning("Detect stream failed: %r", exc)
            for task in tasks:
                task.cancel()
            responses.put_nowait(exc)

    async def _one(
        self,
        batch: pb.FrameBatch,
        previous: asyncio.Task[None] | None,
        responses: asyncio.Queue[pb.DetectionBatch | BaseException | None],
        slots: asyncio.Semaphore,
    ) -> None:
        start = time.perf_counter()
        looking_up: asyncio.Future[Any] | None = None
        try:
            frames = list(batch.frames)  # one pass over the repeated field
            # Cameras new to this pod: read their journal while the model runs (handover).
            if (lookup := self.pipeline.look_up(frames)) is not None:
                looking_up = asyncio.ensure_future(lookup)
            # Profiles come "before the frames that use them": apply them before this batch's
            # frames are judged, but after the previous batch's frames were.
            try:
                analysed: list[Analysed] = await self.pipeline.analyse(frames)
            except Exception as exc:  # still answer this batch: every FrameBatch gets a DetectionBatch
                log.exception("analysing batch %s failed", batch.batch_id)
                analysed = [Analysed(error=f"internal error: {type(exc).__name__}")] * len(frames)
            if looking_up is not None:
                await looking_up
            if previous is not None and not previous.done():
                await asyncio.gather(previous, return_exceptions=True)
            # A refused profile is said in the answer: the gateway raises a camera alarm for it.
            refused = [
                pb.ProfileRefusal(
                    tenant_id=p.tenant_id, camera_id=p.camera_id, rules_version=p.rules_version, reason=why
                )
                for p in batch.profiles
                if (why := self.pipeline.update_profile(p))
            ]
            out = pb.DetectionBatch(
                batch_id=batch.batch_id,
                model_version=_batch_version(analysed, self.pipeline.model_version),
                refused_profiles=refused,
            )
            # Results are built in place (no per-frame message copied into the reply).
            jobs = self.pipeline.judge_batch(frames, analysed, out)
            # A violation raised here is in the object store before its frame is answered.
            await self.pipeline.settle(jobs, out)
            responses.put_nowait(out)
            metrics.BATCH_SECONDS.observe(time.perf_counter() - start)
        finally:
            if looking_up is not None and not looking_up.done():
                looking_up.cancel()
            slots.release()


def _batch_version(analysed: list[Analysed], current: str) -> str:
    """The version of the model that produced this batch's detections. Only a batch that straddles
    a model switch has two; it reports the newer (the one now active), as its frames were the
    first to be answered by it."""
    versions = {a.model_version for a in analysed if a.model_version}
    if len(versions) == 1:
        return versions.pop()
    return current


def model_info(model: DetectionModel, max_batch_size: int) -> pb.ModelInfo:
    return pb.ModelInfo(
        name=model.name,
        version=model.version,
        labels=list(model.labels),
        device=model.device,
        precision=model.precision,
        input_width=model.input_width,
        input_height=model.input_height,
        max_batch_size=max_batch_size,
    )


async def start_grpc_server(
    servicer: DetectorServicer, host: str, port: int, max_message_bytes: int
) -> tuple[grpc.aio.Server, int]:
    """A started grpc.aio server; returns it and the bound port (``port`` 0 = any free one)."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
    )
    pb_grpc.add_DetectorServicer_to_server(servicer, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise RuntimeError(f"cannot bind the gRPC server to {host}:{port}")
    await server.start()
    return server, bound
