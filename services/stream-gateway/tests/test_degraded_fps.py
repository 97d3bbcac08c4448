"""The "degraded on slow fps" rule (BK_DEGRADED_FPS_RATIO): the pure rule, then a pull worker whose
source delivers far under its nominal rate turning degraded, and back online when it keeps up."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from gateway_helpers import settings

from bk_gateway import worker as worker_mod
from bk_gateway.frame_queue import FrameQueue
from bk_gateway.health import slow_fps
from bk_gateway.sampler import SamplingMode
from bk_gateway.sources import FrameSource, RawFrame, SourceInfo
from bk_gateway.sources.frames import ArrayFrame
from bk_gateway.spec import CameraSpec
from bk_gateway.state import State
from bk_gateway.worker import CameraWorker


def test_slow_fps_rule() -> None:
    assert slow_fps(4.0, 25.0, 0.5) == "slow stream: 4.0 fps of 25"
    assert slow_fps(12.6, 25.0, 0.5) is None  # at least half: fine
    assert slow_fps(0.0, 25.0, 0.5) is None  # not measured yet
    assert slow_fps(4.0, 0.0, 0.5) is None  # nominal rate unknown
    assert slow_fps(4.0, 90000.0, 0.5) is None  # not a believable frame rate (a clock rate)
    assert slow_fps(1.0, 25.0, 0.0) is None  # rule switched off


class PacedSource(FrameSource):
    """Claims ``nominal`` fps, delivers ``actual`` fps of a textured picture (not covered, not frozen)."""

    def __init__(self, nominal: float, actual: list[float], stop: threading.Event) -> None:
        self.nominal, self.actual, self._stop = nominal, actual, stop

    def open(self) -> SourceInfo:
        return SourceInfo("h264", 64, 36, self.nominal)

    def frames(self) -> Iterator[RawFrame]:
        rng = np.random.default_rng(0)
        t = 0.0
        while not self._stop.is_set():
            self._stop.wait(1.0 / self.actual[0])
            t += 1.0 / self.actual[0]
            yield ArrayFrame(rng.integers(0, 255, (36, 64, 3), dtype=np.uint8), t)

    def close(self) -> None:
        pass


def test_worker_degraded_when_slow_and_online_again(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    rate = [4.0]  # of a nominal 25: under half
    stop_holder: dict[str, threading.Event] = {}

    def fake_open(
        url: str, *, keyframes_only: bool, settings: object, stop: threading.Event, tenant_id: str
    ) -> FrameSource:
        stop_holder["stop"] = stop
        return PacedSource(25.0, rate, stop)

    monkeypatch.setattr(worker_mod, "open_source", fake_open)
    s = settings(tmp_path, degraded_fps_ratio=0.5, covered_stddev=0.0, frozen_changed_share=0.0)
    spec = CameraSpec(
        id="slow",
        tenant_id="t",
        site_id="s",
        zone="cooking",
        source_url="rtsp://cam/1",
        sampling_mode=SamplingMode.FPS,
        sample_fps=10,
    )
    transitions: list[tuple[State, str]] = []
    w = CameraWorker(spec, s, FrameQueue(64), lambda _w, t: transitions.append((t.state, t.reason)))
    w.start()
    try:
        deadline = time.monotonic() + 10
        while w.health.state != State.DEGRADED and time.monotonic() < deadline:
            time.sleep(0.1)
        assert w.health.state == State.DEGRADED and w.health.reason.startswith("slow stream: ")
        assert (State.ONLINE, "receiving video") in transitions  # online first, before any fps was measured
        rate[0] = 25.0  # the network recovers
        deadline = time.monotonic() + 10
        while w.health.state != State.ONLINE and time.monotonic() < deadline:
            time.sleep(0.1)
        assert w.health.state == State.ONLINE
    finally:
        w.stop()
        w.join(3)
