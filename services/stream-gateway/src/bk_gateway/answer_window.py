"""How many frames a detector stream may have unanswered: grown while answers come back quickly,
halved when they come back slowly (additive increase, multiplicative decrease, as TCP does).

Why: a detector slower than the work sent to it (a CPU detector on a busy machine, a GPU pool short
of pods) would otherwise get a fixed ``detector_max_inflight`` batches of ``batch_size`` frames, take
longer than ``detector_timeout_s`` to answer the first of them, be torn down, lose the lot, and do it
again: a livelock in which it works all the time and no frame is ever answered. Kept to what it
answers within a quarter of the timeout, a slow detector answers fewer frames, but answers them,
and the frames it cannot take wait (and drop, oldest first) in the gateway's queue. Pure: no clock.
"""

from __future__ import annotations


class AnswerWindow:
    def __init__(self, *, start: int, most: int, target_s: float) -> None:
        self.most = max(1, most)
        self.frames = max(1, min(start, self.most))
        self.target_s = target_s
        self._cut_at = float("-inf")

    def answered(self, frames: int, sent_at: float, now: float) -> None:
        """A batch of ``frames`` sent at ``sent_at`` was answered at ``now``."""
        if now - sent_at <= self.target_s:
            self.frames = min(self.most, self.frames + frames)  # about doubles per round trip
        elif sent_at >= self._cut_at:  # slow: cut once per round trip, not once per late batch
            self._cut(now)

    def timed_out(self, now: float) -> None:
        self._cut(now)

    def _cut(self, now: float) -> None:
        self.frames = max(1, self.frames // 2)
        self._cut_at = now
