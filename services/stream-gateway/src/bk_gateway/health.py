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


def changed_share(a: np.ndarray, b: np.ndarray) -> float:
    """The share of probe pixels that differ at all between two frames (0 = bit-identical)."""
    return float(np.count_nonzero(a != b)) / a.size


class ImageChecks:
    """Tracks since when the picture is frozen or covered (None = not now).

    Frozen (画面冻结) means the stream keeps showing pictures it has shown before while its clock runs
    on: an encoder or NVR resending its last frame, or a stuck sensor feeding an encoder one image.
    Decoded, such frames are bit-identical, or nearly: an OSD clock ticking in a corner. A stuck sensor
    behind an encoder does not even repeat one picture but a cycle: the quality builds up over a GOP's
    P-frames and drops back at every keyframe, the same way each time. So each sample is compared with
    the last ``PICTURES`` distinct pictures, and a sample that matches one (at most ``changed_share`` of
    the probe's pixels differ at all) repeats. A live camera watching a still, empty kitchen is not
    frozen, though its encoder may copy the picture whole from one keyframe to the next: its sensor
    noise, encoded afresh at every keyframe, changes some 10-70% of the probe's pixels (measured: H.264 at
    CRF 23-35 and constant bitrate, 360p to 1080p, day and IR night), a picture never seen before. A
    mean difference cannot tell the two apart: the tiny probe averages noise to well under one level.
    A picture is frozen once it has repeated for ``frozen_after_s``, longer than a keyframe interval.
    Not caught: a stuck sensor behind a constant-bitrate encoder that quantises the picture differently
    at every keyframe; that stream no longer repeats itself, and its pixels cannot say more.
    """

    #: repeated samples in a row before a picture can count as frozen, however slow the sampling.
    FROZEN_PAIRS = 3
    #: distinct pictures remembered: more than a stuck encoder's GOP cycles through at the sampling rate.
    PICTURES = 32

    def __init__(self, *, changed_share: float, frozen_after_s: float, covered_stddev: float) -> None:
        self.changed_share, self.frozen_after_s = changed_share, frozen_after_s
        self.covered_stddev = covered_stddev
        self._pictures: np.ndarray | None = None  # ring of remembered probes, allocated at the first
        self._remembered = 0
        self._repeats = 0
        self._first_repeat: float | None = None
        self.frozen_since: float | None = None
        self.covered_since: float | None = None

    def update(self, probe: np.ndarray, now: float) -> None:
        if is_covered(probe, self.covered_stddev):
            self.covered_since = self.covered_since if self.covered_since is not None else now
        else:
            self.covered_since = None
        seen = self._seen_before(probe)
        # A covered picture is also still; report it as covered, not frozen.
        if seen and self.covered_since is None:
            self._repeats += 1
            self._first_repeat = self._first_repeat if self._first_repeat is not None else now
            if self._repeats >= self.FROZEN_PAIRS and now - self._first_repeat >= self.frozen_after_s:
                self.frozen_since = self._first_repeat
        else:
            self._repeats, self._first_repeat, self.frozen_since = 0, None, None

    def _seen_before(self, probe: np.ndarray) -> bool:
        """Whether ``probe`` matches a remembered picture; if not, it is remembered (oldest forgotten)."""
        if self._pictures is None or self._pictures.shape[1:] != probe.shape:
            self._pictures = np.empty((self.PICTURES, *probe.shape), np.uint8)
            self._remembered = 0
        known = self._pictures[: min(self._remembered, self.PICTURES)]
        if len(known):
            changed = np.count_nonzero(known != probe, axis=(1, 2))
            if changed.min() <= self.changed_share * probe.size:
                return True
        self._pictures[self._remembered % self.PICTURES] = probe
        self._remembered += 1
        return False

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
        if (
            self._sent is None
            or now - self._sent_at >= self.heartbeat_s
            or mean_abs_diff(probe, self._sent) >= self.threshold
        ):
            self._sent, self._sent_at = probe, now
            return True
        return False
