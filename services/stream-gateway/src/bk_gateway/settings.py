"""The gateway's settings: one validated tree, read from ``BK_*`` environment variables."""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator, model_validator

from bkcore.netpolicy import CLUSTER_NETWORKS_DOC, parse_networks
from bkcore.settings import CoreSettings, Mode


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class GatewaySettings(CoreSettings):
    """Everything the stream gateway can be told. Durations are seconds unless named otherwise."""

    service_name: str = Field("stream-gateway", description="name used in logs, metrics and events")

    # --- identity and sharding ---------------------------------------------------------------
    gateway_id: str = Field(
        default_factory=socket.gethostname,
        description="this replica's id (the pod name in Kubernetes); must appear in gateway_replicas",
    )
    gateway_replicas: str = Field(
        "",
        description="comma list of every replica id; empty = this replica owns every camera",
    )

    # --- detectors -----------------------------------------------------------------------------
    detector_endpoints: str = Field(
        "",
        description="comma list of detector gRPC host:port; empty = frames are sampled but not sent",
    )
    detector_discovery: str = Field(
        "static",
        pattern=r"^(static|dns)$",
        description="static: one stream per detector_endpoints entry, as written (embedded mode, fixed "
        "addresses); dns: each entry names a pool (a Kubernetes headless Service host:port) "
        "whose A/AAAA records are resolved every detector_resolve_interval_s, one stream per "
        "pod, cameras spread over the pods (gRPC alone would send every frame to one pod)",
    )
    detector_resolve_interval_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="dns discovery: how often the pool's name is resolved again; a new pod gets frames "
        "within this, a pod gone from DNS stops getting them within this",
    )
    detector_frame_width: int = Field(640, ge=64, le=3840, description="width of frames sent to detectors")
    detector_frame_height: int = Field(360, ge=64, le=2160, description="height of frames sent to detectors")
    jpeg_quality: int = Field(80, ge=10, le=100, description="JPEG quality of frames sent to detectors")
    frame_queue_size: int = Field(
        512,
        ge=1,
        description="frames waiting for detectors; beyond it the oldest are dropped (counted)",
    )
    batch_size: int = Field(32, ge=1, le=1024, description="most frames per FrameBatch")
    batch_max_wait_s: float = Field(0.05, gt=0, le=5, description="longest wait to fill a batch")
    detector_max_inflight: int = Field(
        4,
        ge=1,
        le=64,
        description="unanswered batches per detector stream before it stops taking frames",
    )
    detector_timeout_s: float = Field(
        10.0,
        gt=0,
        description="a stream owing answers that gets none this long (after its last answer or the oldest "
        "unanswered send, whichever is later) is torn down, its frames counted lost, and "
        "reopened",
    )
    frame_max_age_s: float = Field(
        5.0,
        gt=0,
        description="a frame that waited this long for a detector is dropped (counted, reason stale): an "
        "overloaded detector gets the newest frames, not a backlog that grows ever older",
    )
    detector_stall_s: float = Field(
        30.0,
        gt=0,
        description="no detector answering this long while frames wait = the AI is not running: /readyz "
        "says detectors not ready (with the reason), GET /v1/ai/status says no_answers",
    )

    # --- pulling streams ----------------------------------------------------------------------
    open_timeout_s: float = Field(8.0, gt=0, le=120, description="longest wait to open a camera stream")
    read_timeout_s: float = Field(8.0, gt=0, le=120, description="longest wait for data from an open stream")
    watchdog_s: float = Field(
        10.0,
        gt=0,
        description="restart a stream that delivers no new video frame this long (audio-only, stalled)",
    )
    backoff_initial_s: float = Field(1.0, gt=0, description="first reconnect delay")
    backoff_max_s: float = Field(60.0, gt=0, description="longest reconnect delay")
    backoff_jitter: float = Field(0.2, ge=0, le=1, description="± fraction of random jitter on each delay")
    sim_fps: float = Field(3.0, gt=0, le=30, description="frame rate of simulated (sim:) cameras")
    sim_width: int = Field(640, ge=64, description="width simulated cameras render at")
    sim_height: int = Field(360, ge=64, description="height simulated cameras render at")
    supported_codecs: str = Field(
        "h264,hevc,mjpeg,mpeg4,rawvideo",
        description="comma list of video codecs the gateway accepts",
    )
    video_decoder: str = Field(
        "software",
        pattern=r"^(software|nvdec)$",
        description="software (FFmpeg on the CPU) or nvdec (the NVIDIA GPU's video decoder, which takes "
        "the entropy decoding that bounds cameras per core off the CPU; needs a GPU with the "
        "driver's video capability, else the gateway refuses to start; codecs NVDEC cannot "
        "decode stay in software)",
    )
    keyframe_skip_deblock: bool = Field(
        True,
        description="keyframes-only mode: skip the H.264/HEVC deblocking filter (~10% less CPU per "
        "keyframe; no drift, since only keyframes are decoded)",
    )
    reconcile_interval_s: float = Field(
        5.0,
        gt=0,
        description="how often workers are reconciled with the registry (changes also apply at once)",
    )

    # --- which sources a camera may have (see source_policy and docs/security.md) ---------------
    camera_allowed_networks: str = Field(
        "",
        description="comma list of networks cameras may be in although internal, e.g. a site's "
        "camera subnet 192.168.10.0/24 (production refuses loopback, link-local, private, "
        "CGNAT and unique-local addresses otherwise; metadata and cluster addresses are "
        "always refused)",
    )
    camera_allow_internal: bool | None = Field(
        None,
        description="allow every internal address for cameras; empty = yes in embedded mode (cameras "
        "on the site's own network, the demo and tests on loopback), no in production, "
        "where it cannot be turned on (list the camera subnets in "
        "BK_CAMERA_ALLOWED_NETWORKS)",
    )
    cluster_networks: str = Field("", description=CLUSTER_NETWORKS_DOC)
    media_dir: Path | None = Field(
        None,
        description="embedded mode: file sources are read only from <media_dir>/<tenant_id>/ (default "
        "<data_dir>/media); production refuses file sources",
    )

    # --- health and alarms ------------------------------------------------------------------
    offline_alarm_s: float = Field(120.0, ge=0, description="offline longer than this raises an alarm")
    frozen_alarm_s: float = Field(60.0, ge=0, description="a frozen image longer than this raises an alarm")
    covered_alarm_s: float = Field(60.0, ge=0, description="a covered lens longer than this raises an alarm")
    frozen_changed_share: float = Field(
        0.02,
        ge=0,
        le=1,
        description="share of the probe's pixels that may change between two frames still counted as a "
        "repeat (an OSD clock, re-quantisation); a live camera's sensor noise changes far more "
        "at every keyframe, even in a still, empty kitchen",
    )
    frozen_after_s: float = Field(
        15.0,
        gt=0,
        description="a picture repeated this long counts as frozen (degraded); longer than the keyframe "
        "interval, since an encoder may copy a still scene whole from one keyframe to the next",
    )
    covered_stddev: float = Field(
        6.0,
        ge=0,
        description="pixel standard deviation (0-255) under which a frame counts as covered",
    )
    motion_diff: float = Field(
        2.5,
        ge=0,
        description="mean abs difference (0-255) above which a frame has motion (gating)",
    )
    motion_heartbeat_s: float = Field(
        30.0,
        gt=0,
        description="with motion gating, still send one frame this often (static violations)",
    )
    degraded_fps_ratio: float = Field(
        0.5,
        ge=0,
        le=1,
        description="measured fps under this share of the wanted rate = degraded",
    )

    # --- live view ------------------------------------------------------------------------------
    live_grace_s: float = Field(30.0, ge=0, description="keep a live pull this long after the last viewer")
    live_segment_s: float = Field(2.0, gt=0, description="HLS segment length (embedded live view)")
    live_url_ttl_s: int = Field(600, ge=1, le=86400, description="lifetime of signed live play URLs")
    live_public_url: str = Field(
        "",
        description="public base of the gateway's own play URLs (embedded); empty = the request's base",
    )
    media_server: str = Field(
        "embedded",
        pattern=r"^(embedded|zlmediakit)$",
        description="embedded (remux HLS in the gateway) or zlmediakit",
    )
    zlm_api_url: str = Field("", description="ZLMediaKit HTTP API base, e.g. http://zlm:80")
    zlm_public_url: str = Field(
        "", description="public base of ZLMediaKit play URLs, e.g. https://live.example"
    )
    zlm_secret: str = Field("", description="ZLMediaKit api.secret (from the environment)")
    zlm_hook_token: str = Field("", description="token ZLMediaKit sends in hook URLs, proving the caller")
    zlm_app: str = Field(
        "live",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="ZLMediaKit app the camera relays live under ({app}/{camera_id})",
    )
    zlm_vhost: str = Field("__defaultVhost__", description="ZLMediaKit vhost of the relays")
    zlm_retry_count: int = Field(
        3,
        ge=-1,
        description="addStreamProxy retry_count: reconnects of a relay before ZLMediaKit gives up",
    )
    zlm_api_timeout_s: float = Field(15.0, gt=0, le=120, description="longest wait for a ZLMediaKit API call")

    @field_validator("detector_endpoints")
    @classmethod
    def _endpoints_are_host_port(cls, value: str) -> str:
        for ep in _split(value):
            host, _, port = ep.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"detector endpoint {ep!r} is not host:port")
        return value

    @model_validator(mode="after")
    def _replica_listed(self) -> GatewaySettings:
        if self.replicas and self.gateway_id not in self.replicas:
            raise ValueError(f"BK_GATEWAY_ID {self.gateway_id!r} is not in BK_GATEWAY_REPLICAS")
        if self.media_server == "zlmediakit" and not (self.zlm_api_url and self.zlm_secret):
            raise ValueError("BK_ZLM_API_URL and BK_ZLM_SECRET are required when BK_MEDIA_SERVER=zlmediakit")
        return self

    @field_validator("camera_allowed_networks", "cluster_networks")
    @classmethod
    def _networks(cls, value: str, info: ValidationInfo) -> str:
        parse_networks(value, f"BK_{str(info.field_name).upper()}")
        return value

    @model_validator(mode="after")
    def _internal_cameras_not_in_production(self) -> GatewaySettings:
        if self.camera_allow_internal and self.mode == Mode.PRODUCTION:
            raise ValueError(
                "BK_CAMERA_ALLOW_INTERNAL cannot be true in production: list the sites' camera "
                "networks in BK_CAMERA_ALLOWED_NETWORKS instead"
            )
        return self

    @model_validator(mode="after")
    def _pool_named(self) -> GatewaySettings:
        if self.detector_discovery == "dns" and not self.endpoints:
            raise ValueError(
                "BK_DETECTOR_DISCOVERY=dns needs BK_DETECTOR_ENDPOINTS: the detector pool's "
                "headless Service as host:port"
            )
        return self

    @property
    def endpoints(self) -> list[str]:
        return _split(self.detector_endpoints)

    @property
    def replicas(self) -> list[str]:
        return _split(self.gateway_replicas)

    @property
    def codecs(self) -> frozenset[str]:
        return frozenset(_split(self.supported_codecs))
