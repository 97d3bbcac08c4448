"""动火离人: how long each flame on a camera has gone without a person near it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bk_detector.cadence import horizon
from bk_detector.detections import Detection
from bk_detector.rules import is_attended


class FireWatch:
    """Per-camera time state for ``fire_unattended``; the rule itself stays a pure function.

    A flame counts as attended when first seen (someone lit it), and again every frame a person is
    near it; it becomes unattended once nobody has been near for ``unattended_s``. Both waits (for
    a person, and ``forget_after_s`` for a flame not seen) last at least ``observations`` of the
    camera's sampling intervals: a cook missed in one keyframe has not left the stove.
    """

    def __init__(
        self, unattended_s: float, person_min_score: float, forget_after_s: float, observations: int = 0
    ) -> None:
        self.unattended_s = unattended_s
        self.person_min_score = person_min_score
        self.forget_after_s = forget_after_s
        self.observations = observations
        self._last_attended: dict[int, datetime] = {}
        self._last_seen: dict[int, datetime] = {}

    def __len__(self) -> int:
        return len(self._last_seen)

    def observe(
        self, detections: Sequence[Detection], when: datetime, interval_s: float = 0.0
    ) -> frozenset[int]:
        """Track ids of flames unattended long enough at ``when``; ``interval_s``: the camera's
        sampling interval (0 = unknown yet: the seconds alone)."""
        unattended_s = horizon(self.unattended_s, self.observations, interval_s)
        forget_after_s = horizon(self.forget_after_s, self.observations, interval_s)
        persons = [d for d in detections if d.label == "person"]
        unattended: set[int] = set()
        for flame in (d for d in detections if d.label == "flame" and d.track_id):
            self._last_seen[flame.track_id] = when
            first_seen = flame.track_id not in self._last_attended
            if first_seen or is_attended(flame, persons, self.person_min_score):
                self._last_attended[flame.track_id] = when
            elif (when - self._last_attended[flame.track_id]).total_seconds() >= unattended_s:
                unattended.add(flame.track_id)
        for track_id, seen in list(self._last_seen.items()):
            if (when - seen).total_seconds() > forget_after_s:
                del self._last_seen[track_id], self._last_attended[track_id]
        return frozenset(unattended)

    def adopt(self, track_id: int, seen_at: datetime) -> None:
        """Take over a flame another pod found unattended (``handover``): still unattended until a
        person comes near it, not attended again as a flame seen for the first time would be."""
        self._last_attended[track_id] = datetime.min.replace(tzinfo=UTC)
        self._last_seen[track_id] = seen_at
