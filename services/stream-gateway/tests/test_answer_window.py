"""The frame window of a detector stream: pure rules (no clock, no I/O)."""

from __future__ import annotations

from bk_gateway.answer_window import AnswerWindow


def test_quick_answers_grow_the_window_up_to_its_ceiling() -> None:
    w = AnswerWindow(start=8, most=128, target_s=2.5)
    w.answered(8, sent_at=0.0, now=0.1)
    assert w.frames == 16
    for _ in range(10):
        w.answered(16, sent_at=1.0, now=1.2)
    assert w.frames == 128


def test_a_slow_round_trip_halves_the_window_once() -> None:
    w = AnswerWindow(start=64, most=128, target_s=2.5)
    # four batches of one round trip, all answered late: one cut, not four
    for _ in range(4):
        w.answered(16, sent_at=10.0, now=14.0)
    assert w.frames == 32
    # a batch sent after that cut and late again: cut again
    w.answered(8, sent_at=14.5, now=18.0)
    assert w.frames == 16


def test_a_timeout_halves_it_and_it_never_drops_below_one_frame() -> None:
    w = AnswerWindow(start=3, most=128, target_s=2.5)
    w.timed_out(1.0)
    assert w.frames == 1
    w.timed_out(2.0)
    w.answered(1, sent_at=3.0, now=9.0)
    assert w.frames == 1


def test_an_overloaded_detector_settles_where_it_answers_in_time() -> None:
    """A detector doing 3 frames/s answers a window of n frames in n/3 s; with a 2.5 s target the
    window settles between about 4 and 16 frames: every answer within the 10 s timeout."""
    w = AnswerWindow(start=8, most=128, target_s=2.5)
    now, latencies = 0.0, []
    for _ in range(200):
        latency = w.frames / 3.0
        sent, now = now, now + latency
        latencies.append(latency)
        w.answered(w.frames, sent_at=sent, now=now)
    assert 2 <= w.frames <= 16
    assert max(latencies[20:]) < 10.0
