"""What a pull worker needs to know about its camera: an immutable snapshot of the registry row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from bk_gateway.sampler import SamplingMode
from bk_gateway.urls import mask_url, with_credentials

#: Between tenant and camera in a camera's one-string name (``CameraKey.ref``): in neither id's alphabet.
REF_SEPARATOR = "~"


class CameraKey(NamedTuple):
    """A camera's identity in the gateway. A camera id is unique within its tenant only: two tenants
    may both have a ``kitchen-1``, and neither can see, squat or collide with the other's."""

    tenant_id: str
    camera_id: str

    @property
    def ref(self) -> str:
        """One string for both (a media server's stream name): ``tenant~camera``."""
        return f"{self.tenant_id}{REF_SEPARATOR}{self.camera_id}"

    @classmethod
    def from_ref(cls, ref: str) -> CameraKey | None:
        tenant, sep, camera = ref.partition(REF_SEPARATOR)
        return cls(tenant, camera) if sep and tenant and camera else None


@dataclass(frozen=True)
class CameraSpec:
    id: str
    tenant_id: str
    site_id: str
    zone: str
    source_url: str  # without credentials; what analytics pulls
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    name: str = ""
    sampling_mode: SamplingMode = SamplingMode.FPS
    sample_fps: float = 1.0
    motion_gating: bool = False
    profile: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)
    schedule: list[dict[str, Any]] = field(default_factory=list, hash=False, compare=True)
    rules_version: int = 1
    enabled: bool = True
    live_source_url: str = ""  # the main stream for viewers; "" = source_url

    @property
    def key(self) -> CameraKey:
        return CameraKey(self.tenant_id, self.id)

    @property
    def pull_url(self) -> str:
        """The URL with credentials: only for FFmpeg, never for logs."""
        return with_credentials(self.source_url, self.username, self.password)

    @property
    def live_source(self) -> str:
        """What viewers watch: the main stream when one is registered, else the analytics source."""
        return self.live_source_url or self.source_url

    @property
    def live_pull_url(self) -> str:
        """The live source with credentials (one camera: main and sub-stream share them)."""
        return with_credentials(self.live_source, self.username, self.password)

    def live_key(self) -> tuple[object, ...]:
        """What, when changed, needs a running live view restarted."""
        return (self.live_source, self.username, self.password)

    @property
    def masked_url(self) -> str:
        return mask_url(self.source_url)

    def stream_key(self) -> tuple[object, ...]:
        """What, when changed, needs the stream reopened (profile changes apply live)."""
        return (self.source_url, self.username, self.password, self.sampling_mode, self.sample_fps)
