"""The detector's settings: one validated tree, read from ``BK_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from bkcore.settings import CoreSettings


class DetectorSettings(CoreSettings):
    """CoreSettings plus inference, voting and evidence knobs (env: ``BK_<FIELD>``)."""

    service_name: str = Field("detector", description="name used in logs, metrics and events")

    # -- gRPC ---------------------------------------------------------------------------------------
    grpc_host: str = Field("127.0.0.1", description="address the Detector gRPC server binds to")
    grpc_port: int = Field(50051, ge=0, le=65535, description="gRPC port (0 = any free port)")
    grpc_max_message_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="largest FrameBatch / DetectionBatch message accepted"
    )
    max_inflight_batches: int = Field(
        4, ge=1, le=64, description="FrameBatches one stream may have in flight before reading pauses"
    )

    # -- inference ----------------------------------------------------------------------------------
    model_path: Path | None = Field(
        None, description="model artefact directory; unset = the shipped kitchen-v1"
    )
    model_name: str = Field(
        "kitchen-v1", description="registry model to serve (object store: models/<name>/<version>/)"
    )
    model_version: str = Field(
        "",
        description="registry version to serve; unset = the newest published, or the shipped "
        "weights when the store has none (ignored when BK_MODEL_PATH is set)",
    )
    model_kind: Literal["single_stage", "two_stage"] = Field(
        "single_stage",
        description="single_stage: our kitchen model alone (KitchenNet; learnt from the "
        "synthetic kitchens, so it is what the embedded demo's simulated cameras need); two_stage: a real "
        "COCO person/phone detector (NanoDet) first, then a person-attribute classifier on each person's "
        "crop, plus the kitchen model's cigarette/rodent/flame/bin classes at thresholds calibrated on real "
        "photos: for real cameras (docs/detector-model.md). The kitchen model is the one BK_MODEL_PATH / "
        "the registry names in both",
    )
    device_decode: bool | None = Field(
        None,
        description="decode JPEGs on the GPU (batched nvJPEG; headers still checked on the "
        "CPU); unset = auto (on with CUDA)",
    )
    inference_concurrency: int = Field(
        0, ge=0, le=8, description="model batches in flight at once (0 = auto: 2 on CUDA, 1 on CPU)"
    )
    cpu_threads: int = Field(
        1,
        ge=0,
        le=256,
        description="threads one model call may use on the CPU (OMP_NUM_THREADS, set "
        "before torch loads unless the environment already sets it; 0 = torch's default, one per "
        "core). 1: on a busy 2-core machine two threads made each call 4-10x slower and cost 5-10x "
        "the CPU, spinning while they wait for each other; for throughput raise inference_concurrency",
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto, cpu or cuda")
    half: bool | None = Field(None, description="fp16 inference; unset = auto (fp16 on CUDA only)")
    max_batch_size: int = Field(32, ge=1, le=1024, description="most frames per model call")
    batch_buckets: str = Field(
        "auto",
        description="batch sizes every model call is padded to, e.g. '8,16,32,64,128': the "
        "GPU sees a few fixed shapes, each run once at start (warm-up), instead of every size from 1 "
        "to BK_MAX_BATCH_SIZE, each new one stalling for cuDNN plans; 'off' = no padding; auto = "
        "8,16,32,64,128 capped at BK_MAX_BATCH_SIZE (which is always one) on CUDA, off on CPU",
    )
    cudnn_benchmark: bool = Field(
        False, description="torch.backends.cudnn.benchmark on CUDA (autotunes each bucket at warm-up)"
    )
    cuda_graphs: bool = Field(
        True,
        description="on CUDA with batch buckets: capture each bucket's forward as a CUDA graph at "
        "warm-up and replay it (one launch instead of ~150, so the inference threads hold the GIL for "
        "microseconds, not milliseconds, per batch); ignored on CPU or with BK_BATCH_BUCKETS=off",
    )
    max_wait_ms: float = Field(
        10.0, ge=0, le=1000, description="how long a partial batch waits for more frames"
    )
    max_queue_frames: int = Field(
        256, ge=1, description="frames waiting for inference before callers block (backpressure)"
    )

    # -- shadow mode (a candidate model beside the live one, ``shadow``) ----------------------------
    shadow_sample_rate: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="share of the frames a shadow model also sees (POST "
        "/model/shadow may set its own); the live path never waits for it",
    )
    shadow_max_pending: int = Field(
        8,
        ge=1,
        le=1024,
        description="sampled frames waiting for the shadow model; past this a sampled "
        "frame is skipped and counted (bk_detector_shadow_frames_total{outcome=busy})",
    )

    # -- frame validation ---------------------------------------------------------------------------
    max_frame_bytes: int = Field(8 * 1024 * 1024, ge=1, description="largest JPEG accepted, in bytes")
    max_pixels: int = Field(3840 * 2160, ge=1, description="largest decoded frame accepted, width x height")

    # -- tracking and voting ------------------------------------------------------------------------
    track_max_age_s: float = Field(
        3.0,
        gt=0,
        description="a track unseen this long is forgotten (new id when it comes back); "
        "at least BK_TRACK_MAX_AGE_OBSERVATIONS of the camera's sampling intervals",
    )
    track_max_age_observations: int = Field(
        4,
        ge=1,
        le=100,
        description="a track (and a flame's or its cook's watch) survives at least "
        "this many of its camera's sampling intervals unseen: one missed keyframe every 4 s is not a "
        "new person (the interval is learnt per camera from its frames' capture times)",
    )
    sampling_interval_max_s: float = Field(
        10.0,
        gt=0,
        description="longest gap between a camera's frames that still counts as its "
        "sampling interval; a longer gap is an outage and counts as this",
    )
    vote_window: int = Field(10, ge=1, le=1000, description="k: observations per vote window")
    vote_ratio: float = Field(
        0.6, gt=0, le=1, description="share of the last k observations that must show a violation"
    )
    vote_min_observations: int = Field(
        3, ge=1, description="fewest observations showing a violation before it is raised"
    )
    end_after_s: float = Field(
        30.0,
        gt=0,
        description="a raised violation ends after being absent this long, and at least "
        "BK_END_AFTER_OBSERVATIONS of the camera's sampling intervals",
    )
    end_after_observations: int = Field(
        6,
        ge=1,
        le=100,
        description="a raised violation ends only after being absent for at least "
        "this many of its camera's sampling intervals (so one missed frame never ends it)",
    )
    update_interval_s: float = Field(
        60.0, ge=0, description="least time between UPDATED events of one violation (0 = never)"
    )
    fire_unattended_s: float = Field(
        60.0,
        ge=0,
        description="a flame with no person near it this long is fire_unattended (and at "
        "least BK_TRACK_MAX_AGE_OBSERVATIONS sampling intervals: a cook missed once has not left)",
    )
    default_min_score: float = Field(
        0.0,
        ge=0,
        le=1,
        description="score a rule needs when its profile says 0, on top of the model's own per-class "
        "thresholds (0 = trust the model's thresholds)",
    )

    # -- evidence -----------------------------------------------------------------------------------
    evidence_workers: int = Field(
        2, ge=1, le=64, description="parallel evidence writers (each keeps its cameras' order)"
    )
    evidence_max_pending: int = Field(
        1000, ge=1, description="violation events waiting for store/bus before new ones are dropped"
    )
    evidence_max_attempts: int = Field(
        8, ge=1, description="store/bus attempts per event before it is dropped (logged + counted)"
    )
    evidence_retry_base_s: float = Field(0.2, gt=0, description="first retry delay (doubles each try)")
    evidence_retry_max_s: float = Field(10.0, gt=0, description="longest retry delay")
    annotate_font: Path | None = Field(
        None, description="TTF/OTF font for CJK text on annotations; unset = a system CJK font if installed"
    )
    jpeg_quality: int = Field(85, ge=10, le=100, description="quality of annotated JPEGs")
    evidence_durable_timeout_s: float = Field(
        2.0,
        gt=0,
        le=30,
        description="longest a batch's answer waits for the violations it raised to be "
        "in the object store (raw frame + journal record); later, those frames are answered with an error",
    )

    # -- journal and handover (violations that outlive a pod; cameras moving between pods) ----------
    pod_name: str = Field(
        "",
        max_length=200,
        description="this detector's name in journal records (Kubernetes: the pod "
        "name from the downward API); a per-process suffix is added; unset = host name and process id",
    )
    journal_renew_s: float = Field(
        5.0,
        gt=0,
        description="how often a pod rewrites the records of the violations it holds: where "
        "each is, who has its camera, and a lease that says the pod is alive",
    )
    journal_lease_s: float = Field(
        30.0,
        gt=0,
        description="a record not renewed this long belongs to a dead pod: any pod ends it (and "
        "publishes its STARTED if missing); also how long a STARTED may stay unpublished before recovery",
    )
    journal_scan_s: float = Field(
        30.0, gt=0, description="how often (and at start-up) a pod looks for such records"
    )
    journal_timeout_s: float = Field(
        5.0, gt=0, le=60, description="longest one journal read or write may take"
    )
    handover_lookup_timeout_s: float = Field(
        2.0,
        gt=0,
        le=30,
        description="longest a camera's first batch on a pod waits to read the "
        "violations it had on another pod; past it the camera starts afresh (logged, counted)",
    )

    @model_validator(mode="after")
    def _window_fits(self) -> DetectorSettings:
        if self.vote_min_observations > self.vote_window:
            raise ValueError("BK_VOTE_MIN_OBSERVATIONS must not exceed BK_VOTE_WINDOW")
        self.buckets_for("cuda")  # a malformed BK_BATCH_BUCKETS fails at start, not at load
        if self.journal_lease_s < 2 * self.journal_renew_s:
            # A live pod must renew at least twice per lease, or a slow store makes it look dead.
            raise ValueError("BK_JOURNAL_LEASE_S must be at least twice BK_JOURNAL_RENEW_S")
        return self

    def buckets_for(self, device: str) -> tuple[int, ...]:
        """The model-call sizes to pad to on ``device`` (() = no padding)."""
        spec = self.batch_buckets.strip().lower()
        if spec == "auto":
            if not device.startswith("cuda"):
                return ()  # on the CPU padding is pure extra work, and shapes cost nothing
            return (*(b for b in (8, 16, 32, 64, 128) if b < self.max_batch_size), self.max_batch_size)
        if spec in ("", "off", "none", "0"):
            return ()
        try:
            sizes = sorted({int(x) for x in spec.replace(" ", ",").split(",") if x})
        except ValueError:
            raise ValueError(f"BK_BATCH_BUCKETS: comma-separated sizes, auto or off, not {spec!r}") from None
        if not sizes or sizes[0] < 1:
            raise ValueError(f"BK_BATCH_BUCKETS: sizes must be positive, not {spec!r}")
        return tuple(sizes)
