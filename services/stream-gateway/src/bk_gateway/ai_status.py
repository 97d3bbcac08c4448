"""Is the AI running? The gateway's honest answer, for ``/readyz``, ``GET /v1/ai/status`` and each
camera's ``ai_state`` (what the console's "AI not running" banner and camera badges show).

The rules are pure functions over plain views of the detector streams and the cameras (monotonic
seconds, no clock, no I/O); ``AiWatch`` remembers since when the current verdict holds and logs each
change once.

Path states: ``running`` (detectors answer, or owe nothing), ``no_answers`` (frames have waited
``detector_stall_s`` with no detector answering), ``no_detectors`` (none configured, or none
reachable within ``detector_stall_s``), ``idle`` (no camera sends frames).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bk_gateway.detector_client import DetectorStream

log = logging.getLogger(__name__)


class AiState(StrEnum):
    RUNNING = "running"
    NO_ANSWERS = "no_answers"
    NO_DETECTORS = "no_detectors"
    IDLE = "idle"


class CameraAi(StrEnum):
    """One camera's AI, as the console shows it (AI 运行状态)."""

    RUNNING = "running"
    NO_ANSWERS = "no_answers"
    CAMERA_OFFLINE = "camera_offline"
    DISABLED = "disabled"
    ELSEWHERE = "elsewhere"
    STARTING = "starting"
    PROFILE_REFUSED = "profile_refused"


NOT_RUNNING = frozenset({AiState.NO_ANSWERS, AiState.NO_DETECTORS})


@dataclass(frozen=True, slots=True)
class DetectorView:
    endpoint: str
    connected: bool
    last_connected: float | None  # when its last session ended (None: never connected)
    last_answer: float | None
    owed_since: float | None  # oldest frame sent since its camera's last answer, still unanswered
    cause: str  # why it is down ("" when fine)


@dataclass(frozen=True, slots=True)
class Verdict:
    state: AiState
    reason: str

    @property
    def ready(self) -> bool:
        return self.state not in NOT_RUNNING


def judge_path(
    *,
    now: float,
    stall_s: float,
    detectors: Sequence[DetectorView],
    cameras_sending: int,
    queue_waiting_since: float | None,
) -> Verdict:
    """The whole path of this gateway replica: frames in, answers back."""
    if not detectors:
        return Verdict(
            AiState.NO_DETECTORS,
            "no detector to send frames to (none configured, or no pod found behind the pool's name): "
            "frames are sampled but not analysed",
        )
    reachable = [
        d
        for d in detectors
        if d.connected or (d.last_connected is not None and now - d.last_connected < stall_s)
    ]
    if not reachable:
        return Verdict(AiState.NO_DETECTORS, "no detector reachable: " + _causes(detectors))
    if cameras_sending == 0:
        return Verdict(AiState.IDLE, "no camera is sending frames")
    waits = [t for t in (queue_waiting_since, *(d.owed_since for d in detectors)) if t is not None]
    answers = [d.last_answer for d in detectors if d.last_answer is not None]
    if waits:
        silent_since = max(min(waits), max(answers, default=min(waits)))
        if now - silent_since >= stall_s:
            return Verdict(
                AiState.NO_ANSWERS,
                f"no detector has answered for {now - silent_since:.0f} s "
                f"while frames waited: {_causes(detectors)}",
            )
    return Verdict(
        AiState.RUNNING, f"{len(reachable)} of {len(detectors)} detector(s) connected and answering"
    )


def _causes(detectors: Iterable[DetectorView]) -> str:
    return "; ".join(
        f"{d.endpoint}: {d.cause or ('connected' if d.connected else 'connecting')}" for d in detectors
    )


def judge_camera(
    *,
    now: float,
    stall_s: float,
    path: Verdict,
    enabled: bool,
    here: bool,
    refused: str | None,
    live: bool | None,
    live_since: float,
    last_answer: float | None,
    owed_since: float | None,
) -> tuple[CameraAi, str]:
    """One camera: ``live`` True = delivers video, False = offline, None = still connecting.
    A camera runs when its frames got answers within ``stall_s``; one owing nothing (motion gating,
    outside its schedule) runs too, once it has been live that long."""
    if not enabled:
        return CameraAi.DISABLED, "the camera is disabled"
    if not here:
        return CameraAi.ELSEWHERE, "another gateway replica analyses this camera"
    if refused:
        return CameraAi.PROFILE_REFUSED, f"the detector refused the camera's profile: {refused}"
    if live is None:
        return CameraAi.STARTING, "connecting to the camera"
    if not live:
        return CameraAi.CAMERA_OFFLINE, "the camera sends no video"
    if last_answer is not None and now - last_answer < stall_s:
        return CameraAi.RUNNING, f"frames answered {now - last_answer:.0f} s ago"
    if path.state in NOT_RUNNING:
        return CameraAi.NO_ANSWERS, path.reason
    if owed_since is not None and now - owed_since >= stall_s:
        return CameraAi.NO_ANSWERS, f"frames sent {now - owed_since:.0f} s ago are still unanswered"
    if now - max(live_since, last_answer or live_since) < stall_s:
        return CameraAi.STARTING, "waiting for the detector's first answers"
    return CameraAi.RUNNING, "no frame to analyse lately (no motion, or outside its schedule)"


def detector_views(streams: Iterable[DetectorStream], cameras: set[str]) -> list[DetectorView]:
    """Views of the streams; only frames of cameras this replica still pulls count as owed."""
    return [
        DetectorView(
            endpoint=s.endpoint,
            connected=s.connected,
            last_connected=s.last_connected,
            last_answer=s.last_answer,
            owed_since=min((t for c, t in s.owed.items() if c in cameras), default=None),
            cause=s.cause,
        )
        for s in streams
    ]


class AiWatch:
    """Since when the path's verdict holds (``since``), and since when frames wait in the queue;
    logs each change of state once, with its reason."""

    def __init__(self) -> None:
        self.state: AiState | None = None
        self.since: datetime | None = None
        self.queue_waiting_since: float | None = None
        self._warned = logging.WARNING  # the level "not running" was logged at: "again" matches it

    def saw_queue(self, depth: int, now: float) -> None:
        if depth == 0:
            self.queue_waiting_since = None
        elif self.queue_waiting_since is None:
            self.queue_waiting_since = now

    def observe(self, verdict: Verdict, wall: datetime) -> datetime:
        if verdict.state != self.state:
            # The first verdict comes while the streams connect: worth a line, not a warning (a
            # stream that cannot connect warns on its own, with its cause).
            level = logging.INFO if self.state is None else logging.WARNING
            if verdict.state in NOT_RUNNING:
                log.log(level, "AI not running (%s): %s", verdict.state.value, verdict.reason)
                self._warned = level
            elif self.state in NOT_RUNNING:
                log.log(self._warned, "AI running again (%s): %s", verdict.state.value, verdict.reason)
            self.state, self.since = verdict.state, wall
        assert self.since is not None
        return self.since
