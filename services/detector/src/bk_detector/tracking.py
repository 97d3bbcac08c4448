"""Per-camera tracker: stable track ids per label, so one person is one violation, not 600.

A track lives through missed detections for ``max_age_s`` and at least ``max_age_observations``
of the camera's sampling intervals (``cadence.horizon``): at one keyframe every 4 s a fixed 3 s
would forget every track between two frames."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bk_detector.cadence import horizon
from bk_detector.detections import Box, Detection

MIN_IOU = 0.3
#: Small fast objects (a rodent, a phone) may not overlap their last box at 1-2 fps; accept a
#: centre within this many of their own box diagonals instead.
MAX_CENTRE_JUMP = 1.5


@dataclass(slots=True)
class _Track:
    track_id: int
    label: str
    box: Box
    last_seen: datetime


class Tracker:
    """Greedy IoU matching with a centroid fallback, per label. Not thread-safe: one per camera."""

    def __init__(self, max_age_s: float, max_age_observations: int = 0) -> None:
        self.max_age_s = max_age_s
        self.max_age_observations = max_age_observations
        self._tracks: list[_Track] = []
        self._next_id = 1

    def update(
        self, detections: Sequence[Detection], when: datetime, interval_s: float = 0.0
    ) -> list[Detection]:
        """``detections`` with track ids, in the same order. ``interval_s``: the camera's sampling
        interval (0 = unknown yet: ``max_age_s`` alone)."""
        max_age = horizon(self.max_age_s, self.max_age_observations, interval_s)
        oldest = when - timedelta(seconds=max_age)  # one subtraction per frame, not one per track
        self._tracks = [t for t in self._tracks if t.last_seen >= oldest]
        pairs: list[tuple[float, int, int]] = []
        for di, det in enumerate(detections):
            for ti, track in enumerate(self._tracks):
                if track.label == det.label and (cost := _match_cost(track.box, det.box)) is not None:
                    pairs.append((cost, di, ti))
        pairs.sort()
        assigned: dict[int, int] = {}
        used_tracks: set[int] = set()
        for _, di, ti in pairs:
            if di in assigned or ti in used_tracks:
                continue
            assigned[di] = ti
            used_tracks.add(ti)
        out: list[Detection] = []
        for di, det in enumerate(detections):
            if di in assigned:
                track = self._tracks[assigned[di]]
                track.box, track.last_seen = det.box, when
            else:
                track = _Track(self._next_id, det.label, det.box, when)
                self._next_id += 1
                self._tracks.append(track)
            out.append(det.with_track(track.track_id))
        return out

    def __len__(self) -> int:
        return len(self._tracks)

    def adopt(self, track_id: int, label: str, box: Box, seen_at: datetime) -> None:
        """Take over a track from another pod (``handover``): the same id, at its last known box.
        ``seen_at`` is this pod's first frame of the camera, so the time the camera spent moving
        between pods does not age the track out before it is looked for."""
        for track in self._tracks:
            if track.track_id == track_id:
                track.box, track.last_seen = box, seen_at
                break
        else:
            self._tracks.append(_Track(track_id, label, box, seen_at))
        self._next_id = max(self._next_id, track_id + 1)


def _match_cost(old: Box, new: Box) -> float | None:
    """Lower is better; None when the boxes cannot be the same object. (``detections.iou`` and
    ``centre``, written out: this runs for every detection-track pair of every frame.)"""
    ox1, oy1, ox2, oy2 = old
    nx1, ny1, nx2, ny2 = new
    iw, ih = min(ox2, nx2) - max(ox1, nx1), min(oy2, ny2) - max(oy1, ny1)
    inter = iw * ih if iw > 0 and ih > 0 else 0.0
    union = max(0.0, ox2 - ox1) * max(0.0, oy2 - oy1) + max(0.0, nx2 - nx1) * max(0.0, ny2 - ny1) - inter
    overlap = inter / union if union > 0 else 0.0
    if overlap >= MIN_IOU:
        return 1.0 - overlap
    diag = max(math.hypot(ox2 - ox1, oy2 - oy1), 1e-6)
    jump = math.hypot((nx1 + nx2 - ox1 - ox2) / 2, (ny1 + ny2 - oy1 - oy2) / 2) / diag
    # Centroid matches always rank after IoU matches (cost > 1).
    return 1.0 + jump if jump <= MAX_CENTRE_JUMP else None
