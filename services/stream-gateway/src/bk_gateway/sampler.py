"""Which decoded frames go on to detection: N per second by presentation time, or every keyframe."""

from __future__ import annotations

from enum import StrEnum


class SamplingMode(StrEnum):
    FPS = "fps"  # N frames per second, spaced by timestamp
    KEYFRAMES = "keyframes"  # keyframes only; the rest are never decoded


class Sampler:
    """Timestamp-based, so a camera that bursts or stalls still yields evenly spaced samples."""

    #: A timestamp this far behind the last one means the stream restarted (new clock): start over.
    RESET_BACKWARDS_S = 1.0

    def __init__(self, mode: SamplingMode, fps: float = 1.0) -> None:
        if mode == SamplingMode.FPS and fps <= 0:
            raise ValueError("fps must be > 0")
        self.mode = mode
        self.interval = 1.0 / fps if mode == SamplingMode.FPS else 0.0
        self._next_due: float | None = None
        self._last_t: float | None = None

    def take(self, t: float, keyframe: bool) -> bool:
        if self.mode == SamplingMode.KEYFRAMES:
            return keyframe
        if self._last_t is not None and t < self._last_t - self.RESET_BACKWARDS_S:
            self._next_due = None
        self._last_t = t
        if self._next_due is None or t >= self._next_due:
            # Stay on the grid while on time; after a gap, restart the grid at this frame rather than
            # bursting several samples to catch up.
            due = (self._next_due or t) + self.interval
            self._next_due = due if due > t else t + self.interval
            return True
        return False
