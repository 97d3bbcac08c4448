"""A camera that moves between detector pods keeps its story: one STARTED, one ENDED, one violation
id, whether the pod it left is alive or was killed (``handover``, ``journal``).

The pods are real detector services (gRPC on loopback) over one object store (a local directory,
or SeaweedFS S3) and one bus; the dead pod is a child process killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client import REGISTRY

from bk_detector.detections import Candidate, Detection
from bk_detector.evidence import CameraContext
from bk_detector.handover import Claim, claim, stale
from bk_detector.journal import OpenViolation, camera_folder
from bk_detector.service import DetectorService, create_service
from bk_detector.testing import ScriptedModel, by_colour, solid_jpeg
from bk_detector.testing_pod import GREY, RED, SCENES, Collector, child_pod, pod_settings, store_from
from bk_detector.tracking import Tracker
from bk_detector.voting import Phase, Transition, Voter, VotingPolicy
from bkcore.bus.inproc import InProcessBus
from bkcore.objstore.base import ObjectStore
from bkcore.service import Runtime
from bkcore.testing.tokens import new_token_issuer
from bkproto.detector.v1 import detector_pb2 as pb
from bkproto.detector.v1 import detector_pb2_grpc as pb_grpc
from bkproto.events.v1.detections_pb2 import ViolationDetected, ViolationPhase

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
STARTED, ENDED = ViolationPhase.VIOLATION_PHASE_STARTED, ViolationPhase.VIOLATION_PHASE_ENDED

# -- the rules, without I/O ---------------------------------------------------------------------------


def record(owner: str, seen_at: datetime, renewed_at: datetime = T0) -> OpenViolation:
    start = Transition(Phase.STARTED, "v1", "no_chef_hat", 1, 0.9, (0.1, 0.1, 0.3, 0.9), T0, T0, 3)
    return OpenViolation(
        start=start,
        label="person",
        camera=CameraContext("t1", "s1", "c1", "cooking"),
        model_version="m",
        event_id="e",
        detections=[],
        owner=owner,
        opened_at=T0,
        renewed_at=renewed_at,
        seen_at=seen_at,
    )


def test_who_has_a_violation() -> None:
    later = T0 + timedelta(seconds=5)
    assert claim(None, pod="a", seen_at=T0) is Claim.ENDED
    assert claim(record("a", later), pod="a", seen_at=T0) is Claim.MINE
    # B adopted it and judged newer frames than A: the camera is on B now
    assert claim(record("b", later), pod="a", seen_at=T0) is Claim.LOST
    # B adopted it, but A judged newer frames since: the camera came back to A
    assert claim(record("b", T0), pod="a", seen_at=later) is Claim.TAKE_BACK
    assert claim(record("b", T0), pod="a", seen_at=T0) is Claim.LOST  # a tie stays where it is
    assert not stale(record("a", T0, renewed_at=T0), now=T0 + timedelta(seconds=29), lease_s=30)
    assert stale(record("a", T0, renewed_at=T0), now=T0 + timedelta(seconds=30), lease_s=30)


def test_a_voter_hands_a_raised_violation_over_without_a_second_start() -> None:
    policy = VotingPolicy(window=5, ratio=0.6, min_observations=3, end_after_s=2)
    old = Voter(policy)
    box = (0.1, 0.1, 0.3, 0.9)
    raised = [
        t
        for i in range(3)
        for t in old.observe([Candidate("no_chef_hat", 7, 0.9, box)], T0 + timedelta(seconds=i))
    ]
    assert [t.phase for t in raised] == [Phase.STARTED]
    state = old.raised_vote(raised[0].violation_id)
    assert state is not None and (state.track_id, state.observations) == (7, 3)
    assert state.last_present == T0 + timedelta(seconds=2)

    new = Voter(policy)
    new.adopt(state)
    assert new.active() == ["no_chef_hat"]
    # still present: no transition at all; then absent for end_after_s: ENDED under the same id
    assert new.observe([Candidate("no_chef_hat", 7, 0.8, box)], T0 + timedelta(seconds=3)) == []
    [ended] = new.observe([], T0 + timedelta(seconds=5))
    assert (ended.phase, ended.violation_id) == (Phase.ENDED, state.violation_id)
    assert ended.started_at == raised[0].started_at == T0 + timedelta(seconds=2)
    assert ended.observations == 4
    assert old.release(state.violation_id) and old.active() == [] and not old.release("nope")


def test_an_adopted_track_keeps_its_id_across_the_handover_gap() -> None:
    tracker = Tracker(max_age_s=3.0)
    first_here = T0 + timedelta(seconds=60)  # the camera spent a minute moving between pods
    tracker.adopt(7, "person", (0.1, 0.1, 0.3, 0.9), first_here)
    there, newcomer = tracker.update(
        [Detection("person", 0.9, (0.11, 0.1, 0.31, 0.9)), Detection("person", 0.9, (0.7, 0.1, 0.9, 0.9))],
        first_here,
    )
    assert there.track_id == 7
    assert newcomer.track_id == 8  # new tracks never reuse an adopted id


# -- pods over one store and one bus ------------------------------------------------------------------


class Bus(Collector):
    """The bus every pod in the test publishes to, and what reached it."""

    def __init__(self) -> None:
        self.bus = InProcessBus()
        super().__init__(self.bus)


@pytest.fixture
async def bus() -> AsyncIterator[Bus]:
    b = Bus()
    await b.bus.start()
    try:
        yield b
    finally:
        await b.bus.stop()


async def start_pod(
    bus: Bus, store: ObjectStore, data_dir: Path, name: str, **overrides: Any
) -> DetectorService:
    settings = pod_settings(data_dir, pod_name=name, **overrides)
    runtime = Runtime(settings=settings, bus=bus.bus, store=store, tokens=new_token_issuer())
    service = create_service(runtime, settings, model=ScriptedModel(by_colour(SCENES)))
    await service.start()
    return service


def frames(first: int, last: int, colour: tuple[int, int, int]) -> pb.FrameBatch:
    batch = pb.FrameBatch(batch_id=uuid.uuid4().hex)
    for i in range(first, last + 1):
        f = batch.frames.add(
            frame_id=f"c1-{i}",
            tenant_id="t1",
            site_id="s1",
            camera_id="c1",
            rules_version=1,
            jpeg=solid_jpeg(colour),
        )
        f.captured_at.FromDatetime(T0 + timedelta(seconds=i))
    return batch


async def exchange(address: str, batches: list[pb.FrameBatch]) -> list[pb.DetectionBatch]:
    async with grpc.aio.insecure_channel(address) as channel:
        call = pb_grpc.DetectorStub(channel).Detect()
        out = []
        for batch in batches:
            await call.write(batch)
            out.append(await asyncio.wait_for(call.read(), 15))
        await call.done_writing()
        return out


def handovers(outcome: str) -> float:
    return REGISTRY.get_sample_value("bk_detector_handover_total", {"outcome": outcome}) or 0.0


async def wait_for(check: Any, timeout_s: float = 60.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():  # noqa: ASYNC110 (a metric: there is no event to wait on)
            await asyncio.sleep(0.05)


def assert_one_story(events: list[ViolationDetected]) -> ViolationDetected:
    """Exactly one STARTED and one ENDED, of the same violation, under distinct event ids."""
    assert [e.phase for e in events] == [STARTED, ENDED], [e.phase for e in events]
    started, ended = events
    assert started.violation_id == ended.violation_id
    assert started.started_at == ended.started_at == ended.started_at
    assert len({e.meta.event_id for e in events}) == 2
    return started


async def test_a_camera_moved_to_a_live_pod_keeps_its_violation(
    bus: Bus, store_config: dict[str, Any], tmp_path: Path
) -> None:
    store = store_from(store_config)
    a = await start_pod(bus, store, tmp_path / "a", "pod-a")
    b = await start_pod(bus, store, tmp_path / "b", "pod-b")
    lost_before = handovers("lost")
    try:
        [on_a] = await exchange(a.grpc_address, [frames(0, 2, RED)])
        assert list(on_a.results[2].violations) == ["no_chef_hat"]  # raised on A at t=2
        await bus.wait_events(1)

        # The pool changed: the camera's frames now go to B, while A lives on.
        [on_b] = await exchange(b.grpc_address, [frames(3, 4, RED)])
        assert list(on_b.results[0].violations) == ["no_chef_hat"]  # B's first frame: adopted
        # A stands down without a word once it reads that B has the camera; it never ends it.
        await wait_for(lambda: handovers("lost") > lost_before)
        [on_b] = await exchange(b.grpc_address, [frames(5, 9, GREY)])
        assert all(not r.error for r in on_b.results) and not on_b.results[-1].violations
        events = await bus.wait_events(2)  # B ends it: absent since t=5
        await asyncio.sleep(3.0)  # A's idle sweep would have ended it by now (2 s after its last frame)
        started = assert_one_story(events)
        assert started.started_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=2)
        assert events[1].ended_at.ToDatetime(tzinfo=UTC) >= T0 + timedelta(seconds=6)
        assert await store.get(started.raw_snapshot_key) == solid_jpeg(RED)
        assert await store.list(camera_folder("t1", "c1")) == []  # closed: nothing left open
    finally:
        await a.stop()
        await b.stop()


async def test_a_camera_moved_off_a_killed_pod_keeps_its_violation(
    bus: Bus, store_config: dict[str, Any], tmp_path: Path
) -> None:
    store = store_from(store_config)
    # B's lease outlasts the moment between A's death and the camera's first frame on B: until
    # then A's record is not stale, and B adopts it rather than ending it.
    b = await start_pod(bus, store, tmp_path / "b", "pod-b", journal_lease_s=2.0)
    try:
        with child_pod(store_config, tmp_path / "a", pod_name="pod-a") as a:
            [on_a] = await exchange(a.address, [frames(0, 2, RED)])
            assert list(on_a.results[2].violations) == ["no_chef_hat"]
            a.kill()  # its STARTED never reached the bus (its broker never answered)
        assert bus.events == []

        on_b = await exchange(b.grpc_address, [frames(3, 4, RED), frames(5, 9, GREY)])
        assert list(on_b[0].results[0].violations) == ["no_chef_hat"]  # adopted from the dead pod
        events = await bus.wait_events(2)
        await asyncio.sleep(2.5)  # past the dead pod's lease: recovery must not add a thing
        started = assert_one_story(events)
        assert started.started_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=2)
        assert await store.get(started.raw_snapshot_key) == solid_jpeg(RED)
        assert (await store.get(started.annotated_snapshot_key))[:2] == b"\xff\xd8"
        assert await store.list(camera_folder("t1", "c1")) == []
    finally:
        await b.stop()
