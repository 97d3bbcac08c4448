"""The detector as a bkcore Service: model + batcher + evidence + gRPC server + HTTP ops app."""

from __future__ import annotations

import asyncio
import logging
import os

import grpc
from fastapi import Depends, FastAPI, HTTPException
from google.protobuf.json_format import MessageToDict
from pydantic import BaseModel, Field

from bk_detector import metrics
from bk_detector.batching import DynamicBatcher
from bk_detector.directory import DirectoryFeed
from bk_detector.evidence import EvidencePublisher, RetryPolicy
from bk_detector.grpc_server import DetectorServicer, model_info, start_grpc_server
from bk_detector.handover import Handover
from bk_detector.journal import ViolationJournal, pod_identity
from bk_detector.modelapi import DetectionModel, load_model
from bk_detector.pipeline import DetectionPipeline
from bk_detector.recovery import recover
from bk_detector.registry import ModelRegistry, RegistryError, VersionNotFound, resolve_artefact
from bk_detector.settings import DetectorSettings
from bk_detector.shadow import ShadowRunner
from bkcore.auth import DETECTOR, Principal, Scope
from bkcore.auth_http import Authenticator
from bkcore.http import create_app
from bkcore.service import Runtime, Service
from bkcore.settings import ENV_PREFIX, CoreSettings, Mode, load_settings
from bkcore.tasks import cancel_and_wait

log = logging.getLogger("bk_detector.service")
SWEEP_EVERY_S = 1.0


class ActivateRequest(BaseModel):
    version: str = Field(..., min_length=1, max_length=128, description="registry version to serve")


class ShadowRequest(BaseModel):
    version: str = Field(..., min_length=1, max_length=128, description="registry version to shadow")
    sample_rate: float | None = Field(
        None, ge=0.0, le=1.0, description="share of frames; unset = BK_SHADOW_SAMPLE_RATE"
    )


class DetectorService(Service):
    name = "detector"

    def __init__(
        self, runtime: Runtime, settings: DetectorSettings, model: DetectionModel | None = None
    ) -> None:
        self.runtime, self.settings = runtime, settings
        self.model: DetectionModel | None = model
        self.pipeline: DetectionPipeline | None = None
        self.grpc_address = ""
        self._batcher: DynamicBatcher | None = None
        self._evidence: EvidencePublisher | None = None
        self._server: grpc.aio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._journal_tasks: list[asyncio.Task[None]] = []
        self.journal: ViolationJournal | None = None
        self.handover: Handover | None = None
        self._servicer: DetectorServicer | None = None
        self._switch_lock = asyncio.Lock()
        self._previous: DetectionModel | None = None  # served before the last switch (``rollback``)
        self.shadow: ShadowRunner | None = None  # a candidate beside the live model (``shadow``)
        self.registry = ModelRegistry(runtime.store, settings.data_dir / "models")
        # Operators as the directory has them now (directory.v1): a deactivated one is refused.
        self.directory = DirectoryFeed(
            settings.data_dir, pod=pod_identity(settings.pod_name), ttl_s=settings.directory_check_ttl_s
        )
        self.directory.subscribe(runtime.bus)  # before the shared bus starts
        self.app = self._build_app()

    async def start(self) -> None:
        s = self.settings
        if s.cpu_threads:  # before torch loads, so every inference thread's OpenMP pool gets it
            os.environ.setdefault("OMP_NUM_THREADS", str(s.cpu_threads))
        if self.model is None:
            path = s.model_path
            if path is None:
                from bk_detector.model.artifact import SHIPPED

                path = await resolve_artefact(self.registry, s.model_name, s.model_version, SHIPPED)
            # Loading weights is blocking and slow (seconds): keep the event loop free meanwhile.
            self.model = await asyncio.to_thread(
                load_model, path, s.device, s.half, *self._padding(s.device), kind=s.model_kind
            )
        log.info(
            "model loaded",
            extra={
                "model": self.model.name,
                "version": self.model.version,
                "device": self.model.device,
                "precision": self.model.precision,
            },
        )
        on_cuda = str(self.model.device).startswith("cuda")
        concurrency = s.inference_concurrency or (2 if on_cuda else 1)
        self._batcher = DynamicBatcher(
            self.model,
            max_batch_size=s.max_batch_size,
            max_wait_ms=s.max_wait_ms,
            max_queue=s.max_queue_frames,
            concurrency=concurrency,
        )
        # Raised violations are journaled in the object store: they outlive this pod (recovery) and
        # follow their camera to another pod (handover).
        self.journal = ViolationJournal(
            self.runtime.store,
            pod=pod_identity(s.pod_name),
            clock=self.runtime.clock,
            timeout_s=s.journal_timeout_s,
        )
        self.handover = Handover(
            self.journal, renew_s=s.journal_renew_s, lookup_timeout_s=s.handover_lookup_timeout_s
        )
        self._evidence = EvidencePublisher(
            store=self.runtime.store,
            bus=self.runtime.bus,
            producer=s.service_name,
            workers=s.evidence_workers,
            max_pending=s.evidence_max_pending,
            retry=RetryPolicy(s.evidence_max_attempts, s.evidence_retry_base_s, s.evidence_retry_max_s),
            font_path=s.annotate_font,
            jpeg_quality=s.jpeg_quality,
            journal=self.journal,
        )
        self.pipeline = DetectionPipeline(
            settings=s,
            batcher=self._batcher,
            evidence=self._evidence,
            model_version=self.model.version,
            clock=self.runtime.clock,
            input_size=(self.model.input_width, self.model.input_height),
            handover=self.handover,
        )
        self.pipeline.device_decode = self._device_decode(self.model)
        await self._batcher.start()
        await self._evidence.start()
        self._servicer = DetectorServicer(
            self.pipeline, self.model, max_batch_size=s.max_batch_size, max_inflight=s.max_inflight_batches
        )
        self._server, port = await start_grpc_server(
            self._servicer, s.grpc_host, s.grpc_port, s.grpc_max_message_bytes
        )
        self.grpc_address = f"{s.grpc_host}:{port}"
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="detector-sweeper")
        self._journal_tasks = [
            asyncio.create_task(self._renew_forever(), name="detector-journal-renew"),
            asyncio.create_task(self._recover_forever(), name="detector-recovery"),
        ]
        log.info("detector serving gRPC", extra={"address": self.grpc_address})

    def _padding(self, device: str) -> tuple[tuple[int, ...], bool, bool]:
        """load_model's (buckets, cudnn_benchmark, cuda_graphs) for ``device`` ("auto" = what load
        picks)."""
        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        s = self.settings
        return s.buckets_for(device), s.cudnn_benchmark, s.cuda_graphs

    def _device_decode(self, model: DetectionModel) -> bool:
        wanted = self.settings.device_decode
        able = hasattr(model, "predict_jpeg") and (str(model.device).startswith("cuda") or wanted is True)
        return able and wanted is not False

    async def activate(self, version: str, model: DetectionModel | None = None) -> DetectionModel:
        """Serve registry ``version`` of ``BK_MODEL_NAME`` from the next batch on, dropping no frame.

        The new model is fetched and loaded beside the old one (worker thread: the old model keeps
        serving meanwhile); then the batcher swaps it in between two batches. Batches already
        running finish on the old model and report its version; every later one reports the new.
        ``model`` skips the registry (tests, demos). Raises VersionNotFound / RegistryError.
        """
        if self._batcher is None or self.pipeline is None or self.model is None:
            raise RegistryError("the detector is not started")
        async with self._switch_lock:  # one switch at a time; frames keep flowing throughout
            if model is None:
                s = self.settings
                path = await self.registry.fetch(s.model_name, version)
                device = str(self.model.device)
                half = self.model.precision == "fp16"
                model = await asyncio.to_thread(
                    load_model, path, device, half, *self._padding(device), kind=s.model_kind
                )
            await self._swap(model)
            return model

    async def _swap(self, model: DetectionModel) -> None:
        """Swap ``model`` in between two batches (hold ``_switch_lock``)."""
        assert self._batcher is not None and self.pipeline is not None and self.model is not None
        # every inference thread runs each bucket once before the first batch on this model
        await self._batcher.warm_up(model)
        old = self.model
        # Between two awaits: the loop runs nothing else, so these move together.
        self.pipeline.device_decode = self._device_decode(model)
        self.pipeline.input_size = (model.input_width, model.input_height)
        self.pipeline.model_version = model.version
        if self._servicer is not None:
            self._servicer.model = model
        self.model = model
        self._batcher.swap_model(model)
        self._previous = old
        if self.shadow is not None:
            self.shadow.live_version = model.version
        log.info("model switched", extra={"from_version": old.version, "to_version": model.version})

    async def rollback(self) -> dict[str, str]:
        """Serve the model served before the last switch again, from the next batch on, dropping no
        frame (it is still loaded: no download, no wait). When the version left behind is the
        registry's latest, it is withdrawn there too, so new pods load the restored one.
        Raises RegistryError when this pod has served one model only."""
        if self._batcher is None or self.model is None:
            raise RegistryError("the detector is not started")
        name = self.settings.model_name
        async with self._switch_lock:
            if self._previous is None:
                raise RegistryError("nothing to roll back to: this pod has served one model since it started")
            try:
                withdrawn = await self.registry.withdrawn(name)
            except Exception as exc:  # the store is down: rolling back matters more than this check
                log.warning("rollback: cannot read withdrawn versions: %r", exc)
                withdrawn = frozenset()
            if self._previous.version in withdrawn:
                raise RegistryError(
                    f"{name} {self._previous.version} was withdrawn from the registry: not serving it again"
                )
            left = self.model
            await self._swap(self._previous)
            self._previous = None  # a second rollback must not bring back the model just left
        restored = self.model.version
        try:
            if await self.registry.latest(name) == left.version:
                withdrawn, latest = await self.registry.rollback(name)
                registry = f"withdrew {withdrawn}; latest is {latest}"
            else:
                registry = f"unchanged: {left.version} is not the registry's latest"
        except RegistryError as exc:  # e.g. the shipped weights were never published: nothing to undo
            registry = f"unchanged: {exc}"
        except Exception as exc:  # the store is down: the pod has rolled back, the pointer has not
            log.warning("rollback: registry not updated: %r", exc)
            registry = f"not updated: {exc!r}"
        log.warning("model rolled back", extra={"from_version": left.version, "to_version": restored})
        return {"from": left.version, "to": restored, "registry": registry}

    async def start_shadow(
        self, version: str, model: DetectionModel | None = None, sample_rate: float | None = None
    ) -> ShadowRunner:
        """Run registry ``version`` (or ``model``) as the shadow of the live model, replacing any
        shadow running; it sees ``sample_rate`` of the frames (default BK_SHADOW_SAMPLE_RATE)."""
        if self.pipeline is None or self.model is None:
            raise RegistryError("the detector is not started")
        s = self.settings
        if model is None:
            path = await self.registry.fetch(s.model_name, version)
            device, half = str(self.model.device), self.model.precision == "fp16"
            model = await asyncio.to_thread(load_model, path, device, half, kind=s.model_kind)
        runner = ShadowRunner(
            model,
            live_version=self.model.version,
            sample_rate=s.shadow_sample_rate if sample_rate is None else sample_rate,
            max_pending=s.shadow_max_pending,
            min_score=s.default_min_score,
            max_frame_bytes=s.max_frame_bytes,
            max_pixels=s.max_pixels,
        )
        await self.stop_shadow()
        runner.start()
        self.shadow = self.pipeline.shadow = runner
        log.info("shadow model started", extra={"version": model.version, "sample_rate": runner.sampler.rate})
        return runner

    async def stop_shadow(self) -> str | None:
        """Stop the shadow model; returns its version (None when none ran)."""
        runner, self.shadow = self.shadow, None
        if self.pipeline is not None:
            self.pipeline.shadow = None
        if runner is None:
            return None
        await runner.stop()
        return runner.model.version

    async def stop(self) -> None:
        """Stop taking frames, finish the ones in flight, then deliver pending evidence."""
        await self.stop_shadow()
        if self._server is not None:
            await self._server.stop(grace=5.0)
            self._server = None
        if self._sweeper is not None:
            await cancel_and_wait(self._sweeper)
            self._sweeper = None
        for task in self._journal_tasks:
            await cancel_and_wait(task)
        self._journal_tasks = []
        if self._batcher is not None:
            await self._batcher.stop()
        if self._evidence is not None:
            await self._evidence.stop()
        await self.directory.stop()

    async def readiness(self) -> dict[str, bool]:
        return {
            "model": self.model is not None and self._batcher is not None and self._batcher.running,
            "grpc": self._server is not None,
        }

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            if self.pipeline is not None:
                try:
                    self.pipeline.sweep()
                except Exception:
                    log.exception("sweeping idle cameras failed")

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(min(SWEEP_EVERY_S, self.settings.journal_renew_s))
            if self.pipeline is not None:
                try:
                    await self.pipeline.maintain()
                except Exception:
                    log.exception("renewing the journal failed")

    async def recover_now(self) -> None:
        """Publish what the journal holds that no live pod delivers (``recovery``); logs failures."""
        if self.journal is None or self._evidence is None:
            return
        s = self.settings
        try:
            found = await recover(
                self.journal,
                self._evidence,
                self.handover,
                lease_s=s.journal_lease_s,
                end_after_s=s.end_after_s,
            )
        except Exception as exc:  # an outage: the next scan tries again
            metrics.JOURNAL_ERRORS.labels("scan").inc()
            log.warning("journal scan failed: %r", exc)
            return
        if found.started or found.ended:
            log.warning("recovered %d STARTED and %d ENDED from the journal", found.started, found.ended)

    async def _recover_forever(self) -> None:
        while True:  # at start-up first: a pod that replaces a dead one picks up what it left
            await self.recover_now()
            await asyncio.sleep(self.settings.journal_scan_s)

    def _build_app(self) -> FastAPI:
        app = create_app(service=self.name, title="Bright Kitchen detector", readiness=self.readiness)

        # The operator alone (BK_OPERATOR_TENANT's platform admins, or a service holding models:admin):
        # the detector pool serves every tenant, so no tenant's admin may switch the model for the rest.
        admin = Authenticator(
            self.runtime.tokens, audience=DETECTOR, access=self.directory.access
        ).require_operator(self.settings.operator_tenant, scope=Scope.MODELS_ADMIN)

        # Operators only, like every /model route: which model, version and labels a pod serves tells
        # an attacker what to evade (#17.10). The gateway learns it over gRPC (GetModelInfo).
        @app.get("/model", tags=["detector"], summary="The loaded model: name, version, labels (admin)")
        async def get_model(_: Principal = Depends(admin)) -> dict[str, object]:
            if self.model is None:
                from fastapi import HTTPException

                raise HTTPException(503, "model not loaded yet")
            return MessageToDict(
                model_info(self.model, self.settings.max_batch_size),
                preserving_proto_field_name=True,
                always_print_fields_with_no_presence=True,
            )

        @app.get("/model/versions", tags=["detector"], summary="Versions of BK_MODEL_NAME in the registry")
        async def list_versions(_: Principal = Depends(admin)) -> dict[str, object]:
            versions = await self.registry.versions(self.settings.model_name)
            return {
                "name": self.settings.model_name,
                "active": self.model.version if self.model else None,
                "versions": [
                    {"version": v.version, "published_at": v.published_at, "map50": v.manifest.get("map50")}
                    for v in versions
                ],
            }

        @app.post(
            "/model/activate",
            tags=["detector"],
            summary="Switch to another registry version without dropping frames",
        )
        async def activate(body: ActivateRequest, p: Principal = Depends(admin)) -> dict[str, object]:
            try:
                model = await self.activate(body.version)
            except VersionNotFound as exc:
                raise HTTPException(404, str(exc)) from None
            except RegistryError as exc:
                raise HTTPException(409, str(exc)) from None
            log.info("model activated over HTTP", extra={"by": p.subject, "version": model.version})
            return MessageToDict(
                model_info(model, self.settings.max_batch_size),
                preserving_proto_field_name=True,
                always_print_fields_with_no_presence=True,
            )

        @app.post(
            "/model/rollback",
            tags=["detector"],
            summary="Return to the model served before the last switch, dropping no frame (admin)",
        )
        async def rollback(p: Principal = Depends(admin)) -> dict[str, str]:
            try:
                out = await self.rollback()
            except RegistryError as exc:
                raise HTTPException(409, str(exc)) from None
            log.warning("model rolled back over HTTP", extra={"by": p.subject, **out})
            return out

        @app.post(
            "/model/shadow",
            tags=["detector"],
            summary="Run a registry version beside the live model on a sample of frames (admin)",
        )
        async def shadow_start(body: ShadowRequest, p: Principal = Depends(admin)) -> dict[str, object]:
            try:
                runner = await self.start_shadow(body.version, sample_rate=body.sample_rate)
            except VersionNotFound as exc:
                raise HTTPException(404, str(exc)) from None
            except RegistryError as exc:
                raise HTTPException(409, str(exc)) from None
            log.info("shadow model started over HTTP", extra={"by": p.subject, "version": body.version})
            return runner.report()

        @app.get(
            "/model/shadow",
            tags=["detector"],
            summary="Alarms the shadow model would change: counts by type, recent examples (admin)",
        )
        async def shadow_report(_: Principal = Depends(admin)) -> dict[str, object]:
            if self.shadow is None:
                raise HTTPException(404, "no shadow model is running")
            return self.shadow.report()

        @app.delete("/model/shadow", tags=["detector"], summary="Stop the shadow model (admin)")
        async def shadow_stop(_: Principal = Depends(admin)) -> dict[str, object]:
            report = self.shadow.report() if self.shadow is not None else None
            if await self.stop_shadow() is None:
                raise HTTPException(404, "no shadow model is running")
            return {"stopped": report}

        return app


def create_service(
    runtime: Runtime, settings: DetectorSettings | None = None, model: DetectionModel | None = None
) -> DetectorService:
    """The detector on ``runtime``'s bus and store; ``model`` skips loading weights (tests, demos).

    Without ``settings``, the detector's own fields come from ``BK_*`` variables and the shared ones
    from ``runtime.settings``, so one process hosting every service agrees on data_dir, mode, etc.
    Embedded, the gRPC port defaults to a free one (the gateway asks ``grpc_address``), so two
    platforms on one machine never collide on 50051.
    """
    return DetectorService(runtime, settings or settings_for(runtime), model)


def settings_for(runtime: Runtime) -> DetectorSettings:
    core = runtime.settings
    # The token-signing key stays with the runtime (the issuer's); the detector's own settings hold
    # only the public keys, as they would in its own pod.
    private = {"service_name", "jwt_private_key", "jwt_private_key_file", "jwt_public_keys_file"}
    shared = {name: getattr(core, name) for name in CoreSettings.model_fields if name not in private}
    shared["jwt_public_keys"] = runtime.tokens.public_keys_pem()
    if core.mode == Mode.EMBEDDED and f"{ENV_PREFIX}GRPC_PORT" not in os.environ:
        shared["grpc_port"] = 0
    return load_settings(DetectorSettings, **shared)
