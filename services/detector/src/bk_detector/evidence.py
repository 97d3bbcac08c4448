"""Evidence and events: snapshots into the object store first, then ``detections.v1`` on the bus.

The order is the contract: an event never points at an object that is not there. Store and bus
failures are retried with backoff under a fixed event id (consumers dedupe); a violation that still
cannot be delivered, or that finds the pending queue full, is logged and counted, never lost
silently. Each camera always goes to the same worker, so its events keep their order.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import uuid
import zlib
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import numpy as np
from PIL import Image

from bk_detector import metrics
from bk_detector.annotate import annotate
from bk_detector.detections import Detection
from bk_detector.voting import Phase, Transition
from bkcore.bus.base import Bus, new_meta
from bkcore.objstore.base import ObjectStore, evidence_key
from bkproto.common.v1.meta_pb2 import BBox
from bkproto.events.v1.detections_pb2 import ViolationDetected, ViolationPhase

log = logging.getLogger("bk_detector.evidence")
TOPIC = "detections.v1"
_PHASES = {
    Phase.STARTED: ViolationPhase.VIOLATION_PHASE_STARTED,
    Phase.UPDATED: ViolationPhase.VIOLATION_PHASE_UPDATED,
    Phase.ENDED: ViolationPhase.VIOLATION_PHASE_ENDED,
}
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CameraContext:
    tenant_id: str
    site_id: str
    camera_id: str
    zone: str
    timezone: str = "UTC"


@dataclass(slots=True)
class ViolationJob:
    """One transition to deliver; STARTED carries the frame (JPEG) it was raised on."""

    transition: Transition
    camera: CameraContext
    model_version: str
    jpeg: bytes = b""
    detections: Sequence[Detection] = ()
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))  # fixed across retries

    def snapshot_keys(self) -> tuple[str, str]:
        t, c = self.transition, self.camera
        return (evidence_key(c.tenant_id, c.camera_id, t.started_at, f"{t.violation_id}-raw.jpg"),
                evidence_key(c.tenant_id, c.camera_id, t.started_at, f"{t.violation_id}-annotated.jpg"))


class GaveUp(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base_s: float = 0.2
    max_s: float = 10.0


class EvidencePublisher:
    def __init__(self, *, store: ObjectStore, bus: Bus, producer: str, workers: int = 2,
                 max_pending: int = 1000, retry: RetryPolicy | None = None,
                 font_path: Path | None = None, jpeg_quality: int = 85) -> None:
        self.store, self.bus, self.producer = store, bus, producer
        self.retry = retry or RetryPolicy()
        self.font_path, self.jpeg_quality = font_path, jpeg_quality
        # The bound is shared across shards: split it so the total stays max_pending.
        per_queue = max(1, max_pending // workers)
        self._queues: list[asyncio.Queue[ViolationJob]] = [asyncio.Queue(per_queue) for _ in range(workers)]
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        # Annotation (decode + draw + encode, milliseconds of CPU) runs on its own thread, never on
        # the event loop and never queued among the model's worker threads: a burst of new
        # violations costs one core at most, and the frame path keeps its threads.
        self._annotator: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        self._stopping = False
        if self._annotator is None:
            self._annotator = ThreadPoolExecutor(1, thread_name_prefix="evidence-annotate")
        self._tasks = [asyncio.create_task(self._work(q), name=f"evidence-{i}")
                       for i, q in enumerate(self._queues)]

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Deliver what is pending for up to ``drain_timeout_s``, then give up on the rest (logged)."""
        self._stopping = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(q.join() for q in self._queues)), drain_timeout_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._annotator is not None:
            self._annotator.shutdown(wait=False)
            self._annotator = None
        for q in self._queues:
            while not q.empty():
                self._drop(q.get_nowait(), "shutdown")
                q.task_done()
        self._update_gauge()

    def submit(self, job: ViolationJob) -> bool:
        """Queue ``job`` without waiting (the frame path must not stall); False when dropped."""
        queue = self._queues[zlib.crc32(job.camera.camera_id.encode()) % len(self._queues)]
        try:
            queue.put_nowait(job)
        except asyncio.QueueFull:
            self._drop(job, "queue_full")
            return False
        self._update_gauge()
        return True

    async def wait_idle(self) -> None:
        """Until everything queued so far is delivered or dropped (tests, graceful stop)."""
        await asyncio.gather(*(q.join() for q in self._queues))

    @property
    def pending(self) -> int:
        return sum(q.qsize() for q in self._queues)

    async def _work(self, queue: asyncio.Queue[ViolationJob]) -> None:
        while True:
            job = await queue.get()
            try:
                await self._deliver(job)
            except GaveUp as exc:
                self._drop(job, str(exc))
            except Exception:  # a bug must not kill the worker and strand the queue
                log.exception("unexpected error delivering a violation event")
                self._drop(job, "error")
            finally:
                queue.task_done()
                self._update_gauge()

    async def _deliver(self, job: ViolationJob) -> None:
        raw_key = annotated_key = ""
        if job.transition.phase is Phase.STARTED and job.jpeg:
            raw_key, annotated_key = job.snapshot_keys()
            if self._annotator is not None:
                loop = asyncio.get_running_loop()
                picture = await loop.run_in_executor(self._annotator, self._annotate, job)
            else:
                picture = await asyncio.to_thread(self._annotate, job)
            await self._retrying("store", lambda: self.store.put(raw_key, job.jpeg, "image/jpeg"))
            await self._retrying("store", lambda: self.store.put(annotated_key, picture, "image/jpeg"))
        event = build_event(job, self.producer, raw_key, annotated_key)
        await self._retrying("bus", lambda: self.bus.publish(TOPIC, event))
        metrics.DETECTIONS_PUBLISHED.labels(job.camera.tenant_id).inc()
        metrics.VIOLATIONS.labels(job.camera.tenant_id, job.transition.violation_type,
                                  job.transition.phase.value).inc()

    def _annotate(self, job: ViolationJob) -> bytes:
        t, c = job.transition, job.camera
        image = np.asarray(Image.open(io.BytesIO(job.jpeg)).convert("RGB"))
        local = t.at.astimezone(ZoneInfo(c.timezone or "UTC"))
        return annotate(image, job.detections, violation=t.violation_type, violation_box=t.box,
                        when=local, camera_id=c.camera_id, zone=c.zone, font_path=self.font_path,
                        quality=self.jpeg_quality)

    async def _retrying(self, step: str, call: Callable[[], Awaitable[T]]) -> T:
        delay = self.retry.base_s
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                return await call()
            except Exception as exc:
                if attempt >= self.retry.max_attempts or self._stopping:
                    raise GaveUp(f"{step}_failed") from exc
                metrics.EVIDENCE_RETRIES.labels(step).inc()
                log.warning("%s failed (attempt %d/%d), retrying in %.1fs: %r", step, attempt,
                            self.retry.max_attempts, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry.max_s)
        raise GaveUp(f"{step}_failed")

    def _drop(self, job: ViolationJob, reason: str) -> None:
        t = job.transition
        metrics.EVIDENCE_DROPPED.labels(job.camera.tenant_id, reason).inc()
        log.error("violation event dropped (%s)", reason, extra={
            "tenant_id": job.camera.tenant_id, "camera_id": job.camera.camera_id,
            "violation_id": t.violation_id, "violation_type": t.violation_type, "phase": t.phase.value})

    def _update_gauge(self) -> None:
        metrics.EVIDENCE_PENDING.set(self.pending)


def build_event(job: ViolationJob, producer: str, raw_key: str, annotated_key: str) -> ViolationDetected:
    t, c = job.transition, job.camera
    event = ViolationDetected(
        meta=new_meta(tenant_id=c.tenant_id, key=c.camera_id, producer=producer, occurred_at=t.at,
                      event_id=job.event_id),
        violation_id=t.violation_id, phase=_PHASES[t.phase], violation_type=t.violation_type,
        site_id=c.site_id, camera_id=c.camera_id, zone=c.zone, track_id=t.track_id, score=t.score,
        box=BBox(x1=t.box[0], y1=t.box[1], x2=t.box[2], y2=t.box[3]),
        raw_snapshot_key=raw_key, annotated_snapshot_key=annotated_key,
        model_version=job.model_version, observations=t.observations,
    )
    event.started_at.FromDatetime(t.started_at)
    if t.phase is Phase.ENDED:
        event.ended_at.FromDatetime(t.at)
    return event

