"""Shadow mode (影子模式): a candidate model runs beside the live one on a sample of real frames and
reports the alarms it would change, before anyone lets it raise one.

The live path never waits for it: sampled frames are offered to a bounded queue (a full queue
skips the frame and counts it) and the candidate runs on its own worker. Both models' detections go
through the camera's rules for that frame (masks, zones, schedules, thresholds); what differs is an
alarm that would appear (only the candidate raises it) or disappear (only the live one does). The
comparison is per frame, before tracking and voting, so it shows each disagreement as soon as it
happens; ``fire_unattended`` needs minutes of time state and is not compared.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from bk_detector import metrics
from bk_detector.decode import decode_jpeg
from bk_detector.detections import Candidate, Detection, clamp_box, iou
from bk_detector.modelapi import DetectionModel
from bk_detector.profiles import CameraProfile
from bk_detector.rules import apply_masks, evaluate
from bkproto.detector.v1 import detector_pb2 as pb

log = logging.getLogger("bk_detector.shadow")
APPEARS, DISAPPEARS = "appears", "disappears"
RECENT = 50  # examples kept for the report


@dataclass(frozen=True, slots=True)
class AlarmChange:
    violation_type: str
    change: str  # APPEARS | DISAPPEARS
    score: float
    box: tuple[float, float, float, float]


def frame_alarms(
    detections: Sequence[Detection], profile: CameraProfile, when: datetime, min_score: float
) -> list[Candidate]:
    """The alarms one frame's detections raise under the camera's rules (no tracking: each
    detection is its own track, so two persons without hats are two alarms)."""
    numbered = [d.with_track(i + 1) for i, d in enumerate(apply_masks(detections, profile.masks))]
    return evaluate(numbered, profile, when, default_min_score=min_score) if numbered else []


def alarm_changes(
    live: Sequence[Candidate], shadow: Sequence[Candidate], min_iou: float = 0.5
) -> list[AlarmChange]:
    """Alarms of one frame that the shadow model would change: matched by type and box (IoU)."""
    out: list[AlarmChange] = []
    for mine, theirs, change in ((shadow, live, APPEARS), (live, shadow, DISAPPEARS)):
        for c in mine:
            if not any(o.violation_type == c.violation_type and iou(o.box, c.box) >= min_iou for o in theirs):
                out.append(AlarmChange(c.violation_type, change, round(c.score, 4), c.box))
    return out


class Sampler:
    """Takes ``rate`` of the frames offered, evenly and the same way on every run (no randomness)."""

    def __init__(self, rate: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"shadow sample rate {rate} is not a share 0..1")
        self.rate, self._credit = rate, 0.0

    def take(self) -> bool:
        self._credit += self.rate
        if self._credit >= 1.0 - 1e-9:
            self._credit -= 1.0
            return True
        return False


@dataclass(slots=True)
class _Job:
    frame: pb.Frame
    image: np.ndarray | None
    live: Sequence[Detection]
    profile: CameraProfile
    when: datetime


class ShadowRunner:
    """One candidate model in the shadow of the live one (start, offer frames, report, stop)."""

    def __init__(
        self,
        model: DetectionModel,
        *,
        live_version: str,
        sample_rate: float,
        max_pending: int,
        min_score: float,
        max_frame_bytes: int,
        max_pixels: int,
    ) -> None:
        self.model, self.live_version = model, live_version
        self.sampler = Sampler(sample_rate)
        self.min_score, self.max_frame_bytes, self.max_pixels = min_score, max_frame_bytes, max_pixels
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(max_pending)
        self._task: asyncio.Task[None] | None = None
        self.counts: Counter[str] = Counter()
        self.changes: dict[str, Counter[str]] = {}
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self.started_at = datetime.now(UTC)

    def start(self) -> None:
        self._task = asyncio.create_task(self._work(), name="detector-shadow")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def offer(
        self,
        frame: pb.Frame,
        image: np.ndarray | None,
        live: Sequence[Detection],
        profile: CameraProfile,
        when: datetime,
    ) -> None:
        """Called on the live path for every analysed frame: never blocks, never raises."""
        self.counts["offered"] += 1
        if not self.sampler.take():
            return
        try:
            self._queue.put_nowait(_Job(frame, image, live, profile, when))
        except asyncio.QueueFull:
            self.counts["busy"] += 1
            metrics.SHADOW_FRAMES.labels("busy").inc()

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                found = await asyncio.to_thread(self._compare, job)
            except Exception as exc:  # a bad frame or a model error: counted, the shadow goes on
                self.counts["failed"] += 1
                metrics.SHADOW_FRAMES.labels("failed").inc()
                log.warning("shadow model failed on frame %s: %r", job.frame.frame_id, exc)
                continue
            self._record(job, found)

    def _compare(self, job: _Job) -> list[AlarmChange]:
        image = job.image
        if image is None:  # the GPU-decode path keeps no decoded image: decode it here, off the loop
            image = decode_jpeg(job.frame.jpeg, max_bytes=self.max_frame_bytes, max_pixels=self.max_pixels)
        raw = self.model.predict([image])[0]
        shadow = [Detection(d.label, float(d.score), clamp_box(d.box), dict(d.attributes)) for d in raw]
        return alarm_changes(
            frame_alarms(job.live, job.profile, job.when, self.min_score),
            frame_alarms(shadow, job.profile, job.when, self.min_score),
        )

    def _record(self, job: _Job, found: list[AlarmChange]) -> None:
        self.counts["compared"] += 1
        metrics.SHADOW_FRAMES.labels("compared").inc()
        if found:
            self.counts["changed"] += 1
        for c in found:
            self.changes.setdefault(c.violation_type, Counter())[c.change] += 1
            metrics.SHADOW_CHANGES.labels(c.violation_type, c.change).inc()
            self.recent.append(
                {
                    "tenant_id": job.frame.tenant_id,
                    "camera_id": job.frame.camera_id,
                    "frame_id": job.frame.frame_id,
                    "violation_type": c.violation_type,
                    "change": c.change,
                    "score": c.score,
                    "box": list(c.box),
                }
            )

    def report(self) -> dict[str, Any]:
        return {
            "version": self.model.version,
            "live_version": self.live_version,
            "sample_rate": self.sampler.rate,
            "since": self.started_at.isoformat(),
            "frames": {k: self.counts[k] for k in ("offered", "compared", "busy", "failed", "changed")},
            "changes": {
                t: {APPEARS: c[APPEARS], DISAPPEARS: c[DISAPPEARS]} for t, c in sorted(self.changes.items())
            },
            "recent": list(self.recent),
        }
