"""The path of one frame: decode -> batched inference -> masks -> tracking -> rules -> voting ->
evidence. ``analyse`` is the concurrent, batched half; ``judge`` the ordered, per-camera half."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from bk_detector import metrics
from bk_detector.batching import DynamicBatcher, InferenceError
from bk_detector.cadence import learn_interval
from bk_detector.decode import FrameError, check_jpeg, decode_jpeg
from bk_detector.detections import Detection, clamp_box
from bk_detector.evidence import CameraContext, EvidencePublisher, ViolationJob, event_id_for
from bk_detector.firewatch import FireWatch
from bk_detector.handover import Handover
from bk_detector.modelapi import RawDetectionLike
from bk_detector.profiles import (
    CameraProfile,
    default_profile,
    held_profile,
    profile_from_proto,
    profile_problem,
)
from bk_detector.rules import apply_masks, evaluate
from bk_detector.settings import DetectorSettings
from bk_detector.shadow import ShadowRunner
from bk_detector.tracking import Tracker
from bk_detector.voting import Phase, Transition, Voter, VotingPolicy
from bkcore.clock import Clock, SystemClock
from bkproto.detector.v1 import detector_pb2 as pb

log = logging.getLogger("bk_detector.pipeline")
CameraKey = tuple[str, str]  # (tenant_id, camera_id): camera ids are only unique inside a tenant
IDLE_FORGET_S = 3600.0  # camera state kept this long after its last frame


@dataclass(slots=True)
class Analysed:
    """A frame after decode and inference, before the per-camera judgement."""

    image: np.ndarray | None = None
    detections: Sequence[Detection] = ()
    error: str = ""
    model_version: str = ""  # the model that produced ``detections``
    jpeg: bytes | None = None  # device decode: checked bytes waiting for the GPU's decoder
    detected: bool = False  # went through the model (``image`` stays None on the device path)


@dataclass
class _Camera:
    tracker: Tracker
    fire: FireWatch
    voter: Voter
    context: CameraContext
    last_at: datetime | None = None  # capture time of the newest frame
    last_mono: float = field(default_factory=time.monotonic)  # when that frame arrived here
    # The camera's sampling interval, learnt from its capture times (0 = not yet): tracks, flames
    # and violations wait for it in observations, not in fixed seconds (``cadence``).
    interval_s: float = 0.0

    def quiet(self) -> bool:
        """No tracks, no flames, no votes: a frame without detections changes nothing here."""
        return not len(self.tracker) and not len(self.fire) and not len(self.voter)


class DetectionPipeline:
    def __init__(
        self,
        *,
        settings: DetectorSettings,
        batcher: DynamicBatcher,
        evidence: EvidencePublisher,
        model_version: str,
        clock: Clock | None = None,
        input_size: tuple[int, int] | None = None,
        handover: Handover | None = None,
    ) -> None:
        self.settings, self.batcher, self.evidence = settings, batcher, evidence
        # With a handover, raised violations are journaled: they survive this pod, and a camera
        # moving between pods keeps its story (``handover``, ``journal``).
        self.handover = handover
        self._emitted: list[ViolationJob] = []  # what the batch being judged raised or ended
        self.model_version = model_version
        self.input_size = input_size  # the model's (width, height): decode no larger than needed
        # True when the model decodes JPEGs itself on the GPU (batched nvJPEG): the CPU then only
        # checks headers (the same strict checks) and bad frames still never reach the model.
        self.device_decode = False
        self.clock = clock or SystemClock()
        self.policy = VotingPolicy(
            window=settings.vote_window,
            ratio=settings.vote_ratio,
            min_observations=settings.vote_min_observations,
            end_after_s=settings.end_after_s,
            update_interval_s=settings.update_interval_s,
            end_after_observations=settings.end_after_observations,
        )
        self._profiles: dict[CameraKey, CameraProfile] = {}
        self._cameras: dict[CameraKey, _Camera] = {}
        self._defaults: dict[CameraKey, CameraProfile] = {}  # cameras without a profile (yet)
        self.shadow: ShadowRunner | None = None  # a candidate model compared on sampled frames

    # -- profiles ---------------------------------------------------------------------------------

    def update_profile(self, msg: pb.CameraProfile) -> str | None:
        """Apply a camera profile; returns why it was refused, or None. A refused profile leaves the
        camera judged by the last profile accepted for it; with none, by no rule (``held_profile``),
        never by the default (every rule on, masks dropped). The caller reports the refusal."""
        if problem := profile_problem(msg):
            log.warning(
                "camera profile version %d refused: %s",
                msg.rules_version,
                problem,
                extra={"tenant_id": msg.tenant_id, "camera_id": msg.camera_id},
            )
            metrics.PROFILES_REFUSED.labels(msg.tenant_id or "unknown").inc()
            key = (msg.tenant_id, msg.camera_id)
            if msg.tenant_id and msg.camera_id and key not in self._profiles:
                self._apply_profile(key, held_profile(msg))
            return problem
        profile = profile_from_proto(msg)
        key = (profile.tenant_id, profile.camera_id)
        current = self._profiles.get(key)
        if current is None or profile.rules_version >= current.rules_version:
            self._apply_profile(key, profile)
        return None

    def _apply_profile(self, key: CameraKey, profile: CameraProfile) -> None:
        self._profiles[key] = profile
        if cam := self._cameras.get(key):
            cam.context = self._context(profile, cam.context.site_id)

    def profile(self, tenant_id: str, camera_id: str) -> CameraProfile:
        key = (tenant_id, camera_id)
        found = self._profiles.get(key) or self._defaults.get(key)
        if found is None:  # built once per camera, not once per frame
            found = self._defaults[key] = default_profile(tenant_id, camera_id)
        return found

    # -- the concurrent half ----------------------------------------------------------------------

    async def analyse(self, frames: Sequence[pb.Frame]) -> list[Analysed]:
        """Decode and detect every frame; one bad frame never holds up the others. The frames go to
        the batcher as one group (one queue entry, one future), not one task per frame."""
        if self.device_decode:
            # Header checks are microseconds: inline. Only frames the GPU decoder does not take
            # (progressive JPEGs) are decoded here, on worker threads.
            items = [self._check(f) for f in frames]
            cpu = [i for i, item in enumerate(items) if item.error == "cpu"]
            if cpu:
                done = await asyncio.gather(*(asyncio.to_thread(self._decode, frames[i]) for i in cpu))
                for i, item in zip(cpu, done, strict=True):
                    items[i] = item
        else:
            # One thread per frame: libjpeg releases the GIL, so a batch decodes on every core.
            items = list(await asyncio.gather(*(asyncio.to_thread(self._decode, f) for f in frames)))
        todo = [i for i, item in enumerate(items) if item.jpeg is not None or item.image is not None]
        if not todo:
            return items
        payloads = [items[i].jpeg if items[i].jpeg is not None else items[i].image for i in todo]
        try:
            outcomes = await self.batcher.submit_many(payloads)  # type: ignore[arg-type]
        except (InferenceError, FrameError) as exc:
            for i in todo:
                items[i] = Analysed(error=str(exc))
            return items
        for i, outcome in zip(todo, outcomes, strict=True):
            item = items[i]
            if isinstance(outcome, Exception):  # FrameError (undecodable) or its batch's InferenceError
                items[i] = Analysed(error=str(outcome))
                continue
            raw, version = outcome
            # Most frames show nothing: nothing to build. The real model already answers with
            # clamped Detections made on its own thread; anything else is converted here.
            item.detections = [d if type(d) is Detection else _detection(d) for d in raw] if raw else ()
            item.model_version, item.detected = version, True
            if self.shadow is not None:  # a candidate beside the live model (``shadow``): never waits
                f = frames[i]
                self.shadow.offer(
                    f,
                    item.image,
                    item.detections,
                    self.profile(f.tenant_id, f.camera_id),
                    self._frame_time(f),
                )
        return items

    def _decode(self, frame: pb.Frame) -> Analysed:
        if not frame.tenant_id or not frame.camera_id:
            return Analysed(error="frame without tenant_id/camera_id")
        try:
            image = decode_jpeg(
                frame.jpeg,
                max_bytes=self.settings.max_frame_bytes,
                max_pixels=self.settings.max_pixels,
                at_least=self.input_size,
            )
        except FrameError as exc:
            return Analysed(error=str(exc))
        return Analysed(image=image)

    def _check(self, frame: pb.Frame) -> Analysed:
        """Device decode: validate without decoding; error "cpu" = decode this one on the CPU."""
        if not frame.tenant_id or not frame.camera_id:
            return Analysed(error="frame without tenant_id/camera_id")
        jpeg = frame.jpeg  # one read: every read of a proto bytes field copies it
        try:
            _, _, sequential = check_jpeg(
                jpeg, max_bytes=self.settings.max_frame_bytes, max_pixels=self.settings.max_pixels
            )
        except FrameError as exc:
            return Analysed(error=str(exc))
        return Analysed(jpeg=jpeg) if sequential else Analysed(error="cpu")

    # -- the ordered half -------------------------------------------------------------------------

    def judge(self, frame: pb.Frame, analysed: Analysed) -> pb.FrameResult:
        """Masks, tracking, rules and voting for one frame; call in capture order per camera."""
        out = pb.DetectionBatch()
        self.judge_batch([frame], [analysed], out)
        return out.results[0]

    def judge_batch(
        self, frames: Sequence[pb.Frame], analysed: Sequence[Analysed], out: pb.DetectionBatch
    ) -> list[ViolationJob]:
        """``judge`` for a whole batch, in order, appending one FrameResult per frame to ``out``.
        A frame whose judgement fails gets an error result; the others are not affected. Returns
        the violation events the batch caused (``settle`` waits for them before the answer)."""
        self._emitted = []
        results = out.results
        counts: dict[tuple[str, str], int] = {}
        for frame, item in zip(frames, analysed, strict=True):
            try:
                outcome = self._judge_one(frame, item, results)
            except Exception as exc:  # one frame's bug must not fail the other frames
                log.exception("judging frame %s failed", frame.frame_id)
                results.add(
                    frame_id=frame.frame_id,
                    camera_id=frame.camera_id,
                    error=f"internal error: {type(exc).__name__}",
                )
                continue
            counts[outcome] = counts.get(outcome, 0) + 1
        for (tenant, outcome), n in counts.items():  # one counter update per batch, not per frame
            metrics.FRAMES.labels(tenant, outcome).inc(n)
        emitted, self._emitted = self._emitted, []
        return emitted

    # -- what survives this pod (``handover``, ``journal``) ---------------------------------------

    def look_up(self, frames: Iterable[pb.Frame]) -> Awaitable[Any] | None:
        """What to await before judging ``frames``: reading the journal of cameras new to this pod
        (None, the common case: no camera is new). Bounded; never raises."""
        if self.handover is None:
            return None
        cameras = self._cameras
        new = {(f.tenant_id, f.camera_id) for f in frames if (f.tenant_id, f.camera_id) not in cameras}
        return self.handover.look_up(k for k in new if k[0] and k[1]) if new else None

    async def settle(self, jobs: Sequence[ViolationJob], out: pb.DetectionBatch) -> None:
        """Before a batch is answered: wait (at most ``evidence_durable_timeout_s``) until the
        violations it raised are in the object store. A frame whose violation is not gets an
        error in its answer: "done" is never said for a violation that would die with this pod."""
        waits = {job.durable: job for job in jobs if job.durable is not None}
        if not waits:
            return
        done, _ = await asyncio.wait(waits, timeout=self.settings.evidence_durable_timeout_s)
        failed = {
            job.frame_id
            for task, job in waits.items()
            if task not in done or task.cancelled() or task.exception() is not None
        }
        if not failed:
            return
        metrics.NOT_DURABLE.inc(len(failed))
        log.error(
            "%d new violation(s) not durable in %.1fs (object store unavailable?): their frames "
            "are answered with an error; delivery goes on while this pod lives",
            len(failed),
            self.settings.evidence_durable_timeout_s,
        )
        for result in out.results:
            if result.frame_id in failed and not result.error:
                result.error = "violation not durable yet: object store unavailable"

    async def maintain(self) -> None:
        """The sweeper's share of the journal: renew held violations, forget cameras that moved."""
        if self.handover is not None:
            for key in await self.handover.renew(self._cameras):
                self._cameras.pop(key, None)

    def _judge_one(self, frame: pb.Frame, analysed: Analysed, results: Any) -> tuple[str, str]:
        """Judge one frame and add its result (last, so a failure adds nothing); returns the
        (tenant, outcome) to count."""
        tenant_id, camera_id = frame.tenant_id, frame.camera_id
        if analysed.error or not analysed.detected:
            results.add(frame_id=frame.frame_id, camera_id=camera_id, error=analysed.error or "no image")
            return tenant_id or "unknown", "rejected"
        profile = self.profile(tenant_id, camera_id)
        cam = self._camera(frame, profile)
        when = self._capture_time(frame, cam)
        raw = analysed.detections
        if not raw and cam.quiet():
            # The common case: nothing seen, nothing remembered. The full path below would prune
            # empty tracks, find no flames, no candidates and no votes: only the clock moves.
            results.add(frame_id=frame.frame_id, camera_id=camera_id)
            return tenant_id, "ok"
        interval = cam.interval_s
        dets = cam.tracker.update(apply_masks(raw, profile.masks) if raw else (), when, interval)
        unattended = cam.fire.observe(dets, when, interval)
        candidates = (
            evaluate(
                dets,
                profile,
                when,
                default_min_score=self.settings.default_min_score,
                unattended_flames=unattended,
            )
            if dets
            else []
        )
        for transition in cam.voter.observe(candidates, when, interval):
            self._emit(cam, transition, frame, dets, analysed.model_version, analysed.jpeg)
        result = results.add(frame_id=frame.frame_id, camera_id=camera_id, violations=cam.voter.active())
        _add_detections(result.detections, dets)  # plain field sets: cannot fail half-way
        return tenant_id, "ok"

    def sweep(self) -> int:
        """End violations on cameras that went quiet, forget long-idle cameras; returns transitions."""
        emitted = 0
        now_mono = time.monotonic()
        for key, cam in list(self._cameras.items()):
            idle = now_mono - cam.last_mono
            if cam.last_at is not None and idle >= self.settings.end_after_s:
                for transition in cam.voter.flush(cam.last_at + timedelta(seconds=idle), cam.interval_s):
                    self._emit(cam, transition, None, ())
                    emitted += 1
            if idle >= IDLE_FORGET_S and not cam.voter.active():
                del self._cameras[key]
                self._defaults.pop(key, None)
        return emitted

    def _camera(self, frame: pb.Frame, profile: CameraProfile) -> _Camera:
        key = (frame.tenant_id, frame.camera_id)
        cam = self._cameras.get(key)
        if cam is None:
            s = self.settings
            cam = _Camera(
                tracker=Tracker(s.track_max_age_s, s.track_max_age_observations),
                fire=FireWatch(
                    s.fire_unattended_s,
                    s.default_min_score,
                    forget_after_s=s.track_max_age_s,
                    observations=s.track_max_age_observations,
                ),
                voter=Voter(self.policy),
                context=self._context(profile, frame.site_id),
            )
            self._cameras[key] = cam
            if self.handover is not None:  # new here: maybe it comes with violations from another pod
                self.handover.adopt(key, cam, self._frame_time(frame))
        elif frame.site_id and not cam.context.site_id:
            cam.context = self._context(profile, frame.site_id)
        return cam

    @staticmethod
    def _context(profile: CameraProfile, site_id: str) -> CameraContext:
        return CameraContext(
            tenant_id=profile.tenant_id,
            site_id=profile.site_id or site_id,
            camera_id=profile.camera_id,
            zone=profile.zone,
            timezone=profile.timezone,
        )

    def _frame_time(self, frame: pb.Frame) -> datetime:
        has_time = frame.HasField("captured_at") and (frame.captured_at.seconds or frame.captured_at.nanos)
        return frame.captured_at.ToDatetime(tzinfo=UTC) if has_time else self.clock.now()

    def _capture_time(self, frame: pb.Frame, cam: _Camera) -> datetime:
        when = self._frame_time(frame)
        # Time never runs backwards for one camera: a late frame counts as "now", not the past.
        if cam.last_at is not None:
            if when < cam.last_at:
                when = cam.last_at
            cam.interval_s = learn_interval(
                cam.interval_s, (when - cam.last_at).total_seconds(), self.settings.sampling_interval_max_s
            )
        cam.last_at, cam.last_mono = when, time.monotonic()
        return when

    def _emit(
        self,
        cam: _Camera,
        transition: Transition,
        frame: pb.Frame | None,
        dets: Sequence[Detection],
        model_version: str = "",
        jpeg: bytes | None = None,
    ) -> None:
        job = ViolationJob(
            transition=transition,
            camera=cam.context,
            event_id=event_id_for(transition),
            model_version=model_version or self.model_version,
        )
        if transition.phase is Phase.STARTED and frame is not None:
            # Only the JPEG bytes wait in the queue; the annotator decodes them again at full size.
            # The bytes the header check already read, when there are any: no second copy.
            job.jpeg, job.detections = jpeg if jpeg is not None else frame.jpeg, list(dets)
            job.frame_id = frame.frame_id
        handover = self.handover
        if handover is not None:
            key = (cam.context.tenant_id, cam.context.camera_id)
            if transition.phase is Phase.STARTED and frame is not None:
                handover.started(key, cam, job, dets)
            elif transition.phase is Phase.ENDED:
                handover.ended(job, idle=frame is None)
        self.evidence.submit(job)
        if handover is not None:
            handover.submitted(job)
        self._emitted.append(job)


def _detection(d: RawDetectionLike) -> Detection:
    return Detection(d.label, float(d.score), clamp_box(d.box), dict(d.attributes))


def _add_detections(field: Any, dets: Sequence[Detection]) -> None:
    """Append ``dets`` to a repeated Detection field, built in place (no message built apart and
    then copied in: this runs for every detection of every frame)."""
    for d in dets:
        msg = field.add(label=d.label, score=d.score, track_id=d.track_id)
        if d.attributes:  # key by key: a map given to add() goes through a slow generic update
            attributes = msg.attributes
            for name, value in d.attributes.items():
                attributes[name] = value
        box = msg.box
        box.x1, box.y1, box.x2, box.y2 = d.box


async def _ready(item: Analysed) -> Analysed:
    return item
