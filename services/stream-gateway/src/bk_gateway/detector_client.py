"""Frames to detectors: one long-lived ``Detector.Detect`` stream per endpoint, fed from one shared
bounded queue.

Affinity: a detector tracks people and votes over consecutive frames of a camera, so all frames of
one camera must reach the same detector. Each camera belongs to one endpoint, chosen by rendezvous
hashing of the camera id over the endpoints whose stream is *connected* (``sharding.owner``): every
stream takes from the queue only its own cameras' frames. A camera moves only when its endpoint goes
down (and moves back when it returns); the other cameras stay where they are.

Backpressure: each stream keeps at most ``detector_max_inflight`` unanswered batches; when a stream
is full (or every detector is gone), frames wait in the bounded queue, where the oldest drop, and
the pull loops never block (``FrameQueue.push``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from bk_gateway import metrics
from bk_gateway.backoff import Backoff
from bk_gateway.frame_queue import FRAMES_DROPPED, FrameItem, FrameQueue
from bk_gateway.settings import GatewaySettings
from bk_gateway.sharding import owner
from bkcore.tasks import cancel_and_wait
from bkproto.detector.v1 import detector_pb2 as pb
from bkproto.detector.v1.detector_pb2_grpc import DetectorStub

log = logging.getLogger(__name__)
ProfileLookup = Callable[[str], pb.CameraProfile | None]
Router = Callable[[str], str | None]  # camera id -> the endpoint that owns it now (None: none up)
MAX_BATCH_BYTES = 3 * 1024 * 1024  # stays well under gRPC's default 4 MiB receive limit


def build_batch(items: list[FrameItem], profiles: list[pb.CameraProfile]) -> pb.FrameBatch:
    batch = pb.FrameBatch(batch_id=uuid.uuid4().hex, profiles=profiles)
    for it in items:
        ts = Timestamp()
        ts.FromDatetime(it.captured_at)
        batch.frames.append(pb.Frame(frame_id=it.frame_id, tenant_id=it.tenant_id, site_id=it.site_id,
                                     camera_id=it.camera_id, captured_at=ts, jpeg=it.jpeg,
                                     rules_version=it.rules_version))
    return batch


class DetectorStream:
    """One endpoint's stream, reopened with backoff whenever it breaks."""

    def __init__(self, endpoint: str, queue: FrameQueue, profile_for: ProfileLookup,
                 settings: GatewaySettings, route: Router | None = None) -> None:
        self.endpoint = endpoint
        self._queue, self._profile_for, self._s = queue, profile_for, settings
        self._route: Router = route or (lambda _camera_id: endpoint)
        self._backoff = Backoff(settings.backoff_initial_s, min(settings.backoff_max_s, 10.0),
                                settings.backoff_jitter)
        self.connected = False
        self.batches_answered = 0
        self.frames_sent = 0

    async def run(self) -> None:
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                metrics.DETECTOR_ERRORS.labels(self.endpoint).inc()
                log.warning("detector %s stream failed: %s", self.endpoint, exc)
            self.connected = False
            await asyncio.sleep(self._backoff.next_delay())

    async def _session(self) -> None:
        async with grpc.aio.insecure_channel(self.endpoint) as channel:
            await asyncio.wait_for(channel.channel_ready(), self._s.open_timeout_s)
            call = DetectorStub(channel).Detect()
            inflight: dict[str, tuple[float, list[FrameItem]]] = {}
            slots = asyncio.Semaphore(self._s.detector_max_inflight)
            sent_profiles: dict[str, int] = {}  # per stream: a new stream needs every profile again
            reader = asyncio.create_task(self._read(call, inflight, slots))
            self.connected = True
            try:
                while not reader.done():
                    await slots.acquire()
                    items = await self._collect(reader)
                    if not items:
                        slots.release()
                        continue
                    profiles = self._profiles(items, sent_profiles)
                    batch = build_batch(items, profiles)
                    inflight[batch.batch_id] = (asyncio.get_running_loop().time(), items)
                    await call.write(batch)
                    metrics.BATCHES_SENT.labels(self.endpoint).inc()
                    self.frames_sent += len(items)
                    self._backoff.reset()
                await reader  # re-raises why the stream ended
            finally:
                reader.cancel()
                with contextlib.suppress(BaseException):
                    await reader
                call.cancel()
                for _, items in inflight.values():  # unanswered frames are lost with the stream
                    for it in items:
                        FRAMES_DROPPED.labels(it.tenant_id, "detector_lost").inc()

    def _mine(self, item: FrameItem) -> bool:
        return self._route(item.camera_id) == self.endpoint

    async def _collect(self, reader: asyncio.Task[None]) -> list[FrameItem]:
        loop = asyncio.get_running_loop()
        items: list[FrameItem] = []
        deadline: float | None = None
        size = 0
        while not reader.done():
            for it in self._queue.take_matching(self._s.batch_size - len(items), self._mine):
                items.append(it)
                size += len(it.jpeg)
            if items and deadline is None:
                deadline = loop.time() + self._s.batch_max_wait_s
            if len(items) >= self._s.batch_size or size >= MAX_BATCH_BYTES or (
                deadline is not None and loop.time() >= deadline
            ):
                break
            await asyncio.sleep(0.01 if items else min(0.05, self._s.batch_max_wait_s))
        return items

    def _profiles(self, items: list[FrameItem], sent: dict[str, int]) -> list[pb.CameraProfile]:
        out = []
        for it in items:
            if sent.get(it.camera_id) == it.rules_version:
                continue
            profile = self._profile_for(it.camera_id)
            if profile is not None:
                out.append(profile)
                sent[it.camera_id] = it.rules_version
        return out

    async def _read(self, call: grpc.aio.StreamStreamCall, inflight: dict[str, tuple[float, list[FrameItem]]],
                    slots: asyncio.Semaphore) -> None:
        loop = asyncio.get_running_loop()
        aiter_ = call.__aiter__()
        while True:
            oldest = min((t for t, _ in inflight.values()), default=None)
            wait = self._s.detector_timeout_s if oldest is None else max(
                0.05, oldest + self._s.detector_timeout_s - loop.time())
            try:
                async with asyncio.timeout(wait):  # not wait_for: see bkcore.tasks.wait_event
                    result: pb.DetectionBatch = await aiter_.__anext__()
            except TimeoutError:
                if inflight:
                    raise TimeoutError(f"detector {self.endpoint} left a batch unanswered") from None
                continue
            except StopAsyncIteration:
                raise ConnectionError(f"detector {self.endpoint} closed the stream") from None
            if inflight.pop(result.batch_id, None) is not None:
                self.batches_answered += 1
                slots.release()


class DetectorClient:
    """All detector streams of this gateway replica."""

    def __init__(self, settings: GatewaySettings, queue: FrameQueue, profile_for: ProfileLookup) -> None:
        self.streams = [DetectorStream(ep, queue, profile_for, settings, self.endpoint_for)
                        for ep in settings.endpoints]
        self._tasks: list[asyncio.Task[None]] = []

    def healthy(self) -> list[str]:
        return [s.endpoint for s in self.streams if s.connected]

    def endpoint_for(self, camera_id: str) -> str | None:
        """The endpoint that gets ``camera_id``'s frames: rendezvous over the connected endpoints."""
        return owner(camera_id, self.healthy())

    def start(self) -> None:
        self._tasks = [asyncio.create_task(s.run(), name=f"detector-{s.endpoint}") for s in self.streams]

    async def stop(self) -> None:
        await asyncio.gather(*(cancel_and_wait(t) for t in self._tasks))  # the streams end together
        self._tasks = []

    def ready(self) -> bool:
        return not self.streams or any(s.connected for s in self.streams)
