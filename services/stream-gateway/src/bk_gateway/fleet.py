"""The cameras this replica pulls: reconciles workers with the registry (no restart needed for any
change), evaluates alarms once a second, raises the alarm of a profile a detector refused, and turns
state changes into camera.status.v1 events."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from google.protobuf.json_format import ParseDict

from bk_gateway.frame_queue import FrameQueue
from bk_gateway.settings import GatewaySettings
from bk_gateway.sharding import owns
from bk_gateway.spec import CameraKey, CameraSpec
from bk_gateway.state import Alarm, AlarmTracker, State, Transition
from bk_gateway.status_events import status_event
from bk_gateway.worker import CameraWorker
from bkcore.tasks import cancel_and_wait
from bkproto.detector.v1 import detector_pb2 as pb
from bkproto.events.v1.camera_status_pb2 import CameraStatusChanged

log = logging.getLogger(__name__)
EventSink = Callable[[CameraStatusChanged], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A detector refused this version of the camera's profile, and why (it names the field)."""

    rules_version: int
    reason: str


class Fleet:
    def __init__(self, settings: GatewaySettings, queue: FrameQueue, sink: EventSink) -> None:
        self._s = settings
        self._queue = queue
        self._sink = sink
        # Keyed by (tenant, camera): camera ids are unique per tenant only.
        self.workers: dict[CameraKey, CameraWorker] = {}
        self.alarms: dict[CameraKey, AlarmTracker] = {}
        #: cameras whose profile a detector refused, until a version as new is accepted
        self.refusals: dict[CameraKey, Refusal] = {}
        self._accepted: dict[CameraKey, int] = {}  # newest rules_version a detector accepted, per camera
        self._events: asyncio.Queue[CameraStatusChanged] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._tasks = [
            asyncio.create_task(self._publish_events(), name="status-events"),
            asyncio.create_task(self._alarm_tick(), name="camera-alarms"),
        ]

    async def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        for t in self._tasks:
            await cancel_and_wait(t)
        await asyncio.to_thread(self._join_all, 2.0)
        self.workers.clear()

    def _join_all(self, timeout: float) -> None:
        for worker in list(self.workers.values()):
            worker.join(timeout)

    # --- reconciliation ----------------------------------------------------------------------------
    def reconcile(self, specs: list[CameraSpec]) -> None:
        """Make the running workers match the registry: start, stop, restart or update in place."""
        wanted = {s.key: s for s in specs if s.enabled and owns(s.id, self._s.gateway_id, self._s.replicas)}
        for camera_id in list(self.workers):  # a CameraKey: (tenant, camera)
            spec = wanted.get(camera_id)
            worker = self.workers[camera_id]
            if spec is None or spec.stream_key() != worker.spec.stream_key():
                self._stop_worker(camera_id, disabled=spec is None)
            elif spec != worker.spec:
                worker.update_spec(spec)
        for camera_id, spec in wanted.items():
            if camera_id not in self.workers:
                worker = CameraWorker(spec, self._s, self._queue, self._on_transition)
                self.workers[camera_id] = worker
                tracker = self.alarms[camera_id] = AlarmTracker(
                    {
                        Alarm.OFFLINE: self._s.offline_alarm_s,
                        Alarm.FROZEN: self._s.frozen_alarm_s,
                        Alarm.COVERED: self._s.covered_alarm_s,
                    }
                )
                if camera_id in self.refusals:  # a restarted stream: the detector still refuses it
                    tracker.raise_now(Alarm.PROFILE_REFUSED, time.monotonic())
                worker.start()
                self._emit(worker, State.CONNECTING, State.DISABLED, "started", time.monotonic())

    def _stop_worker(self, camera_id: CameraKey, *, disabled: bool) -> None:
        worker = self.workers.pop(camera_id)
        worker.stop()  # the thread ends at its next read (bounded by the read timeout)
        self.alarms.pop(camera_id, None)
        if disabled:
            self.refusals.pop(camera_id, None)
            self._accepted.pop(camera_id, None)
            self._emit(worker, State.DISABLED, worker.health.state, "removed or disabled", time.monotonic())

    # --- events --------------------------------------------------------------------------------------
    def _emit(
        self,
        worker: CameraWorker,
        state: State,
        previous: State,
        reason: str,
        since: float,
        alarm: Alarm | None = None,
        active: bool = False,
    ) -> None:
        self._events.put_nowait(
            status_event(
                worker,
                gateway_id=self._s.gateway_id,
                state=state,
                previous=previous,
                reason=reason,
                since=since,
                alarm=alarm,
                alarm_active=active,
            )
        )

    def _on_transition(self, worker: CameraWorker, t: Transition) -> None:
        """Called on the worker's thread: build the event there, hand it over without blocking."""
        if self.workers.get(worker.spec.key) is not worker:
            return  # a replaced or removed worker winding down: its news is stale
        event = status_event(
            worker,
            gateway_id=self._s.gateway_id,
            state=t.state,
            previous=t.previous,
            reason=t.reason,
            since=t.since,
        )
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._events.put_nowait, event)

    async def _publish_events(self) -> None:
        while True:
            event = await self._events.get()
            while True:
                try:
                    await self._sink(event)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("could not record camera status event; retrying")
                    await asyncio.sleep(1.0)

    async def _alarm_tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.check_alarms(time.monotonic())

    def check_alarms(self, now: float) -> None:
        for camera_id, worker in list(self.workers.items()):
            tracker = self.alarms.get(camera_id)
            if tracker is None:
                continue
            h, c = worker.health, worker.checks
            live = h.state in (State.ONLINE, State.DEGRADED)
            conditions = {
                Alarm.OFFLINE: h.since if h.state == State.OFFLINE else None,
                Alarm.FROZEN: c.frozen_since if live else None,
                Alarm.COVERED: c.covered_since if live else None,
            }
            for change in tracker.update(now, conditions):
                reason = f"{change.alarm.value} {'raised' if change.active else 'cleared'}: {h.reason}"
                self._emit(worker, h.state, h.state, reason, change.since, change.alarm, change.active)

    # --- what the detectors say about profiles ------------------------------------------------------
    @property
    def refused(self) -> dict[CameraKey, str]:
        """Camera → why a detector refused its profile (the camera's ``ai_state`` shows it)."""
        return {camera_id: r.reason for camera_id, r in self.refusals.items()}

    def profile_refused(self, tenant_id: str, camera_id: str, rules_version: int, reason: str) -> None:
        """A detector refused this version of the camera's profile: it keeps judging the camera by the
        last profile it accepted, which is not what the registry says. Raise the camera's alarm once;
        a refusal older than a version already accepted is stale news."""
        camera_key = CameraKey(tenant_id, camera_id)
        worker = self.workers.get(camera_key)
        tracker = self.alarms.get(camera_key)
        if worker is None or tracker is None:
            return  # not a camera of this replica (any more)
        if rules_version < self._accepted.get(camera_key, -1):
            return
        known = self.refusals.get(camera_key)
        self.refusals[camera_key] = Refusal(rules_version, reason)
        if known != self.refusals[camera_key]:
            log.warning(
                "camera %s: a detector refused profile version %d: %s",
                camera_id,
                rules_version,
                reason,
                extra={"camera_id": camera_id, "tenant_id": tenant_id},
            )
        now = time.monotonic()
        if tracker.raise_now(Alarm.PROFILE_REFUSED, now) is not None:
            h = worker.health
            self._emit(
                worker,
                h.state,
                h.state,
                f"profile_refused raised: version {rules_version}: {reason}",
                now,
                Alarm.PROFILE_REFUSED,
                True,
            )

    def profile_accepted(self, tenant_id: str, camera_id: str, rules_version: int) -> None:
        """A detector accepted this version of the camera's profile: a refusal of it or of an older
        version is over (a newer profile, or a detector that now knows the rule)."""
        camera_key = CameraKey(tenant_id, camera_id)
        worker = self.workers.get(camera_key)
        if worker is None:
            return
        self._accepted[camera_key] = max(rules_version, self._accepted.get(camera_key, -1))
        refusal = self.refusals.get(camera_key)
        if refusal is None or rules_version < refusal.rules_version:
            return
        del self.refusals[camera_key]
        now = time.monotonic()
        tracker = self.alarms.get(camera_key)
        if tracker is not None and tracker.clear_now(Alarm.PROFILE_REFUSED, now) is not None:
            h = worker.health
            self._emit(
                worker,
                h.state,
                h.state,
                f"profile_refused cleared: version {rules_version} accepted",
                now,
                Alarm.PROFILE_REFUSED,
                False,
            )

    # --- reads for the API and the detector client -------------------------------------------------
    def profile_for(self, camera: CameraKey) -> pb.CameraProfile | None:
        worker = self.workers.get(camera)
        if worker is None:
            return None
        spec = worker.spec
        profile = ParseDict(spec.profile, pb.CameraProfile(), ignore_unknown_fields=True)
        profile.tenant_id, profile.site_id, profile.camera_id = spec.tenant_id, spec.site_id, spec.id
        profile.zone, profile.rules_version = spec.zone, spec.rules_version
        if not profile.timezone:
            profile.timezone = "Asia/Shanghai"
        return profile
