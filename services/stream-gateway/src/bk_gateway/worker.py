"""One camera's pull loop: open, read, sample, check health, hand frames on; reconnect on failure.

It runs in its own thread because FFmpeg reads and decodes block; everything it tells the rest of
the gateway goes through non-blocking calls (the frame queue, the event callback).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bk_gateway import metrics
from bk_gateway.backoff import Backoff
from bk_gateway.encode import to_jpeg
from bk_gateway.frame_queue import FrameItem, FrameQueue
from bk_gateway.health import ImageChecks, MotionGate, slow_fps
from bk_gateway.sampler import Sampler, SamplingMode
from bk_gateway.schedule import in_schedule
from bk_gateway.settings import GatewaySettings
from bk_gateway.sources import RawFrame, SourceError, open_source
from bk_gateway.spec import CameraSpec
from bk_gateway.state import HealthMachine, State, Transition

log = logging.getLogger(__name__)
OnTransition = Callable[["CameraWorker", Transition], None]


@dataclass
class Stats:
    """What the API and the alarm tick read; plain values, swapped whole by the worker thread."""

    codec: str = ""
    decoder: str = ""
    width: int = 0
    height: int = 0
    fps: float = 0.0
    reconnects: int = 0
    last_frame_at: datetime | None = None
    frames_sampled: int = 0
    frames_gated: int = 0


class CameraWorker:
    def __init__(
        self, spec: CameraSpec, settings: GatewaySettings, queue: FrameQueue, on_transition: OnTransition
    ) -> None:
        self.spec = spec
        self._settings = settings
        self._queue = queue
        self._on_transition = on_transition
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"cam-{spec.id}", daemon=True)
        self.health = HealthMachine(time.monotonic())
        self.checks = ImageChecks(
            changed_share=settings.frozen_changed_share,
            frozen_after_s=settings.frozen_after_s,
            covered_stddev=settings.covered_stddev,
        )
        self.stats = Stats()
        self.latest: RawFrame | None = None  # for snapshots, encoded only when someone asks
        #: the stream's own frame rate, what the measured fps is held against (0 = no rule): not in
        #: keyframes-only mode, where only keyframes are counted.
        self._wanted_fps = 0.0
        self._backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s, settings.backoff_jitter)

    # --- control (event loop side) -------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def update_spec(self, spec: CameraSpec) -> None:
        """Profile, schedule or gating changes apply to the next frame; no reconnect needed."""
        self.spec = spec

    def snapshot_jpeg(self, width: int, height: int, quality: int = 85) -> bytes | None:
        frame = self.latest
        return None if frame is None else to_jpeg(frame.rgb(width, height), quality)

    # --- the pull loop (worker thread) ---------------------------------------------------------
    def _emit(self, transition: Transition | None) -> None:
        if transition is None:
            return
        metrics.STATE_CHANGES.labels(self.spec.tenant_id, transition.state.value).inc()
        metrics.CAMERA_UP.labels(self.spec.tenant_id, self.spec.id).set(
            1 if transition.state in (State.ONLINE, State.DEGRADED) else 0
        )
        try:
            self._on_transition(self, transition)
        except Exception:  # a broken listener must not kill the camera
            log.exception("state listener failed", extra={"camera_id": self.spec.id})

    def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            if not first:
                self.stats.reconnects += 1
                metrics.RECONNECTS.labels(self.spec.tenant_id).inc()
            first = False
            self._pull_once()
            if self._stop.is_set():
                break
            self._stop.wait(self._backoff.next_delay())
        metrics.CAMERA_UP.labels(self.spec.tenant_id, self.spec.id).set(0)

    def _pull_once(self) -> None:
        spec = self.spec
        keyframes = spec.sampling_mode == SamplingMode.KEYFRAMES
        source = open_source(
            spec.pull_url,
            keyframes_only=keyframes,
            settings=self._settings,
            stop=self._stop,
            tenant_id=spec.tenant_id,
        )
        try:
            info = source.open()
            st = self.stats
            st.codec, st.decoder, st.width, st.height = info.codec, source.decoder, info.width, info.height
            self._wanted_fps = 0.0 if keyframes else info.nominal_fps
            sampler = Sampler(spec.sampling_mode, spec.sample_fps)
            gate = MotionGate(self._settings.motion_diff, self._settings.motion_heartbeat_s)
            window_start, window_frames = time.monotonic(), 0
            for frame in source.frames():
                if self._stop.is_set():
                    return
                now = time.monotonic()
                window_frames += 1
                if now - window_start >= 2.0:
                    st.fps = window_frames / (now - window_start)
                    metrics.CAMERA_FPS.labels(spec.tenant_id, spec.id).set(st.fps)
                    window_start, window_frames = now, 0
                    if st.decoder != source.decoder:  # only NVDEC changes: it handed the stream back
                        st.decoder = source.decoder
                        log.warning(
                            "camera %s: NVDEC cannot take this stream (profile or size); "
                            "decoding it in software",
                            spec.id,
                            extra={"camera_id": spec.id, "tenant_id": spec.tenant_id},
                        )
                st.last_frame_at = datetime.now(UTC)
                if not sampler.take(frame.time_s, frame.keyframe):
                    continue
                self._on_sample(frame, now, gate)
            raise SourceError("ended", "the stream ended")
        except SourceError as exc:
            log.warning(
                "camera %s: %s",
                spec.id,
                exc.message,
                extra={"camera_id": spec.id, "tenant_id": spec.tenant_id, "kind": exc.kind},
            )
            self._emit(self.health.failed(time.monotonic(), exc.kind, exc.message))
        except Exception as exc:  # never let one camera's surprise end its thread
            log.exception("camera %s: unexpected error", spec.id, extra={"camera_id": spec.id})
            self._emit(self.health.failed(time.monotonic(), "error", type(exc).__name__))
        finally:
            source.close()
            self.stats.fps = 0.0

    def _on_sample(self, frame: RawFrame, now: float, gate: MotionGate) -> None:
        spec = self.spec  # read once: the event loop may swap it
        probe = frame.probe()
        self.checks.update(probe, now)
        self.latest = frame
        if self.health.state not in (State.ONLINE, State.DEGRADED):
            self._backoff.reset()  # delivering again: the next failure starts from a short delay
        problem = self.checks.problem() or slow_fps(
            self.stats.fps, self._wanted_fps, self._settings.degraded_fps_ratio
        )
        self._emit(self.health.frame(now, problem))
        captured = datetime.now(UTC)
        if not spec.enabled or not in_schedule(spec.schedule, captured, spec.profile.get("timezone", "")):
            self.stats.frames_gated += 1
            metrics.FRAMES_GATED.labels(spec.tenant_id, "schedule").inc()
            return
        if spec.motion_gating and not gate.allow(probe, now):
            self.stats.frames_gated += 1
            metrics.FRAMES_GATED.labels(spec.tenant_id, "no_motion").inc()
            return
        s = self._settings
        jpeg = to_jpeg(frame.rgb(s.detector_frame_width, s.detector_frame_height), s.jpeg_quality)
        self._queue.push(
            FrameItem(
                uuid.uuid4().hex, spec.tenant_id, spec.site_id, spec.id, captured, jpeg, spec.rules_version
            )
        )
        self.stats.frames_sampled += 1
        metrics.FRAMES_SAMPLED.labels(spec.tenant_id).inc()
