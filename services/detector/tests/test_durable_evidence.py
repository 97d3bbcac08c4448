"""Evidence survives a detector crash: a violation is in the object store before its frame is
answered, and whatever a dead (or defeated) pod did not publish is published by another, once,
under the event id it would have used (``journal``, ``recovery``, ``evidence``).
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

from bk_detector.detections import Detection
from bk_detector.evidence import EVENT_IDS, CameraContext, event_id_for
from bk_detector.journal import BadRecord, OpenViolation, camera_folder, decode, encode, record_key
from bk_detector.service import DetectorService, create_service
from bk_detector.testing import ScriptedModel, by_colour, solid_jpeg
from bk_detector.testing_pod import RED, SCENES, Collector, child_pod, pod_settings, store_from
from bk_detector.voting import Phase, Transition
from bkcore.bus.inproc import InProcessBus
from bkcore.objstore.base import ObjectStore
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing.tokens import new_token_issuer
from bkproto.detector.v1 import detector_pb2 as pb
from bkproto.detector.v1 import detector_pb2_grpc as pb_grpc
from bkproto.events.v1.detections_pb2 import ViolationPhase

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
STARTED, ENDED = ViolationPhase.VIOLATION_PHASE_STARTED, ViolationPhase.VIOLATION_PHASE_ENDED
CAMERAS = ("c1", "c2", "c3")
DROPPED, BUS_FAILED = "bk_detector_evidence_dropped_total", {"tenant": "t1", "reason": "bus_failed"}

# -- the record and the ids, without I/O --------------------------------------------------------------


def test_a_record_reads_back_as_written_and_a_bad_one_is_refused_by_name() -> None:
    start = Transition(Phase.STARTED, "v1", "no_chef_hat", 4, 0.87, (0.1, 0.2, 0.3, 0.4), T0, T0, 3)
    rec = OpenViolation(
        start=start,
        label="person",
        camera=CameraContext("t1", "s1", "c1", "cooking", "Asia/Shanghai"),
        model_version="m-1",
        event_id="e-1",
        owner="pod-a-1f2e3d",
        opened_at=T0,
        renewed_at=T0 + timedelta(seconds=5),
        seen_at=T0 + timedelta(seconds=4),
        detections=[Detection("person", 0.9, (0.1, 0.2, 0.3, 0.4), {"chef_hat": 0.1}, 4)],
        box=(0.15, 0.2, 0.35, 0.4),
        last_present=T0 + timedelta(seconds=4),
        observations=5,
        score=0.8,
    )
    assert decode(encode(rec)) == rec
    assert record_key("t1", "c1", "v1") == "detector/violations/t1/c1/v1.json"
    with pytest.raises(BadRecord, match="format"):
        decode(b'{"format": 99}')
    with pytest.raises(BadRecord, match="KeyError"):
        decode(encode(rec).replace(b'"owner"', b'"ownr"'))
    with pytest.raises(BadRecord, match="timezone"):
        decode(encode(rec).replace(b"+00:00", b""))
    with pytest.raises(BadRecord):
        decode(b"\xff not json")


def test_started_and_ended_ids_follow_from_the_violation() -> None:
    def t(phase: Phase, vid: str = "v1") -> Transition:
        return Transition(phase, vid, "rodent", 1, 0.9, (0, 0, 1, 1), T0, T0, 3)

    assert event_id_for(t(Phase.STARTED)) == event_id_for(t(Phase.STARTED))
    assert event_id_for(t(Phase.STARTED)) == str(uuid.uuid5(EVENT_IDS, "v1/started"))
    assert (
        len(
            {
                event_id_for(t(Phase.STARTED)),
                event_id_for(t(Phase.ENDED)),
                event_id_for(t(Phase.STARTED, "v2")),
            }
        )
        == 3
    )
    assert event_id_for(t(Phase.UPDATED)) != event_id_for(t(Phase.UPDATED))  # UPDATED: fresh each time


# -- a real store, real pods ------------------------------------------------------------------------


async def start_pod(
    bus: InProcessBus, store: ObjectStore, data_dir: Path, name: str, **overrides: Any
) -> DetectorService:
    settings = pod_settings(data_dir, pod_name=name, **overrides)
    runtime = Runtime(settings=settings, bus=bus, store=store, tokens=new_token_issuer())
    service = create_service(runtime, settings, model=ScriptedModel(by_colour(SCENES)))
    await service.start()
    return service


@pytest.fixture
async def bus() -> AsyncIterator[InProcessBus]:
    b = InProcessBus()
    await b.start()
    try:
        yield b
    finally:
        await b.stop()


def red_batch(cameras: tuple[str, ...], first: int = 0, last: int = 2) -> pb.FrameBatch:
    """Frames ``first``..``last`` (one a second) of each camera, interleaved as a gateway sends them."""
    batch = pb.FrameBatch(batch_id=uuid.uuid4().hex)
    for i in range(first, last + 1):
        for camera in cameras:
            f = batch.frames.add(
                frame_id=f"{camera}-{i}",
                tenant_id="t1",
                site_id="s1",
                camera_id=camera,
                rules_version=1,
                jpeg=solid_jpeg(RED),
            )
            f.captured_at.FromDatetime(T0 + timedelta(seconds=i))
    return batch


async def answer(address: str, batch: pb.FrameBatch) -> pb.DetectionBatch:
    async with grpc.aio.insecure_channel(address) as channel:
        call = pb_grpc.DetectorStub(channel).Detect()
        await call.write(batch)
        return await asyncio.wait_for(call.read(), 15)


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def test_a_pod_killed_after_answering_loses_no_violation(
    bus: InProcessBus, store_config: dict[str, Any], tmp_path: Path
) -> None:
    store = store_from(store_config)
    with child_pod(store_config, tmp_path / "a", pod_name="pod-a") as a:
        done = await answer(a.address, red_batch(CAMERAS))
        raised = [r for r in done.results if r.violations]
        assert sorted(r.camera_id for r in raised) == sorted(CAMERAS)  # the 3rd frame of each camera
        assert all(not r.error for r in done.results)
        # Answered "done", so already durable: each violation's record, and its raw frame.
        for camera in CAMERAS:
            keys = await store.list(camera_folder("t1", camera))
            assert [k for k in keys if k.endswith(".json")], f"no journal record for {camera}"
        a.kill()  # mid-delivery: its broker never answered, nothing of it reached the bus

    collector = Collector(bus)
    b = await start_pod(bus, store, tmp_path / "b", "pod-b")  # a new pod: recovers at start-up
    try:
        events = await collector.wait_events(2 * len(CAMERAS))
        await asyncio.sleep(1.5)  # another lease and scans: nothing more may come
        assert len(events) == 2 * len(CAMERAS)
        started = [e for e in events if e.phase == STARTED]
        assert sorted(e.camera_id for e in started) == sorted(CAMERAS)  # 0 lost
        assert len({e.meta.event_id for e in events}) == len(events)  # no event twice
        for e in started:
            assert e.meta.event_id == str(uuid.uuid5(EVENT_IDS, f"{e.violation_id}/started"))
            assert e.started_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=2)
            assert await store.get(e.raw_snapshot_key) == solid_jpeg(RED)
            assert (await store.get(e.annotated_snapshot_key))[:2] == b"\xff\xd8"
            [end] = [x for x in events if x.phase == ENDED and x.violation_id == e.violation_id]
            assert events.index(end) > events.index(e)  # never an ENDED before its STARTED
        for camera in CAMERAS:
            assert await store.list(camera_folder("t1", camera)) == []  # nothing left open
    finally:
        await b.stop()


class StoreOutage:
    """A real local store behind a switch: while ``down``, every call fails as a refused
    connection does."""

    def __init__(self, inner: LocalObjectStore) -> None:
        self.inner, self.down = inner, False

    def __getattr__(self, name: str) -> Any:
        call = getattr(self.inner, name)

        async def guarded(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise ConnectionRefusedError("object store down")
            return await call(*args, **kwargs)

        return guarded


async def test_a_violation_not_durable_in_time_is_never_answered_done(
    bus: InProcessBus, tmp_path: Path
) -> None:
    store = StoreOutage(LocalObjectStore(tmp_path / "objects", "secret", "http://127.0.0.1"))
    collector = Collector(bus)
    pod = await start_pod(
        bus,
        store,
        tmp_path / "a",
        "pod-a",  # type: ignore[arg-type]
        evidence_durable_timeout_s=0.3,
        evidence_max_attempts=60,
    )
    before = sample("bk_detector_violations_not_durable_total")
    try:
        store.down = True
        done = await answer(pod.grpc_address, red_batch(("c1",)))
        third = done.results[2]
        assert list(third.violations) == ["no_chef_hat"]
        assert third.error == "violation not durable yet: object store unavailable"
        assert [r.error for r in done.results[:2]] == ["", ""]  # the other frames are fine
        assert sample("bk_detector_violations_not_durable_total") == before + 1
        store.down = False  # back within the retries: the pod, alive, still delivers it
        [event] = await collector.wait_events(1)
        assert event.phase == STARTED and await store.get(event.raw_snapshot_key) == solid_jpeg(RED)
    finally:
        await pod.stop()


class BusOutage(InProcessBus):
    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def publish(self, topic: str, event: Any) -> None:  # type: ignore[override]
        if self.down:
            raise ConnectionRefusedError("broker down")
        await super().publish(topic, event)


async def test_a_violation_the_publisher_gave_up_on_is_published_from_the_journal(tmp_path: Path) -> None:
    bus = BusOutage()
    collector = Collector(bus)
    await bus.start()
    store = LocalObjectStore(tmp_path / "objects", "secret", "http://127.0.0.1")
    pod = await start_pod(bus, store, tmp_path / "a", "pod-a", evidence_max_attempts=2)
    dropped = sample(DROPPED, BUS_FAILED)
    try:
        bus.down = True
        done = await answer(pod.grpc_address, red_batch(("c1",)))
        assert list(done.results[2].violations) == ["no_chef_hat"] and not done.results[2].error
        async with asyncio.timeout(10):  # the in-memory queue gives up...
            while sample(DROPPED, BUS_FAILED) == dropped:  # noqa: ASYNC110 (a metric: no event)
                await asyncio.sleep(0.05)
        bus.down = False
        [event] = await collector.wait_events(1)  # ...the journal does not
        assert event.phase == STARTED
        assert event.meta.event_id == str(uuid.uuid5(EVENT_IDS, f"{event.violation_id}/started"))
    finally:
        await pod.stop()
        await bus.stop()
