"""Detector affinity: each camera's frames go to exactly one detector (rendezvous over the healthy
endpoints), and move only when that detector goes away."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from gateway_helpers import FakeDetector, settings, start_detector, until

from bk_gateway.detector_client import DetectorClient
from bk_gateway.frame_queue import FrameItem, FrameQueue
from bk_gateway.sharding import owner

CAMERAS = [f"cam-{i}" for i in range(24)]


def frame(camera_id: str, n: int) -> FrameItem:
    return FrameItem(
        frame_id=f"{camera_id}-{n}",
        tenant_id="minghu",
        site_id="s1",
        camera_id=camera_id,
        captured_at=datetime.now(UTC),
        jpeg=b"\xff\xd8fake",
        rules_version=1,
    )


def cameras_of(d: FakeDetector) -> set[str]:
    return {f.camera_id for f in d.frames}


async def test_each_camera_sticks_to_one_detector_and_moves_only_when_it_is_down(tmp_path: Path) -> None:
    a, b = FakeDetector(), FakeDetector()
    server_a, ep_a = await start_detector(a)
    server_b, ep_b = await start_detector(b)
    s = settings(
        tmp_path,
        detector_endpoints=f"{ep_a},{ep_b}",
        batch_size=4,
        batch_max_wait_s=0.02,
        detector_timeout_s=2.0,
    )
    queue = FrameQueue(10_000)
    client = DetectorClient(s, queue, lambda _cid: None)
    client.start()
    try:
        await until(lambda: len(client.healthy()) == 2, 10, "both detector streams connected")
        for n in range(5):
            for cid in CAMERAS:
                queue.push(frame(cid, n))
            await asyncio.sleep(0.02)
        await until(lambda: len(a.frames) + len(b.frames) == 5 * len(CAMERAS), 10, "every frame answered")
        # Every camera reached exactly one detector, the one rendezvous hashing picks, and both work.
        assert not cameras_of(a) & cameras_of(b)
        assert cameras_of(a) | cameras_of(b) == set(CAMERAS)
        assert cameras_of(a) and cameras_of(b)
        for cid in CAMERAS:
            assert client.endpoint_for(cid) == owner(cid, [ep_a, ep_b])
            assert (cid in cameras_of(a)) == (owner(cid, [ep_a, ep_b]) == ep_a)
        # Frames of one camera keep their order inside its detector.
        for d in (a, b):
            for cid in cameras_of(d):
                seq = [f.frame_id for f in d.frames if f.camera_id == cid]
                assert seq == [f"{cid}-{n}" for n in range(5)]

        # Detector A goes away: only its cameras move (to B); B's cameras stay on B.
        on_a, on_b = cameras_of(a), cameras_of(b)
        await server_a.stop(None)
        await until(lambda: client.healthy() == [ep_b], 10, "A's stream seen as down")
        b_before = len(b.frames)
        for cid in CAMERAS:
            queue.push(frame(cid, 99))
        await until(lambda: len(b.frames) == b_before + len(CAMERAS), 10, "all cameras served by B")
        assert {f.camera_id for f in b.frames[b_before:]} == on_a | on_b
        assert all(client.endpoint_for(cid) == ep_b for cid in CAMERAS)
    finally:
        await client.stop()
        await server_a.stop(None)
        await server_b.stop(None)


async def test_no_healthy_detector_means_frames_wait_and_oldest_drop(tmp_path: Path) -> None:
    s = settings(tmp_path, detector_endpoints="127.0.0.1:1")  # nothing listens there
    queue = FrameQueue(8)
    client = DetectorClient(s, queue, lambda _cid: None)
    client.start()
    try:
        for n in range(20):
            queue.push(frame("cam-x", n))  # never blocks
        await asyncio.sleep(0.3)
        assert client.endpoint_for("cam-x") is None
        assert len(queue) == 8 and queue.dropped == 12
        assert queue.take(8)[0].frame_id == "cam-x-12"  # the oldest were dropped
    finally:
        await client.stop()


def test_take_matching_keeps_the_others_in_order() -> None:
    q = FrameQueue(10)
    for n in range(6):
        q.push(frame("a" if n % 2 else "b", n))
    got = q.take_matching(2, lambda it: it.camera_id == "a")
    assert [it.frame_id for it in got] == ["a-1", "a-3"]
    assert [it.frame_id for it in q.take(10)] == ["b-0", "b-2", "b-4", "a-5"]
