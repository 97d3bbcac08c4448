"""The stream gateway as a Service: registry API, pull workers, detector streams, status events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bk_gateway import metrics, registry, views
from bk_gateway.ai_status import (
    NOT_RUNNING,
    AiState,
    AiWatch,
    CameraAi,
    Verdict,
    detector_views,
    judge_camera,
    judge_path,
)
from bk_gateway.detector_client import DetectorClient
from bk_gateway.directory_feed import place_cameras
from bk_gateway.evidence_log import ViewLog
from bk_gateway.fleet import Fleet
from bk_gateway.frame_queue import FrameQueue
from bk_gateway.liveview import routes as live_routes
from bk_gateway.liveview.embedded import EmbeddedLive, LiveError
from bk_gateway.liveview.routes import play_path
from bk_gateway.liveview.signing import PlaySigner
from bk_gateway.liveview.zlm import ZlmError, ZlmLive
from bk_gateway.models import Camera, directory, inbox, outbox
from bk_gateway.schemas import AiStatusOut, CameraIn, CameraStatusOut, DetectorStatusOut, LiveOut
from bk_gateway.settings import GatewaySettings
from bk_gateway.sharding import owner, owns
from bk_gateway.source_policy import SourcePolicy
from bk_gateway.sources import SourceError
from bk_gateway.sources.pyav import check_nvdec
from bk_gateway.spec import CameraKey, CameraSpec
from bk_gateway.state import State
from bk_gateway.status_events import TOPIC, wall_time
from bk_gateway.urls import source_kind
from bkcore.auth import STREAM_GATEWAY
from bkcore.auth_http import Authenticator
from bkcore.db import Database, OutboxRelay, database_url, enqueue_event
from bkcore.directory import DirectoryReadModel
from bkcore.http import Check, create_app
from bkcore.retention import RetentionPolicy
from bkcore.secrets import embedded_secret
from bkcore.service import Runtime, Service
from bkcore.settings import SettingsError, load_settings
from bkcore.tasks import BackgroundLoop, wait_event
from bkproto.events.v1.camera_status_pb2 import CameraStatusChanged

log = logging.getLogger(__name__)
_ADDRESS = re.compile(r"(?:ipv[46]:)?(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\])(?::\d+)?")
SERVICE = "stream-gateway"
LIVE = (State.ONLINE, State.DEGRADED)
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


class GatewayService(Service):
    name = SERVICE

    def __init__(self, runtime: Runtime, settings: GatewaySettings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.db = Database(
            database_url(settings.database_url, settings.data_dir, SERVICE),
            schema=settings.db_schema or "stream_gateway",
        )
        self.queue = FrameQueue(settings.frame_queue_size)
        # Sites and staff as the case-manager publishes them: cameras follow their site's place in the
        # org tree, and every request is checked against the staff user's current state.
        self.directory = DirectoryReadModel(
            self.db,
            directory,
            inbox,
            service=SERVICE,
            on_site=place_cameras,
            ttl_s=settings.directory_check_ttl_s,
        )
        self.relay = OutboxRelay(
            self.db, outbox, runtime.bus, poll_s=1.0, retention=RetentionPolicy.from_settings(settings)
        )
        self.fleet = Fleet(settings, self.queue, self._record_event)
        self.detectors = DetectorClient(
            settings,
            self.queue,
            self.fleet.profile_for,
            on_profile_refused=self.fleet.profile_refused,
            on_profile_accepted=self.fleet.profile_accepted,
        )
        self.signer = PlaySigner(_signing_secret(settings), settings.live_url_ttl_s)
        #: which camera sources may be registered (checked again by every pull and live view)
        self.sources = SourcePolicy.from_settings(settings)
        self.embedded_live = EmbeddedLive(settings, settings.data_dir / "live")
        self.zlm_live = ZlmLive(settings, self.signer) if settings.media_server == "zlmediakit" else None
        self.ai_watch = AiWatch()
        self._ai_loop = BackgroundLoop("gateway-ai-watch", self._watch_ai, interval_s=1.0)
        self._changed = asyncio.Event()
        self._reconciler: asyncio.Task[None] | None = None
        self._stopping = False
        self.app = create_app(
            service=SERVICE, title="Bright Kitchen stream gateway", readiness=self.readiness
        )
        #: the caller of every bearer route: staff as the directory admits them now (deps.principal)
        self.auth = Authenticator(runtime.tokens, audience=STREAM_GATEWAY, access=self.directory.access)
        self.watched = ViewLog(self)  # staff views of a kitchen, chained by the case-manager
        self.app.state.gateway = self  # what the module-level routes serve (deps.get_svc)
        self.app.include_router(views.router)
        self.app.include_router(views.ai_router)
        self.app.include_router(live_routes.router)
        if self.zlm_live is not None:
            self.app.include_router(live_routes.zlm_hooks)

    # --- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        if self.settings.video_decoder == "nvdec":
            _check_nvdec()
        await self.db.migrate(MIGRATIONS)
        self.directory.subscribe(self.runtime.bus, SERVICE)
        self.relay.start()
        self.fleet.start()
        self.detectors.start()
        self._ai_loop.start()
        self.embedded_live.start()
        await self.reconcile()
        self._reconciler = asyncio.create_task(self._reconcile_loop(), name="gateway-reconcile")

    async def stop(self) -> None:
        if self._reconciler:
            # Not cancel(): cancelling mid-transaction can wedge the SQLite driver's thread.
            self._stopping = True
            self._changed.set()
            await self._reconciler
        await self._ai_loop.stop()
        await self.detectors.stop()
        await self.embedded_live.stop()
        if self.zlm_live is not None:
            await self.zlm_live.aclose()
        await self.fleet.stop()
        await asyncio.sleep(0)  # let last status events reach the outbox task before it stops
        with contextlib.suppress(Exception):
            await self.relay.flush()
        await self.relay.stop()
        await self.db.dispose()

    async def readiness(self) -> dict[str, bool | Check]:
        verdict = self.ai_verdict()
        # No endpoint configured is a choice (frames sampled, not sent), not a failure.
        ok = verdict.ready or not self.settings.endpoints
        detectors = Check(True) if ok else Check(False, verdict.reason)
        return {
            "database": await self.db.ready(),
            "bus": await self.runtime.bus.ready(),
            "detectors": detectors,
        }

    # --- is the AI running? ------------------------------------------------------------------------
    def ai_verdict(self) -> Verdict:
        now = time.monotonic()
        self.ai_watch.saw_queue(len(self.queue), now)
        workers = self.fleet.workers
        verdict = judge_path(
            now=now,
            stall_s=self.settings.detector_stall_s,
            detectors=detector_views(self.detectors.streams, set(workers)),
            cameras_sending=sum(1 for w in workers.values() if w.health.state in LIVE),
            queue_waiting_since=self.ai_watch.queue_waiting_since,
        )
        # Exported with every verdict: /metrics never disagrees with the /readyz or status answer just given.
        metrics.AI_RUNNING.set(0 if verdict.state in NOT_RUNNING else 1)
        return verdict

    async def _watch_ai(self) -> None:
        """Once a second, so a stall is logged (once) and exported even when nobody asks."""
        verdict = self.ai_verdict()
        self.ai_watch.observe(verdict, datetime.now(UTC))

    def ai_status(self, *, addresses: bool = True) -> AiStatusOut:
        """The AI's state; without ``addresses`` each detector is "detector N", in the reason too."""
        verdict = self.ai_verdict()
        since = self.ai_watch.observe(verdict, datetime.now(UTC))
        streams = self.detectors.streams
        names = {s.endpoint: s.endpoint if addresses else f"detector {i}" for i, s in enumerate(streams, 1)}
        reason = verdict.reason
        for endpoint, name in sorted(names.items(), key=lambda kv: -len(kv[0])):
            reason = reason.replace(endpoint, name)
        if not addresses:  # what gRPC's own messages say, e.g. "ipv4:10.0.3.7:50051"
            reason = _ADDRESS.sub("(address)", reason)
        return AiStatusOut(
            running=verdict.state == AiState.RUNNING,
            state=verdict.state.value,
            reason=reason,
            since=since,
            detectors=[
                DetectorStatusOut(
                    endpoint=names[s.endpoint],
                    connected=s.connected,
                    last_answer_at=s.last_answer_at,
                    inflight_batches=s.inflight_batches,
                    model_version=s.model_version,
                )
                for s in streams
            ],
        )

    def camera_ai(self, camera: CameraKey, *, enabled: bool, here: bool) -> tuple[CameraAi, str]:
        worker = self.fleet.workers.get(camera)
        streams = self.detectors.streams
        answers = [t for s in streams if (t := s.answered.get(camera)) is not None]
        owed = [t for s in streams if (t := s.owed.get(camera)) is not None]
        state = worker.health.state if worker is not None else State.CONNECTING
        return judge_camera(
            now=time.monotonic(),
            stall_s=self.settings.detector_stall_s,
            path=self.ai_verdict(),
            enabled=enabled,
            here=here,
            refused=self.fleet.refused.get(camera),
            live=True if state in LIVE else (None if state == State.CONNECTING else False),
            live_since=worker.health.since if worker is not None else time.monotonic(),
            last_answer=max(answers, default=None),
            owed_since=min(owed, default=None),
        )

    # --- registry → workers --------------------------------------------------------------------
    def registry_changed(self) -> None:
        """Called after every registry write: workers follow within moments, no restart."""
        self._changed.set()

    async def reconcile(self) -> None:
        async with self.db.session() as s:
            specs = await registry.specs(session=s)
        self.fleet.reconcile(specs)
        if self.zlm_live is not None:
            await self._close_stale_relays({sp.key: sp for sp in specs})

    async def _close_stale_relays(self, specs: dict[CameraKey, CameraSpec]) -> None:
        """A relay of a camera since disabled, removed or re-pointed must not keep playing."""
        assert self.zlm_live is not None
        for camera, key in list(self.zlm_live.relays.items()):
            spec = specs.get(camera)
            if spec is None or not spec.enabled or spec.live_key() != key:
                await self.zlm_live.close(camera)

    async def _reconcile_loop(self) -> None:
        # Also on a timer: another replica's API may have changed the shared registry.
        while True:
            await wait_event(self._changed, self.settings.reconcile_interval_s)
            self._changed.clear()
            if self._stopping:
                return
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconcile failed; will retry")

    async def seed_cameras(self, cameras: list[dict[str, Any]]) -> None:
        """Idempotent upsert of demo cameras; a ``scenario`` key stands for source_url sim:<scenario>."""
        async with self.db.session() as s:
            for raw in cameras:
                data = dict(raw)
                if "source_url" not in data and "scenario" in data:
                    data["source_url"] = f"sim:{data['scenario']}"
                data.pop("scenario", None)
                body = CameraIn(**data)
                await registry.upsert(session=s, data=body, tenant_id=body.tenant_id or "default")
        await self.reconcile()  # the demo expects its cameras to be pulling when this returns

    # --- events ---------------------------------------------------------------------------------
    async def _record_event(self, event: CameraStatusChanged) -> None:
        async with self.db.session() as s:
            await enqueue_event(s, outbox, TOPIC, event)
        self.relay.notify()

    # --- reads ------------------------------------------------------------------------------------
    def status_of(self, cam: Camera) -> CameraStatusOut:
        key = CameraKey(cam.tenant_id, cam.id)
        worker = self.fleet.workers.get(key)
        base: dict[str, Any] = dict(
            camera_id=cam.id, tenant_id=cam.tenant_id, site_id=cam.site_id, zone=cam.zone
        )
        if worker is None:
            replicas = self.settings.replicas
            where = owner(cam.id, replicas) if replicas else self.settings.gateway_id
            state = (
                State.DISABLED
                if not cam.enabled
                else ("elsewhere" if where != self.settings.gateway_id else State.CONNECTING)
            )
            ai, why = self.camera_ai(key, enabled=cam.enabled, here=where == self.settings.gateway_id)
            return CameraStatusOut(
                **base,
                state=str(state),
                since=None,
                reason="",
                error_kind="",
                last_frame_at=None,
                fps=0.0,
                codec="",
                decoder="",
                width=0,
                height=0,
                reconnects=0,
                alarms=[],
                frames_sampled=0,
                frames_gated=0,
                gateway_id=where or "",
                ai_state=ai.value,
                ai_reason=why,
            )
        h, st = worker.health, worker.stats
        tracker = self.fleet.alarms.get(key)
        ai, why = self.camera_ai(key, enabled=True, here=True)
        return CameraStatusOut(
            **base,
            state=h.state.value,
            since=wall_time(h.since),
            reason=h.reason,
            error_kind=h.error_kind,
            last_frame_at=st.last_frame_at,
            fps=round(st.fps, 2),
            codec=st.codec,
            decoder=st.decoder,
            width=st.width,
            height=st.height,
            reconnects=st.reconnects,
            alarms=sorted(a.value for a in tracker.active) if tracker else [],
            frames_sampled=st.frames_sampled,
            frames_gated=st.frames_gated,
            gateway_id=self.settings.gateway_id,
            ai_state=ai.value,
            ai_reason=why,
        )

    # --- live view --------------------------------------------------------------------------------
    async def spec_for(self, camera: CameraKey) -> CameraSpec | None:
        worker = self.fleet.workers.get(camera)
        if worker is not None:
            return worker.spec
        async with self.db.session() as s:
            return await registry.spec(session=s, key=camera)

    async def open_live(self, cam: Camera, request_base: str) -> LiveOut:
        """Start or join the camera's live view; raises LiveError (409/502) when it cannot.

        Embedded: real cameras are remuxed (no transcoding); simulated ones are rendered and
        encoded to H.264 on demand, the gateway's one encoding path (see liveview.embedded)."""
        if not cam.enabled:
            raise LiveError(409, "the camera is disabled")
        spec = await self.spec_for(CameraKey(cam.tenant_id, cam.id))
        if spec is None:
            raise LiveError(404, "camera not found")
        if self.zlm_live is not None:
            return await self._open_zlm_live(spec, request_base)
        if not owns(cam.id, self.settings.gateway_id, self.settings.replicas):
            where = owner(cam.id, self.settings.replicas)
            raise LiveError(409, f"camera is served by gateway replica {where}; route live view by camera")
        sim_time_s = None
        if source_kind(spec.live_source) == "sim":
            # Encoded here, not remuxed (see liveview.embedded): start at the scenario time its
            # pull worker last showed, so the live view shows what the detectors see.
            worker = self.fleet.workers.get(spec.key)
            sim_time_s = getattr(worker.latest, "time_s", None) if worker is not None else None
        await self.embedded_live.open(spec, sim_time_s=sim_time_s)
        base = (self.settings.live_public_url or request_base).rstrip("/")
        exp = self.signer.expiry()
        return LiveOut(
            hls_url=base + self.signer.sign(play_path(spec.key, "index.m3u8"), exp),
            flv_url=None,
            webrtc_url=None,
            snapshot_url=base + self.signer.sign(play_path(spec.key, "snapshot.jpg"), exp),
            expires_at=datetime.fromtimestamp(exp, UTC),
        )

    async def _open_zlm_live(self, spec: CameraSpec, request_base: str) -> LiveOut:
        """ZLMediaKit relays the camera (any replica may start it: the relay lives in ZLMediaKit);
        viewers get its HTTP-FLV, HLS and WebRTC URLs, signed for the on_play hook."""
        assert self.zlm_live is not None
        if source_kind(spec.live_source) in ("sim", "file"):
            raise LiveError(
                409,
                "ZLMediaKit live view relays network cameras (RTSP, RTMP, HTTP-FLV, HLS); "
                "use the camera's snapshot instead",
            )
        try:
            await self.zlm_live.open(spec)
        except ZlmError as exc:
            raise LiveError(502, f"live view could not start: {exc.message}") from None
        exp = self.signer.expiry()
        urls = self.zlm_live.play_urls(spec.key, exp)
        base = (self.settings.live_public_url or request_base).rstrip("/")
        return LiveOut(
            hls_url=urls.hls,
            flv_url=urls.flv,
            webrtc_url=urls.webrtc,
            snapshot_url=base + self.signer.sign(play_path(spec.key, "snapshot.jpg"), exp),
            expires_at=datetime.fromtimestamp(exp, UTC),
        )

    async def snapshot(self, camera: CameraKey) -> bytes | None:
        worker = self.fleet.workers.get(camera)
        s = self.settings
        if worker is not None and worker.latest is not None:
            return await asyncio.to_thread(
                worker.snapshot_jpeg, s.detector_frame_width, s.detector_frame_height
            )
        if self.zlm_live is not None:  # not pulled here (yet): ask ZLMediaKit for one
            spec = await self.spec_for(camera)
            if spec is not None and spec.enabled:
                return await self.zlm_live.snapshot(spec)
        return None


def _check_nvdec() -> None:
    """Asked for NVDEC on a node without it: refuse to start, rather than fail every camera later."""
    try:
        check_nvdec()
    except SourceError as exc:
        raise SettingsError(exc.message) from None


def _signing_secret(settings: GatewaySettings) -> bytes:
    """The play-URL key: the configured one, else (embedded) this installation's persistent one,
    so links survive a restart and match what other embedded services sign with."""
    # Never the token key: a URL-signing key leaks more easily (it signs links anyone may hold).
    if secret := settings.url_signing_secret.get_secret_value():
        return b"bk-live-play\x00" + secret.encode()
    return b"bk-live-play\x00" + embedded_secret(settings.data_dir, "url_signing").encode()


def create_service(runtime: Runtime, settings: GatewaySettings | None = None) -> GatewayService:
    """The gateway on the runtime's adapters; settings default to the environment (BK_*), with the
    runtime's shared core settings (mode, data_dir, bus, ...) taking precedence."""
    if settings is None:
        if isinstance(runtime.settings, GatewaySettings):
            settings = runtime.settings
        else:
            core = runtime.settings.model_dump()
            core.pop("service_name", None)
            settings = load_settings(GatewaySettings, **core)
    return GatewayService(runtime, settings)
