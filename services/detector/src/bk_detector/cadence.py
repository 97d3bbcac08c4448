"""Sampling cadence (取样间隔): how often one camera is really observed, and the one rule that turns
"wait N observations" into seconds.

Cameras are sampled anywhere from several frames a second to one keyframe every few seconds, and
the detector misses an object now and then. A wait measured in fixed seconds (forget a track after
3 s, end a violation after 5 s) then means dozens of frames on one camera and less than one on
another. So every wait for something to be seen again is at least N of the camera's own sampling
intervals; the seconds stay a floor for fast cameras.
"""

from __future__ import annotations

#: Weight of the newest gap when the cadence speeds up. Small: a camera that speeds up can afford
#: to keep its tracks a little longer while the estimate comes down.
EWMA_ALPHA = 0.2


def learn_interval(estimate_s: float, gap_s: float, max_s: float) -> float:
    """The camera's sampling interval after a gap of ``gap_s`` between two of its frames.

    It rises to a longer gap at once (a camera switched to keyframes, or a dropped frame, must not
    lose its tracks while an average catches up) and comes down as an EWMA. A gap longer than
    ``max_s`` is an outage, not sampling: it counts as ``max_s``. A gap of 0 or less (a frame late
    or out of order) teaches nothing. ``estimate_s`` 0 = nothing learnt yet.
    """
    if gap_s <= 0:
        return estimate_s
    gap_s = min(gap_s, max_s)
    if gap_s >= estimate_s:
        return gap_s
    return estimate_s + EWMA_ALPHA * (gap_s - estimate_s)


def horizon(seconds: float, observations: int, interval_s: float) -> float:
    """A wait of at least ``seconds`` and at least ``observations`` sampling intervals."""
    return max(seconds, observations * interval_s)
