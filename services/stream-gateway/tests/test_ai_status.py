"""Is the AI running: the pure rules behind /readyz, GET /v1/ai/status and each camera's ai_state."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bk_gateway.ai_status import AiState, AiWatch, CameraAi, DetectorView, Verdict, judge_camera, judge_path

STALL = 30.0


def det(
    *,
    connected: bool = True,
    last_connected: float | None = None,
    last_answer: float | None = None,
    owed_since: float | None = None,
    cause: str = "",
    endpoint: str = "det-0:50051",
) -> DetectorView:
    return DetectorView(endpoint, connected, last_connected, last_answer, owed_since, cause)


def path(
    now: float, detectors: list[DetectorView], sending: int = 3, queue_since: float | None = None
) -> Verdict:
    return judge_path(
        now=now, stall_s=STALL, detectors=detectors, cameras_sending=sending, queue_waiting_since=queue_since
    )


def test_no_endpoint_configured_is_no_detectors() -> None:
    v = path(100, [])
    assert v.state is AiState.NO_DETECTORS and "configured" in v.reason and not v.ready


def test_answers_flowing_is_running_even_with_frames_always_waiting() -> None:
    v = path(1000, [det(last_answer=999.5, owed_since=999.8)], queue_since=10)
    assert v.state is AiState.RUNNING and v.ready


def test_frames_waiting_without_an_answer_for_the_stall_time_is_no_answers_with_the_cause() -> None:
    d = det(last_answer=100, owed_since=105, cause="no answer for 10 s with 4 batch(es) waiting")
    assert path(134, [d]).state is AiState.RUNNING  # 29 s of silence: not yet
    v = path(135, [d])
    assert v.state is AiState.NO_ANSWERS and not v.ready
    assert "30 s" in v.reason and "det-0:50051: no answer for 10 s" in v.reason


def test_frames_stuck_in_the_queue_count_as_waiting() -> None:
    d = det(last_answer=None, owed_since=None)
    assert path(200, [d], queue_since=150).state is AiState.NO_ANSWERS
    assert path(200, [d], queue_since=None).state is AiState.RUNNING  # owes nothing, nothing waits


def test_one_detector_answering_keeps_the_path_running() -> None:
    hung = det(endpoint="a:1", owed_since=10, cause="no answer for 10 s")
    fine = det(endpoint="b:1", last_answer=499)
    assert path(500, [hung, fine]).state is AiState.RUNNING


def test_no_detector_reachable_is_no_detectors_after_a_grace_and_at_once_when_never_connected() -> None:
    down = det(connected=False, last_connected=100, cause="UNAVAILABLE: connection refused")
    assert path(110, [down]).state is AiState.RUNNING  # a reconnect in progress, within the stall time
    v = path(131, [down])
    assert v.state is AiState.NO_DETECTORS and "connection refused" in v.reason
    assert path(1, [det(connected=False)]).state is AiState.NO_DETECTORS


def test_no_camera_sending_is_idle() -> None:
    v = path(500, [det(owed_since=10)], sending=0)
    assert v.state is AiState.IDLE and v.ready


@pytest.mark.parametrize(
    ("kw", "want"),
    [
        (dict(enabled=False), CameraAi.DISABLED),
        (dict(here=False), CameraAi.ELSEWHERE),
        (dict(refused="rules[0].violation_type: unknown rule 'no_hats'"), CameraAi.PROFILE_REFUSED),
        (dict(live=None), CameraAi.STARTING),
        (dict(live=False), CameraAi.CAMERA_OFFLINE),
        (dict(last_answer=995.0), CameraAi.RUNNING),
        (dict(last_answer=900.0, owed_since=950.0), CameraAi.NO_ANSWERS),
        (dict(last_answer=None, owed_since=None, live_since=990.0), CameraAi.STARTING),
        (dict(last_answer=None, owed_since=None, live_since=900.0), CameraAi.RUNNING),  # nothing to send
        (dict(last_answer=995.0, path=Verdict(AiState.NO_ANSWERS, "x")), CameraAi.RUNNING),
        (
            dict(last_answer=900.0, path=Verdict(AiState.NO_ANSWERS, "no detector answered")),
            CameraAi.NO_ANSWERS,
        ),
    ],
)
def test_camera_ai_state(kw: dict, want: CameraAi) -> None:
    args = dict(
        now=1000.0,
        stall_s=STALL,
        path=Verdict(AiState.RUNNING, "fine"),
        enabled=True,
        here=True,
        refused=None,
        live=True,
        live_since=0.0,
        last_answer=None,
        owed_since=None,
    )
    args.update(kw)
    state, reason = judge_camera(**args)  # type: ignore[arg-type]
    assert state is want and reason


def test_watch_keeps_since_until_the_state_changes_and_logs_each_change_once(caplog) -> None:
    w = AiWatch()
    t0, t1, t2 = (datetime(2026, 1, 1, 8, 0, s, tzinfo=UTC) for s in (0, 10, 20))
    stalled = Verdict(AiState.NO_ANSWERS, "no detector has answered for 31 s")
    assert w.observe(Verdict(AiState.RUNNING, "ok"), t0) == t0
    assert w.observe(stalled, t1) == t1
    assert w.observe(stalled, t2) == t1
    assert w.observe(Verdict(AiState.RUNNING, "ok"), t2) == t2
    notes = [r.getMessage() for r in caplog.records if r.name == "bk_gateway.ai_status"]
    assert notes == [
        "AI not running (no_answers): no detector has answered for 31 s",
        "AI running again (running): ok",
    ]


def test_watch_tracks_since_when_the_queue_holds_frames() -> None:
    w = AiWatch()
    w.saw_queue(0, 1.0)
    assert w.queue_waiting_since is None
    w.saw_queue(5, 2.0)
    w.saw_queue(9, 3.0)
    assert w.queue_waiting_since == 2.0
    w.saw_queue(0, 4.0)
    assert w.queue_waiting_since is None
