"""The source interface the pull worker sees, whatever the camera is."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bk_gateway.settings import GatewaySettings

#: Side of the tiny grayscale image used for motion, frozen and covered checks: cheap to compare.
PROBE_W, PROBE_H = 64, 36


class SourceError(Exception):
    """A camera cannot be read. ``kind`` is stable (for the API and metrics); the message is for people
    and is already free of credentials."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class SourceInfo:
    codec: str
    width: int
    height: int
    nominal_fps: float


class RawFrame(ABC):
    """A decoded frame; conversions are lazy so frames the sampler skips cost nothing more."""

    time_s: float  # presentation time on the stream's clock, seconds
    keyframe: bool

    @abstractmethod
    def rgb(self, width: int, height: int) -> np.ndarray:
        """RGB uint8 array (height, width, 3) scaled to the given size."""

    @abstractmethod
    def probe(self) -> np.ndarray:
        """Grayscale uint8 array (PROBE_H, PROBE_W) for the cheap health checks."""


class FrameSource(ABC):
    """One camera's frames. ``open`` and ``frames`` raise SourceError; the worker owns retries."""

    @property
    def decoder(self) -> str:
        """What decodes the frames: software (FFmpeg on the CPU), nvdec (the GPU) or sim (rendered)."""
        return "software"

    @abstractmethod
    def open(self) -> SourceInfo: ...

    @abstractmethod
    def frames(self) -> Iterator[RawFrame]:
        """Frames until the stream ends (then returns) or fails (then raises SourceError)."""

    @abstractmethod
    def close(self) -> None: ...


def open_source(
    url: str,
    *,
    keyframes_only: bool,
    settings: GatewaySettings,
    stop: object | None = None,
    tenant_id: str = "",
) -> FrameSource:
    """The FrameSource for a (credential-bearing) URL of ``tenant_id``'s camera; ``stop`` is a
    threading.Event. The source policy of ``settings`` is applied when the source opens."""
    from bk_gateway.urls import SIM_PREFIX

    if url.startswith(SIM_PREFIX):
        from bk_gateway.sources.sim import SimSource

        return SimSource(
            url[len(SIM_PREFIX) :],
            fps=settings.sim_fps,
            width=settings.sim_width,
            height=settings.sim_height,
            stop=stop,
        )  # type: ignore[arg-type]
    from bk_gateway.source_policy import SourcePolicy
    from bk_gateway.sources.pyav import PyAVSource

    return PyAVSource(
        url,
        keyframes_only=keyframes_only,
        open_timeout_s=settings.open_timeout_s,
        read_timeout_s=settings.read_timeout_s,
        watchdog_s=settings.watchdog_s,
        codecs=settings.codecs,
        skip_deblock=settings.keyframe_skip_deblock,
        decoder=settings.video_decoder,
        policy=SourcePolicy.from_settings(settings),
        tenant_id=tenant_id,
    )
