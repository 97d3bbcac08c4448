"""Voting and tracking: persistent violations raise once, flickers never do."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from bk_detector.detections import Candidate, Detection
from bk_detector.tracking import Tracker
from bk_detector.voting import Phase, Voter, VotingPolicy

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
POLICY = VotingPolicy(window=5, ratio=0.6, min_observations=3, end_after_s=5.0)
HAT = Candidate("no_chef_hat", 1, 0.8, (0.1, 0.1, 0.3, 0.9))


def run(voter: Voter, pattern: str, start: float = 0.0, step: float = 1.0) -> list[tuple[float, Phase]]:
    """Feed one frame per character ('x' = present, '.' = absent); returns (time, phase) pairs."""
    out = []
    for i, ch in enumerate(pattern):
        t = start + i * step
        for tr in voter.observe([HAT] if ch == "x" else [], T0 + timedelta(seconds=t)):
            out.append((t, tr.phase))
    return out


def test_one_frame_flicker_never_raises() -> None:
    voter = Voter(POLICY)
    assert run(voter, "x....x....x.....x.....") == []
    assert len(voter) == 0  # nothing left to remember once the window is clean


def test_persistent_violation_starts_once_and_ends_once() -> None:
    voter = Voter(POLICY)
    phases = run(voter, "xxx" + "x.x.xxxx.x" * 6 + "." * 8)
    assert phases == [(2.0, Phase.STARTED), (67.0, Phase.ENDED)]  # last seen at t=62, gone 5 s


def test_ratio_over_the_window_decides() -> None:
    voter = Voter(POLICY)
    assert run(voter, "x.x.x") == [(4.0, Phase.STARTED)]  # 3 of 5 = 60%
    voter2 = Voter(VotingPolicy(window=5, ratio=0.8, min_observations=3, end_after_s=5))
    assert run(voter2, "x.x.x.x.x.") == []  # never 4 of 5


def test_one_violation_keeps_one_id_and_reports_observations() -> None:
    ids = (f"v{i}" for i in itertools.count())
    voter = Voter(POLICY, new_id=lambda: next(ids))
    transitions = []
    for i, ch in enumerate("xxxxx" + "." * 6):
        transitions += voter.observe([HAT] if ch == "x" else [], T0 + timedelta(seconds=i))
    started, ended = transitions
    assert started.violation_id == ended.violation_id == "v0"
    assert started.observations == 3 and ended.observations == 5
    assert started.started_at == T0 + timedelta(seconds=2) == ended.started_at
    assert ended.at == T0 + timedelta(seconds=9)
    assert abs(started.score - 0.8) < 1e-9
    assert voter.active() == []


def test_updates_at_most_every_interval() -> None:
    voter = Voter(VotingPolicy(window=5, ratio=0.6, min_observations=3, end_after_s=5, update_interval_s=10))
    phases = [p for _, p in run(voter, "x" * 25)]
    assert phases == [Phase.STARTED, Phase.UPDATED, Phase.UPDATED]  # t=2, 12, 22


def test_separate_tracks_are_separate_violations() -> None:
    voter = Voter(POLICY)
    other = Candidate("no_chef_hat", 2, 0.7, (0.5, 0.1, 0.7, 0.9))
    started = []
    for i in range(3):
        started += voter.observe([HAT, other], T0 + timedelta(seconds=i))
    assert {(t.track_id, t.phase) for t in started} == {(1, Phase.STARTED), (2, Phase.STARTED)}
    assert started[0].violation_id != started[1].violation_id
    assert voter.active() == ["no_chef_hat"]


def test_flush_ends_violations_of_a_quiet_camera() -> None:
    voter = Voter(POLICY)
    run(voter, "xxx")
    assert voter.flush(T0 + timedelta(seconds=4)) == []
    [ended] = voter.flush(T0 + timedelta(seconds=8))
    assert ended.phase is Phase.ENDED and voter.active() == []


def test_tracker_keeps_ids_for_moving_objects_and_separates_labels() -> None:
    tracker = Tracker(max_age_s=3)
    walk = [Detection("person", 0.9, (0.1 + 0.03 * i, 0.1, 0.3 + 0.03 * i, 0.9)) for i in range(5)]
    rat = [Detection("rodent", 0.8, (0.5 + 0.05 * i, 0.8, 0.55 + 0.05 * i, 0.85)) for i in range(5)]
    ids = [tracker.update([walk[i], rat[i]], T0 + timedelta(seconds=i)) for i in range(5)]
    assert len({frame[0].track_id for frame in ids}) == 1  # one person throughout
    assert len({frame[1].track_id for frame in ids}) == 1  # the rat hops without overlap
    assert ids[0][0].track_id != ids[0][1].track_id


def test_tracker_forgets_after_max_age_and_tells_two_people_apart() -> None:
    tracker = Tracker(max_age_s=3)
    a, b = Detection("person", 0.9, (0.0, 0.1, 0.2, 0.9)), Detection("person", 0.9, (0.6, 0.1, 0.8, 0.9))
    first = tracker.update([a, b], T0)
    swapped = tracker.update([b, a], T0 + timedelta(seconds=1))
    assert [d.track_id for d in swapped] == [first[1].track_id, first[0].track_id]
    later = tracker.update([a], T0 + timedelta(seconds=10))
    assert later[0].track_id not in {first[0].track_id, first[1].track_id}


def test_match_cost_is_iou_then_centre_jump() -> None:
    # the tracker's inlined geometry must agree with detections.iou/centre on any pair of boxes
    import math
    import random

    from bk_detector.detections import centre, iou
    from bk_detector.tracking import MAX_CENTRE_JUMP, MIN_IOU, _match_cost

    def reference(old: tuple, new: tuple) -> float | None:
        overlap = iou(old, new)
        if overlap >= MIN_IOU:
            return 1.0 - overlap
        (ox, oy), (nx, ny) = centre(old), centre(new)
        jump = math.hypot(nx - ox, ny - oy) / max(math.hypot(old[2] - old[0], old[3] - old[1]), 1e-6)
        return 1.0 + jump if jump <= MAX_CENTRE_JUMP else None

    rng = random.Random(5)
    kinds = {"iou": 0, "jump": 0, "none": 0}
    for _ in range(5000):
        x, y = rng.random() * 0.8, rng.random() * 0.8
        old = (x, y, x + rng.random() * 0.2, y + rng.random() * 0.2)
        dx, dy = rng.gauss(0, 0.08), rng.gauss(0, 0.08)
        new = (old[0] + dx, old[1] + dy, old[2] + dx * rng.random(), old[3] + dy * rng.random())
        want, got = reference(old, new), _match_cost(old, new)
        assert (want is None) == (got is None) and (want is None or math.isclose(got, want, abs_tol=1e-12))
        kinds["none" if want is None else "iou" if want < 1 else "jump"] += 1
    assert min(kinds.values()) > 100  # every branch was exercised
