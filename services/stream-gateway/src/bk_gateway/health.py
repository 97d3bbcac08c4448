"""Cheap image checks on a tiny grayscale probe: covered lens, frozen picture, motion gating."""

from __future__ import annotations

import numpy as np


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def is_covered(probe: np.ndarray, max_stddev: float) -> bool:
    """A hand, a cloth or a sprayed lens gives a near-uniform picture (遮挡)."""
    return float(probe.std()) < max_stddev


def slow_fps(measured: float, nominal: float, ratio: float) -> str | None:
    """The "degraded on slow fps" rule: a camera delivering under ``ratio`` of its own nominal rate
    (network trouble, an overloaded NVR) is degraded. No rule without a measurement, without a
    believable nominal rate, or with ``ratio`` 0."""
    if ratio <= 0 or measured <= 0 or not 0 < nominal <= 120:
        return None
    if measured < nominal * ratio:
        return f"slow stream: {measured:.1f} fps of {nominal:g}"
    return None


class ImageChecks:
    """Tracks since when the picture is frozen or covered (None = not now)."""

    #: identical pairs in a row before a picture counts as frozen: one still pair is normal.
    FROZEN_PAIRS = 3

    def __init__(self, frozen_diff: float, covered_stddev: float) -> None:
        self.frozen_diff, self.covered_stddev = frozen_diff, covered_stddev
        self._last: np.ndarray | None = None
        self._still_pairs = 0
        self._first_still: float | None = None
        self.frozen_since: float | None = None
        self.covered_since: float | None = None

    def update(self, probe: np.ndarray, now: float) -> None:
        if is_covered(probe, self.covered_stddev):
            self.covered_since = self.covered_since if self.covered_since is not None else now
        else:
            self.covered_since = None
        # A covered picture is also still; report it as covered, not frozen.
        still = (self._last is not None and self.covered_since is None
                 and mean_abs_diff(probe, self._last) < self.frozen_diff)
        if still:
            self._still_pairs += 1
            self._first_still = self._first_still if self._first_still is not None else now
            if self._still_pairs >= self.FROZEN_PAIRS:
                self.frozen_since = self._first_still
        else:
            self._still_pairs, self._first_still, self.frozen_since = 0, None, None
        self._last = probe

    def problem(self) -> str | None:
        if self.covered_since is not None:
            return "lens covered"
        if self.frozen_since is not None:
            return "frozen image"
        return None


class MotionGate:
    """Skips frames that barely differ from the last one sent; still sends a heartbeat frame now and
    then, so a static violation (an open bin, an unattended flame) is seen."""

    def __init__(self, threshold: float, heartbeat_s: float) -> None:
        self.threshold, self.heartbeat_s = threshold, heartbeat_s
        self._sent: np.ndarray | None = None
        self._sent_at = float("-inf")

    def allow(self, probe: np.ndarray, now: float) -> bool:
        if (self._sent is None or now - self._sent_at >= self.heartbeat_s
                or mean_abs_diff(probe, self._sent) >= self.threshold):
            self._sent, self._sent_at = probe, now
            return True
        return False
