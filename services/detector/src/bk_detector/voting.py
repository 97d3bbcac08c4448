"""Temporal voting (投票): a violation is raised only when it persists, and raised once.

Per (track, violation type) on one camera: STARTED when present in at least ``ratio`` of the last
``k`` observations (and in at least ``min_observations``); optional UPDATED at most every
``update_interval_s``; ENDED once absent for ``end_after_s`` and for at least
``end_after_observations`` of the camera's sampling intervals (a camera sampled every 5 s that
misses one frame has been blind for 10 s, not absent). The window counts observations, not
seconds, so it means the same at any sampling rate. Times are the frames' capture times, so a
backlog replays the same way it happened.
"""

from __future__ import annotations

import math
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bk_detector.cadence import horizon
from bk_detector.detections import Box, Candidate


class Phase(StrEnum):
    STARTED = "started"
    UPDATED = "updated"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Transition:
    """A change the outside world must hear about."""

    phase: Phase
    violation_id: str
    violation_type: str
    track_id: int
    score: float  # mean score of the observations that showed it
    box: Box
    started_at: datetime
    at: datetime  # capture time of the frame that caused the transition
    observations: int  # frames that voted for it (in the window, or in its whole life once raised)


@dataclass
class _Vote:
    window: deque[tuple[bool, float]]
    box: Box = (0.0, 0.0, 0.0, 0.0)
    last_present: datetime | None = None
    violation_id: str = ""
    started_at: datetime | None = None
    last_emitted: datetime | None = None
    observations: int = 0

    @property
    def raised(self) -> bool:
        return bool(self.violation_id)


@dataclass(frozen=True, slots=True)
class VotingPolicy:
    window: int = 10
    ratio: float = 0.6
    min_observations: int = 3
    end_after_s: float = 30.0
    update_interval_s: float = 0.0  # 0 = no UPDATED events
    end_after_observations: int = 0  # 0 = end_after_s alone, whatever the sampling interval

    def needed(self, window_len: int) -> int:
        return max(self.min_observations, math.ceil(self.ratio * window_len - 1e-9))

    def end_after(self, interval_s: float) -> float:
        """Seconds of absence that end a violation on a camera sampled every ``interval_s``."""
        return horizon(self.end_after_s, self.end_after_observations, interval_s)


class Voter:
    """Voting state of one camera. Feed it every frame of that camera, in capture order."""

    def __init__(self, policy: VotingPolicy, new_id: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        self.policy = policy
        self._new_id = new_id
        self._votes: dict[tuple[int, str], _Vote] = {}

    def observe(
        self, candidates: Sequence[Candidate], when: datetime, interval_s: float = 0.0
    ) -> list[Transition]:
        """Record one frame's candidates; return the transitions it causes. ``interval_s``: the
        camera's sampling interval (0 = unknown yet: ``end_after_s`` alone)."""
        end_after_s = self.policy.end_after(interval_s)
        seen = {(c.track_id, c.violation_type): c for c in candidates}
        for key in seen.keys() - self._votes.keys():
            self._votes[key] = _Vote(window=deque(maxlen=self.policy.window))
        out: list[Transition] = []
        for key, vote in list(self._votes.items()):
            cand = seen.get(key)
            vote.window.append((cand is not None, cand.score if cand else 0.0))
            if cand is not None:
                vote.box, vote.last_present = cand.box, when
                if vote.raised:
                    vote.observations += 1
            if transition := self._judge(key, vote, when, present=cand is not None, end_after_s=end_after_s):
                out.append(transition)
        return out

    def flush(self, when: datetime, interval_s: float = 0.0) -> list[Transition]:
        """End what has been absent long enough at ``when`` without a new frame (camera went quiet)."""
        end_after_s = self.policy.end_after(interval_s)
        out = []
        for key, vote in list(self._votes.items()):
            if vote.raised and vote.last_present and self._absent_long_enough(vote, when, end_after_s):
                out.append(self._end(key, vote, when))
        return out

    def active(self) -> list[str]:
        """Violation types currently raised on this camera."""
        return sorted({vtype for (_, vtype), v in self._votes.items() if v.raised})

    def __len__(self) -> int:
        return len(self._votes)

    def _judge(
        self, key: tuple[int, str], vote: _Vote, when: datetime, *, present: bool, end_after_s: float
    ) -> Transition | None:
        present_scores = [s for p, s in vote.window if p]
        if not vote.raised:
            if present and len(present_scores) >= self.policy.needed(len(vote.window)):
                vote.violation_id, vote.started_at, vote.last_emitted = self._new_id(), when, when
                vote.observations = len(present_scores)
                return self._transition(Phase.STARTED, key, vote, when, present_scores)
            if not present_scores:
                del self._votes[key]  # nothing left to remember
            return None
        if self._absent_long_enough(vote, when, end_after_s):
            return self._end(key, vote, when)
        interval = self.policy.update_interval_s
        if (
            present
            and interval > 0
            and vote.last_emitted is not None
            and (when - vote.last_emitted).total_seconds() >= interval
        ):
            vote.last_emitted = when
            return self._transition(Phase.UPDATED, key, vote, when, present_scores)
        return None

    @staticmethod
    def _absent_long_enough(vote: _Vote, when: datetime, end_after_s: float) -> bool:
        assert vote.last_present is not None
        return (when - vote.last_present).total_seconds() >= end_after_s

    def _end(self, key: tuple[int, str], vote: _Vote, when: datetime) -> Transition:
        transition = self._transition(Phase.ENDED, key, vote, when, [s for p, s in vote.window if p])
        del self._votes[key]
        return transition

    def _transition(
        self, phase: Phase, key: tuple[int, str], vote: _Vote, when: datetime, scores: list[float]
    ) -> Transition:
        assert vote.started_at is not None
        return Transition(
            phase=phase,
            violation_id=vote.violation_id,
            violation_type=key[1],
            track_id=key[0],
            score=sum(scores) / len(scores) if scores else 0.0,
            box=vote.box,
            started_at=vote.started_at,
            at=when,
            observations=vote.observations,
        )

    # -- handover between pods (``handover``): a raised violation leaves and joins with its state --

    def raised_vote(self, violation_id: str) -> RaisedVote | None:
        """Where the raised violation ``violation_id`` stands now (None: not raised here)."""
        for (track_id, vtype), vote in self._votes.items():
            if vote.violation_id == violation_id and vote.started_at is not None:
                present = [s for p, s in vote.window if p]
                return RaisedVote(
                    violation_id,
                    vtype,
                    track_id,
                    vote.box,
                    vote.started_at,
                    vote.last_present or vote.started_at,
                    vote.observations,
                    sum(present) / len(present) if present else 0.0,
                )
        return None

    def adopt(self, raised: RaisedVote) -> None:
        """Go on with a violation another pod raised: raised here under the same id and start, no
        STARTED; it ends like any other (absent for ``end_after``, counted from ``last_present``)."""
        window: deque[tuple[bool, float]] = deque(maxlen=self.policy.window)
        window.extend([(True, raised.score)] * max(1, min(raised.observations, self.policy.window)))
        self._votes[(raised.track_id, raised.violation_type)] = _Vote(
            window=window,
            box=raised.box,
            last_present=raised.last_present,
            violation_id=raised.violation_id,
            started_at=raised.started_at,
            last_emitted=raised.last_present,
            observations=raised.observations,
        )

    def release(self, violation_id: str) -> bool:
        """Forget a raised violation without an ENDED (it ended, or went on, on another pod)."""
        for key, vote in list(self._votes.items()):
            if vote.violation_id == violation_id:
                del self._votes[key]
                return True
        return False


@dataclass(frozen=True, slots=True)
class RaisedVote:
    """A raised violation's voting state, as one pod hands it to the next."""

    violation_id: str
    violation_type: str
    track_id: int
    box: Box
    started_at: datetime
    last_present: datetime
    observations: int
    score: float
