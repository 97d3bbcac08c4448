"""Evidence and events: snapshots into the object store first, then ``detections.v1`` on the bus.

The order is the contract: an event never points at an object that is not there. Store and bus
failures are retried with backoff under a fixed event id (consumers dedupe); a violation that still
cannot be delivered, or that finds the pending queue full, is logged and counted, never lost
silently. Each camera always goes to the same worker, so its events keep their order.

With a journal (``journal``), a STARTED is made durable first: its raw frame and a record are in the
object store before the frame's answer goes back (``durable``), so a pod killed with events still
queued here loses none: ``recovery`` publishes them from the store. STARTED and ENDED event ids are
derived from the violation id, so whichever pod publishes one, consumers see one event.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import uuid
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
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

if TYPE_CHECKING:
    from bk_detector.journal import OpenViolation, ViolationJournal

log = logging.getLogger("bk_detector.evidence")
TOPIC = "detections.v1"
#: Namespace of the event ids derived from violation ids (uuid5): fixed for ever, ids depend on it.
EVENT_IDS = uuid.UUID("5f0c8f8e-0c1b-4d55-9a51-8b2f0e6c9d21")
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


def snapshot_keys(camera: CameraContext, violation_id: str, started_at: datetime) -> tuple[str, str]:
    """The (raw, annotated) evidence keys of one violation."""
    c = camera
    return (
        evidence_key(c.tenant_id, c.camera_id, started_at, f"{violation_id}-raw.jpg"),
        evidence_key(c.tenant_id, c.camera_id, started_at, f"{violation_id}-annotated.jpg"),
    )


def event_id_for(transition: Transition) -> str:
    """STARTED and ENDED happen once per violation: their ids follow from it, so two pods that both
    publish one (a handover, a recovery) publish the same event. UPDATED ids are fresh."""
    if transition.phase is Phase.UPDATED:
        return str(uuid.uuid4())
    return str(uuid.uuid5(EVENT_IDS, f"{transition.violation_id}/{transition.phase.value}"))


class Confirm(Enum):
    """What an ENDED must find in the journal before it is published."""

    NONE = "none"  # the camera's own frames ended it here: no question
    OWNER = "owner"  # ended by the idle sweep: only if the record still names this pod
    STALE = "stale"  # ended by recovery: only if nobody renewed the record since it was read


@dataclass(slots=True)
class ViolationJob:
    """One transition to deliver; STARTED carries the frame (JPEG) it was raised on."""

    transition: Transition
    camera: CameraContext
    model_version: str
    jpeg: bytes = b""
    detections: Sequence[Detection] = ()
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))  # fixed across retries
    frame_id: str = ""  # the frame that raised it (its answer waits for ``durable``)
    record: OpenViolation | None = None  # its journal record (STARTED; ENDED from recovery)
    durable: asyncio.Task[None] | None = None  # storing the raw frame + record (STARTED)
    raw_stored: bool = False  # the raw frame is already at its evidence key
    confirm: Confirm = Confirm.NONE

    def snapshot_keys(self) -> tuple[str, str]:
        return snapshot_keys(self.camera, self.transition.violation_id, self.transition.started_at)

    @classmethod
    def started_from(cls, rec: OpenViolation, jpeg: bytes) -> ViolationJob:
        """The STARTED of a journaled violation again, as first raised (same event id)."""
        return cls(
            transition=rec.start,
            camera=rec.camera,
            model_version=rec.model_version,
            jpeg=jpeg,
            detections=rec.detections,
            event_id=rec.event_id,
            record=rec,
            raw_stored=True,
        )

    @classmethod
    def ended_from(cls, rec: OpenViolation, at: datetime, confirm: Confirm) -> ViolationJob:
        t = rec.start
        ended = Transition(
            Phase.ENDED,
            t.violation_id,
            t.violation_type,
            t.track_id,
            rec.score or t.score,
            rec.box,
            t.started_at,
            at,
            rec.observations or t.observations,
        )
        return cls(
            transition=ended,
            camera=rec.camera,
            model_version=rec.model_version,
            event_id=event_id_for(ended),
            record=rec,
            confirm=confirm,
        )


class GaveUp(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base_s: float = 0.2
    max_s: float = 10.0


class EvidencePublisher:
    def __init__(
        self,
        *,
        store: ObjectStore,
        bus: Bus,
        producer: str,
        workers: int = 2,
        max_pending: int = 1000,
        retry: RetryPolicy | None = None,
        font_path: Path | None = None,
        jpeg_quality: int = 85,
        journal: ViolationJournal | None = None,
    ) -> None:
        self.store, self.bus, self.producer = store, bus, producer
        self.journal = journal
        self.retry = retry or RetryPolicy()
        self.font_path, self.jpeg_quality = font_path, jpeg_quality
        # The bound is shared across shards: split it so the total stays max_pending.
        per_queue = max(1, max_pending // workers)
        self._queues: list[asyncio.Queue[ViolationJob]] = [asyncio.Queue(per_queue) for _ in range(workers)]
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._queued: Counter[str] = Counter()  # violation id -> its jobs queued or being delivered
        self._durables: set[asyncio.Task[None]] = set()
        # Annotation (decode + draw + encode, milliseconds of CPU) runs on its own thread, never on
        # the event loop and never queued among the model's worker threads: a burst of new
        # violations costs one core at most, and the frame path keeps its threads.
        self._annotator: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        self._stopping = False
        if self._annotator is None:
            self._annotator = ThreadPoolExecutor(1, thread_name_prefix="evidence-annotate")
        self._tasks = [
            asyncio.create_task(self._work(q), name=f"evidence-{i}") for i, q in enumerate(self._queues)
        ]

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Deliver what is pending for up to ``drain_timeout_s``, then give up on the rest (logged)."""
        self._stopping = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(q.join() for q in self._queues)), drain_timeout_s)
        for task in (*self._tasks, *self._durables):
            task.cancel()
        await asyncio.gather(*self._tasks, *self._durables, return_exceptions=True)
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
        """Queue ``job`` without waiting (the frame path must not stall); False when dropped.

        A journaled STARTED starts storing its raw frame and record at once, beside the queue: its
        frame's answer waits for that (``job.durable``), never for the annotation or the bus."""
        t = job.transition
        if (
            self.journal is not None
            and job.record is not None
            and t.phase is Phase.STARTED
            and job.jpeg
            and not job.raw_stored
            and job.durable is None
        ):
            job.durable = asyncio.create_task(self._make_durable(job), name=f"durable-{t.violation_id}")
            self._durables.add(job.durable)
            job.durable.add_done_callback(self._durable_done)
        queue = self._queues[zlib.crc32(job.camera.camera_id.encode()) % len(self._queues)]
        try:
            queue.put_nowait(job)
        except asyncio.QueueFull:
            # A durable STARTED is not lost: recovery publishes it from the store.
            self._drop(job, "queue_full")
            return False
        self._queued[t.violation_id] += 1
        self._update_gauge()
        return True

    def queued(self, violation_id: str) -> bool:
        """A job of this violation is queued or being delivered here (recovery leaves it alone)."""
        return violation_id in self._queued

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
                vid = job.transition.violation_id
                self._queued[vid] -= 1
                if self._queued[vid] <= 0:
                    del self._queued[vid]
                queue.task_done()
                self._update_gauge()

    async def _deliver(self, job: ViolationJob) -> None:
        t = job.transition
        if self.journal is not None and t.phase is Phase.ENDED:
            if not await self._confirmed(job):
                return
            await self._started_first(job)
        raw_key = annotated_key = ""
        if t.phase is Phase.STARTED and job.jpeg:
            raw_key, annotated_key = job.snapshot_keys()
            if self._annotator is not None:
                loop = asyncio.get_running_loop()
                picture = await loop.run_in_executor(self._annotator, self._annotate, job)
            else:
                picture = await asyncio.to_thread(self._annotate, job)
            if not await self._raw_stored(job):
                await self._retrying("store", lambda: self.store.put(raw_key, job.jpeg, "image/jpeg"))
            await self._retrying("store", lambda: self.store.put(annotated_key, picture, "image/jpeg"))
        event = build_event(job, self.producer, raw_key, annotated_key)
        await self._retrying("bus", lambda: self.bus.publish(TOPIC, event))
        metrics.DETECTIONS_PUBLISHED.labels(job.camera.tenant_id).inc()
        metrics.VIOLATIONS.labels(job.camera.tenant_id, t.violation_type, t.phase.value).inc()
        if self.journal is not None:
            await self._journal_after(job)

    # -- the journal's side of delivery -----------------------------------------------------------

    async def _make_durable(self, job: ViolationJob) -> None:
        journal, rec = self.journal, job.record
        assert journal is not None and rec is not None
        await self._retrying("journal", lambda: journal.open(rec, job.jpeg))

    def _durable_done(self, task: asyncio.Task[None]) -> None:
        self._durables.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            metrics.JOURNAL_ERRORS.labels("open").inc()
            log.error("a new violation could not be made durable: %r", exc)

    async def _raw_stored(self, job: ViolationJob) -> bool:
        if job.raw_stored:
            return True
        if job.durable is None:
            return False
        with contextlib.suppress(Exception):  # failed or cancelled: the raw frame is put here instead
            await job.durable
            job.raw_stored = True
        return job.raw_stored

    async def _confirmed(self, job: ViolationJob) -> bool:
        """Whether this ENDED is still this pod's to publish (``Confirm``)."""
        journal, t, c = self.journal, job.transition, job.camera
        if job.confirm is Confirm.NONE or journal is None:
            return True
        try:
            now = await self._retrying(
                "journal", lambda: journal.read(c.tenant_id, c.camera_id, t.violation_id)
            )
        except GaveUp:  # cannot ask: end it; the event id is the same wherever it is ended
            log.warning("journal unreadable; ending violation %s without checking", t.violation_id)
            return True
        if job.confirm is Confirm.OWNER:
            ours = now is not None and now.owner == journal.pod
        else:
            ours = now is not None and job.record is not None and now.renewed_at == job.record.renewed_at
        if not ours:
            metrics.HANDOVER.labels("end_left_to_owner").inc()
            log.info(
                "violation not ended here: %s",
                "moved to another pod" if now else "ended elsewhere",
                extra={
                    "tenant_id": c.tenant_id,
                    "camera_id": c.camera_id,
                    "violation_id": t.violation_id,
                    "owner": now.owner if now else "",
                },
            )
        return ours

    async def _started_first(self, job: ViolationJob) -> None:
        """An ENDED never reaches the bus before its STARTED: one whose STARTED is not marked
        published (its pod died, or gave up) is published from the journal first."""
        journal, t, c = self.journal, job.transition, job.camera
        assert journal is not None
        try:
            if await self._retrying(
                "journal", lambda: journal.started(c.tenant_id, c.camera_id, t.violation_id)
            ):
                return
            rec = job.record or await self._retrying(
                "journal", lambda: journal.read(c.tenant_id, c.camera_id, t.violation_id)
            )
            if rec is None:  # never journaled (store down when it started): nothing to add
                return
            jpeg = await self._retrying("journal", lambda: journal.raw(rec))
        except GaveUp:
            log.warning(
                "journal unreadable; ENDED of %s published without checking its STARTED", t.violation_id
            )
            return
        metrics.RECOVERED.labels(Phase.STARTED.value).inc()
        await self._deliver(ViolationJob.started_from(rec, jpeg))

    async def _journal_after(self, job: ViolationJob) -> None:
        """Mark a STARTED published, or close the record of an ENDED. A failure here is not a lost
        event: at worst recovery publishes it again, under the same event id."""
        journal, t, c = self.journal, job.transition, job.camera
        assert journal is not None
        try:
            if t.phase is Phase.STARTED and job.record is not None:
                rec = job.record
                await self._retrying(
                    "journal", lambda: journal.mark_started(rec.tenant_id, rec.camera_id, rec.violation_id)
                )
            elif t.phase is Phase.ENDED:
                await self._retrying(
                    "journal", lambda: journal.close(c.tenant_id, c.camera_id, t.violation_id)
                )
        except GaveUp:
            metrics.JOURNAL_ERRORS.labels("after_publish").inc()
            log.warning("journal not updated after publishing %s of %s", t.phase.value, t.violation_id)

    def _annotate(self, job: ViolationJob) -> bytes:
        t, c = job.transition, job.camera
        image = np.asarray(Image.open(io.BytesIO(job.jpeg)).convert("RGB"))
        local = t.at.astimezone(ZoneInfo(c.timezone or "UTC"))
        return annotate(
            image,
            job.detections,
            violation=t.violation_type,
            violation_box=t.box,
            when=local,
            camera_id=c.camera_id,
            zone=c.zone,
            font_path=self.font_path,
            quality=self.jpeg_quality,
        )

    async def _retrying(self, step: str, call: Callable[[], Awaitable[T]]) -> T:
        delay = self.retry.base_s
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                return await call()
            except Exception as exc:
                if attempt >= self.retry.max_attempts or self._stopping:
                    raise GaveUp(f"{step}_failed") from exc
                metrics.EVIDENCE_RETRIES.labels(step).inc()
                log.warning(
                    "%s failed (attempt %d/%d), retrying in %.1fs: %r",
                    step,
                    attempt,
                    self.retry.max_attempts,
                    delay,
                    exc,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry.max_s)
        raise GaveUp(f"{step}_failed")

    def _drop(self, job: ViolationJob, reason: str) -> None:
        t = job.transition
        metrics.EVIDENCE_DROPPED.labels(job.camera.tenant_id, reason).inc()
        # With a journal, a STARTED or ENDED that reached it is not lost: ``recovery`` publishes it.
        journaled = self.journal is not None and t.phase is not Phase.UPDATED
        later = "; recovery publishes it from the journal" if journaled else ""
        log.error(
            "violation event dropped (%s)%s",
            reason,
            later,
            extra={
                "tenant_id": job.camera.tenant_id,
                "camera_id": job.camera.camera_id,
                "violation_id": t.violation_id,
                "violation_type": t.violation_type,
                "phase": t.phase.value,
            },
        )

    def _update_gauge(self) -> None:
        metrics.EVIDENCE_PENDING.set(self.pending)


def build_event(job: ViolationJob, producer: str, raw_key: str, annotated_key: str) -> ViolationDetected:
    t, c = job.transition, job.camera
    event = ViolationDetected(
        meta=new_meta(
            tenant_id=c.tenant_id, key=c.camera_id, producer=producer, occurred_at=t.at, event_id=job.event_id
        ),
        violation_id=t.violation_id,
        phase=_PHASES[t.phase],
        violation_type=t.violation_type,
        site_id=c.site_id,
        camera_id=c.camera_id,
        zone=c.zone,
        track_id=t.track_id,
        score=t.score,
        box=BBox(x1=t.box[0], y1=t.box[1], x2=t.box[2], y2=t.box[3]),
        raw_snapshot_key=raw_key,
        annotated_snapshot_key=annotated_key,
        model_version=job.model_version,
        observations=t.observations,
    )
    event.started_at.FromDatetime(t.started_at)
    if t.phase is Phase.ENDED:
        event.ended_at.FromDatetime(t.at)
    return event
