"""Pure pieces: sampler, backoff, sharding, URL masking, state machine, alarms, image checks, queue."""

from __future__ import annotations

import itertools
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from bk_gateway.backoff import Backoff
from bk_gateway.frame_queue import FrameItem, FrameQueue
from bk_gateway.health import ImageChecks, MotionGate
from bk_gateway.sampler import Sampler, SamplingMode
from bk_gateway.schedule import in_schedule
from bk_gateway.sharding import owner, owns
from bk_gateway.sources.base import PROBE_H, PROBE_W
from bk_gateway.sources.pyav import PyAVSource
from bk_gateway.state import Alarm, AlarmTracker, HealthMachine, State
from bk_gateway.synth_video import write_kitchen_video
from bk_gateway.urls import (
    InvalidSourceUrl,
    mask_text,
    mask_url,
    source_kind,
    split_credentials,
    with_credentials,
)


def test_sampler_takes_n_per_second_by_timestamp() -> None:
    s = Sampler(SamplingMode.FPS, fps=2)
    taken = [t for t in (i / 25 for i in range(250)) if s.take(t, keyframe=False)]  # 10 s at 25 fps
    assert len(taken) == 20
    assert all(abs((b - a) - 0.5) < 0.05 for a, b in itertools.pairwise(taken))


def test_sampler_after_gap_does_not_burst_and_resets_on_new_clock() -> None:
    s = Sampler(SamplingMode.FPS, fps=1)
    assert s.take(0.0, False)
    assert s.take(10.0, False) and not s.take(10.04, False)  # one frame after a gap, not ten
    assert s.take(0.5, False)  # clock went back (stream restarted): start over


def test_sampler_keyframes_mode() -> None:
    s = Sampler(SamplingMode.KEYFRAMES)
    assert s.take(1.0, True) and not s.take(1.04, False)


def test_backoff_grows_caps_and_jitters() -> None:
    b = Backoff(1.0, 8.0, jitter=0.2, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(8)]
    assert 0.8 <= delays[0] <= 1.2 and 1.6 <= delays[1] <= 2.4
    assert all(d <= 8.0 for d in delays) and delays[-1] >= 6.4
    b.reset()
    assert b.next_delay() <= 1.2
    assert len({round(Backoff(1, 8, 0.2).next_delay(), 6) for _ in range(20)}) > 1  # not in lockstep


def test_sharding_each_camera_one_owner_and_adding_a_replica_moves_only_its_share() -> None:
    cams = [f"cam-{i}" for i in range(3000)]
    before = {c: owner(c, ["gw-0", "gw-1", "gw-2"]) for c in cams}
    after = {c: owner(c, ["gw-0", "gw-1", "gw-2", "gw-3"]) for c in cams}
    moved = [c for c in cams if before[c] != after[c]]
    assert all(after[c] == "gw-3" for c in moved)  # nothing shuffles between old replicas
    assert 0.20 < len(moved) / len(cams) < 0.30  # about 1/4 of the cameras
    assert sum(owns(c, "gw-1", ["gw-0", "gw-1"]) for c in cams) + sum(
        owns(c, "gw-0", ["gw-0", "gw-1"]) for c in cams
    ) == len(cams)
    assert owns("x", "anyone", [])  # a single replica owns everything


def test_url_credentials_split_masked_and_restored() -> None:
    url, user, pw = split_credentials("rtsp://admin:p%40ss@10.0.0.5:554/Streaming/Channels/101")
    assert url == "rtsp://10.0.0.5:554/Streaming/Channels/101" and (user, pw) == ("admin", "p@ss")
    assert with_credentials(url, user, pw) == "rtsp://admin:p%40ss@10.0.0.5:554/Streaming/Channels/101"
    assert mask_url("rtsp://admin:secret@cam/x") == "rtsp://***@cam/x"
    assert "secret" not in mask_text("Server returned 401 for rtsp://admin:secret@cam/x (secret)", "secret")
    assert split_credentials("sim:cooking") == ("sim:cooking", "", "")


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("rtsp://h/x", "rtsp"),
        ("rtmp://h/live/a", "rtmp"),
        ("http://h/live/a.flv", "http-flv"),
        ("https://h/a/index.m3u8", "hls"),
        ("/data/k.mp4", "file"),
        ("sim:prep", "sim"),
    ],
)
def test_source_kinds(url: str, kind: str) -> None:
    assert source_kind(url) == kind


@pytest.mark.parametrize("url", ["ftp://h/x", "sim:", "rtsp:///nohost", "cooking"])
def test_bad_source_urls(url: str) -> None:
    with pytest.raises(InvalidSourceUrl):
        source_kind(url)


def test_state_machine() -> None:
    m = HealthMachine(0.0)
    assert m.state == State.CONNECTING
    t = m.frame(1.0, None)
    assert t and (t.previous, t.state) == (State.CONNECTING, State.ONLINE)
    assert m.frame(2.0, None) is None  # no event without a change
    t = m.frame(3.0, "frozen image")
    assert t and t.state == State.DEGRADED
    t = m.failed(4.0, "unreachable", "connection refused")
    assert t and t.state == State.OFFLINE and m.error_kind == "unreachable"
    assert m.failed(9.0, "timeout", "no answer") is None and m.reason == "no answer"  # retries: no flapping
    t = m.frame(10.0, None)
    assert t and (t.previous, t.state) == (State.OFFLINE, State.ONLINE) and m.error_kind == ""


def test_alarms_raise_after_threshold_and_clear() -> None:
    a = AlarmTracker({Alarm.OFFLINE: 60, Alarm.COVERED: 30})
    assert a.update(10, {Alarm.OFFLINE: 0}) == []
    [raised] = a.update(61, {Alarm.OFFLINE: 0})
    assert raised.alarm == Alarm.OFFLINE and raised.active
    assert a.update(70, {Alarm.OFFLINE: 0}) == []  # once, not every tick
    [cleared] = a.update(80, {Alarm.OFFLINE: None})
    assert not cleared.active


def test_covered_frozen_and_motion_gate() -> None:
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 255, (36, 64), dtype=np.uint8)
    c = ImageChecks(changed_share=0.02, frozen_after_s=3, covered_stddev=6)
    for i in range(4):
        c.update(scene, float(i))
    assert c.problem() is None  # repeated for 2 s only: an encoder may copy a still scene that long
    c.update(scene, 4.0)
    assert c.problem() == "frozen image" and c.frozen_since == 1.0
    c.update(np.full((36, 64), 20, np.uint8), 6.0)
    assert c.problem() == "lens covered"
    c.update(rng.integers(0, 255, (36, 64), dtype=np.uint8), 7.0)
    assert c.problem() is None
    g = MotionGate(threshold=2.5, heartbeat_s=30)
    assert g.allow(scene, 0) and not g.allow(scene, 1) and g.allow(scene, 31)
    assert g.allow(255 - scene, 32)


def test_schedule_windows() -> None:
    monday_noon = datetime(2026, 9, 7, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai
    assert in_schedule([], monday_noon)
    assert in_schedule([{"weekdays": [1], "start_minute": 600, "end_minute": 780}], monday_noon)
    assert not in_schedule([{"weekdays": [2], "start_minute": 600, "end_minute": 780}], monday_noon)
    assert not in_schedule([{"start_minute": 1320, "end_minute": 360}], monday_noon)  # nights only


def test_frame_queue_drops_oldest_and_counts() -> None:
    q = FrameQueue(3)
    now = datetime.now(UTC)
    for i in range(5):
        q.push(FrameItem(str(i), "t", "s", "c", now, b"", 1))
    assert q.dropped == 2 and [f.frame_id for f in q.take(10)] == ["2", "3", "4"]


def test_a_sources_frames_share_scalers_and_give_the_same_pictures(tmp_path: Path) -> None:
    """The swscale context is built once per camera, not per frame (it costs more than the scaling);
    the pictures are what a per-frame conversion gives, also with a viewer's snapshot scaling the same
    frames at another size on another thread."""
    clip = write_kitchen_video(tmp_path / "k.mkv", seconds=2, fps=10, width=320, height=180, gop_s=0.5)
    src = PyAVSource(
        str(clip),
        keyframes_only=False,
        open_timeout_s=5,
        read_timeout_s=5,
        watchdog_s=5,
        codecs=frozenset({"h264"}),
    )
    src.open()
    try:
        frames = list(src.frames())
    finally:
        src.close()
    assert len(frames) == 20
    assert len({id(f._rgb) for f in frames}) == len({id(f._probe) for f in frames}) == 1
    assert frames[0]._rgb is not frames[0]._probe

    def snapshots() -> list[np.ndarray]:
        return [f.rgb(64, 36) for f in frames for _ in range(5)]

    with ThreadPoolExecutor(1) as pool:
        other_size = pool.submit(snapshots)
        for f in frames:
            raw = f._frame
            assert np.array_equal(f.rgb(160, 90), raw.to_ndarray(format="rgb24", width=160, height=90))
            assert np.array_equal(f.probe(), raw.to_ndarray(format="gray", width=PROBE_W, height=PROBE_H))
        for f, snap in zip(frames, other_size.result()[::5], strict=True):
            assert np.array_equal(snap, f._frame.to_ndarray(format="rgb24", width=64, height=36))
