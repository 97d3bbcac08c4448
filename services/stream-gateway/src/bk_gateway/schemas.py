"""API shapes of the camera registry. Credentials are write-only: they come in, never go out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.json_format import ParseDict, ParseError
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from bk_gateway.sampler import SamplingMode
from bk_gateway.urls import InvalidSourceUrl, source_kind, split_credentials
from bkcore.profiles import profile_problems, window_problems
from bkproto.detector.v1 import detector_pb2 as pb

ZONES = ("prep", "washing", "cooking", "storage", "serving")
_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


def _check_url(value: str) -> str:
    try:
        source_kind(value)
    except InvalidSourceUrl as exc:
        raise ValueError(str(exc)) from None
    return value


SHARED_LOGIN = (
    "live_source_url carries other credentials than the camera's: main and sub-stream share "
    "one username/password; give them once (username/password)"
)


def _check_live_url(value: str) -> str:
    return value if value == "" else _check_url(value)


_LIVE_SOURCE_DOC = (
    "the camera's main stream, for live view only, when source_url is its sub-stream "
    "(analytics decodes the small stream, viewers watch the full one); empty = viewers "
    "watch source_url. Same camera, same username/password"
)


def _shared_credentials(source_url: str, live_url: str | None, user: str, password: str) -> None:
    """Main and sub-stream are one camera with one login: credentials typed into the live URL must
    be the ones the camera already has, or the only ones given."""
    if not live_url:
        return
    _, live_user, live_password = split_credentials(live_url)
    if not (live_user or live_password):
        return
    _, src_user, src_password = split_credentials(source_url) if source_url else ("", "", "")
    have = (user or src_user, password or src_password)
    if any(have) and have != (live_user, live_password):
        raise ValueError(SHARED_LOGIN)


def _check_profile(value: dict[str, Any]) -> dict[str, Any]:
    """Refuse what a detector would refuse (bk-core's checks, the detector's own), each problem named
    by its field: a profile refused here never reaches a camera; one a detector refused would leave
    the camera on its last good profile and raise an alarm."""
    try:
        msg = ParseDict(value, pb.CameraProfile())
    except ParseError as exc:
        raise ValueError(f"profile is not a valid CameraProfile: {exc}") from None
    if problems := profile_problems(msg):
        # A custom error, not ValueError: its message is the problems, without "Value error, ".
        raise PydanticCustomError(
            "invalid_profile", "{problems}", {"problems": "; ".join(f"profile.{p}" for p in problems)}
        )
    return value


def _check_schedule(value: list[dict[str, Any]]) -> list[dict[str, Any]]:
    problems = []
    for i, window in enumerate(value):
        try:
            w = ParseDict(window, pb.ScheduleWindow())
        except ParseError as exc:
            raise ValueError(f"schedule[{i}] is not a valid ScheduleWindow: {exc}") from None
        problems += window_problems(w, f"schedule[{i}]")
    if problems:
        raise PydanticCustomError("invalid_schedule", "{problems}", {"problems": "; ".join(problems)})
    return value


class CameraIn(BaseModel):
    # Every length is its column's (models.py): a longer value was a 500 on PostgreSQL.
    id: str = Field(pattern=_ID, max_length=100, description="camera id, unique within its tenant")
    tenant_id: str = Field("", max_length=64, description="defaults to the caller's tenant")
    site_id: str = Field(pattern=_ID, max_length=100)
    org_path: str = Field(
        "/", max_length=500, description="the site's org-tree path, e.g. /minghu/lakeside/north"
    )
    zone: str = Field(max_length=32, description="kitchen zone: " + ", ".join(ZONES))
    name: str = Field("", max_length=200)
    source_url: str = Field(
        max_length=2000,
        description="rtsp://, rtmp://, http(s):// (FLV, HLS), a file, or sim:<scenario>; "
        "what analytics pulls (a camera's sub-stream is the cheap choice)",
    )
    live_source_url: str = Field("", max_length=2000, description=_LIVE_SOURCE_DOC)
    username: str = Field("", max_length=200, description="stream user (write-only)")
    password: SecretStr = Field(SecretStr(""), max_length=256, description="stream password (write-only)")
    sampling_mode: SamplingMode = SamplingMode.FPS
    sample_fps: float = Field(1.0, gt=0, le=30)
    motion_gating: bool = False
    profile: dict[str, Any] = Field(
        default_factory=dict, description="CameraProfile as JSON: masks, rules, timezone"
    )
    schedule: list[dict[str, Any]] = Field(
        default_factory=list, description="analytics windows (ScheduleWindow)"
    )
    enabled: bool = True

    @field_validator("source_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _check_url(v)

    @field_validator("live_source_url")
    @classmethod
    def _live_url(cls, v: str) -> str:
        return _check_live_url(v)

    @model_validator(mode="after")
    def _one_login(self) -> CameraIn:
        _shared_credentials(
            self.source_url, self.live_source_url, self.username, self.password.get_secret_value()
        )
        return self

    @field_validator("profile")
    @classmethod
    def _profile(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _check_profile(v)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return _check_schedule(v)

    @field_validator("zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value not in ZONES:
            raise ValueError(f"zone must be one of {', '.join(ZONES)}")
        return value

    def split(self) -> tuple[str, str, str, str]:
        """(clean URL, username, password, clean live URL): credentials typed into either URL are
        moved out of it."""
        url, user, password = split_credentials(self.source_url)
        live, live_user, live_password = (
            split_credentials(self.live_source_url) if self.live_source_url else ("", "", "")
        )
        return (
            url,
            self.username or user or live_user,
            self.password.get_secret_value() or password or live_password,
            live,
        )


class CameraPatch(BaseModel):
    name: str | None = Field(None, max_length=200)
    zone: str | None = Field(None, max_length=32)
    source_url: str | None = Field(None, max_length=2000)
    live_source_url: str | None = Field(
        None, max_length=2000, description=_LIVE_SOURCE_DOC + '; "" removes it'
    )
    username: str | None = Field(None, max_length=200)
    password: SecretStr | None = Field(None, max_length=256)
    sampling_mode: SamplingMode | None = None
    sample_fps: float | None = Field(None, gt=0, le=30)
    motion_gating: bool | None = None
    profile: dict[str, Any] | None = None
    schedule: list[dict[str, Any]] | None = None
    enabled: bool | None = None

    @field_validator("source_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else _check_url(v)

    @field_validator("live_source_url")
    @classmethod
    def _live_url(cls, v: str | None) -> str | None:
        return None if v is None else _check_live_url(v)

    @field_validator("profile")
    @classmethod
    def _profile(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if v is None else _check_profile(v)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        return None if v is None else _check_schedule(v)

    @field_validator("zone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        if v is not None and v not in ZONES:
            raise ValueError(f"zone must be one of {', '.join(ZONES)}")
        return v


class CameraOut(BaseModel):
    id: str
    tenant_id: str
    site_id: str
    org_path: str
    zone: str
    name: str
    source_url: str = Field(description="masked: never carries credentials")
    live_source_url: str = Field(description="masked; empty = viewers watch source_url")
    source_kind: str
    has_credentials: bool
    sampling_mode: SamplingMode
    sample_fps: float
    motion_gating: bool
    profile: dict[str, Any]
    schedule: list[dict[str, Any]]
    enabled: bool
    rules_version: int
    created_at: datetime
    updated_at: datetime


class CameraStatusOut(BaseModel):
    camera_id: str
    tenant_id: str
    site_id: str
    zone: str
    state: str
    since: datetime | None
    reason: str
    error_kind: str
    last_frame_at: datetime | None
    fps: float
    codec: str
    decoder: str = Field(
        description="what decodes the stream: software (CPU), nvdec (GPU), sim; empty until it opens"
    )
    width: int
    height: int
    reconnects: int
    alarms: list[str]
    frames_sampled: int
    frames_gated: int
    gateway_id: str
    ai_state: str = Field(
        description="the camera's AI: running (its frames got answers lately), no_answers, "
        "camera_offline, disabled, elsewhere (another replica), starting, "
        "profile_refused"
    )
    ai_reason: str = Field(description="why, in a short English sentence")


class DetectorStatusOut(BaseModel):
    endpoint: str
    connected: bool
    last_answer_at: datetime | None
    inflight_batches: int
    model_version: str = Field(description="the model of its last answer; empty until it answers")


class AiStatusOut(BaseModel):
    """Is the AI running on this gateway replica's cameras (GET /v1/ai/status)."""

    running: bool
    state: str = Field(
        description="running, no_answers (frames wait, no detector answers), no_detectors "
        "(none configured or reachable), idle (no camera sends frames)"
    )
    reason: str = Field(description="why, in a short English sentence")
    since: datetime | None = Field(description="when the current state began")
    detectors: list[DetectorStatusOut]


class LiveOut(BaseModel):
    """Play URLs of a camera's live view, signed and expiring (``?exp=&sig=``)."""

    hls_url: str
    flv_url: str | None = Field(None, description="HTTP-FLV for the mini-program's live-player (ZLMediaKit)")
    webrtc_url: str | None = Field(None, description="WebRTC play URL (ZLMediaKit)")
    snapshot_url: str
    expires_at: datetime
