"""Evidence: snapshots before the event, retries through outages, drops are never silent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from prometheus_client import REGISTRY

from bk_detector.detections import Detection
from bk_detector.evidence import CameraContext, EvidencePublisher, RetryPolicy, ViolationJob
from bk_detector.testing import noise_jpeg
from bk_detector.voting import Phase, Transition
from bkproto.events.v1.detections_pb2 import ViolationPhase

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
CAMERA = CameraContext(tenant_id="t1", site_id="s1", camera_id="c1", zone="cooking", timezone="Asia/Shanghai")
FAST = RetryPolicy(max_attempts=4, base_s=0.01, max_s=0.02)


class FlakyStore:
    def __init__(self, failures: int = 0) -> None:
        self.objects: dict[str, bytes] = {}
        self.failures = failures
        self.log: list[str] = []

    async def put(self, key: str, data: bytes, content_type: str = "") -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("store down")
        self.objects[key] = data
        self.log.append(f"put {key}")


class FlakyBus:
    def __init__(self, store: FlakyStore, failures: int = 0) -> None:
        self.store, self.failures = store, failures
        self.events: list = []  # type: ignore[type-arg]

    async def publish(self, topic: str, event) -> None:  # type: ignore[no-untyped-def]
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("bus down")
        # The contract: whatever the event points at is already stored.
        for key in (event.raw_snapshot_key, event.annotated_snapshot_key):
            assert not key or key in self.store.objects, f"event points at missing {key}"
        self.events.append((topic, event))
        self.store.log.append(f"publish {event.phase}")


def job(phase: Phase = Phase.STARTED, vid: str = "v1") -> ViolationJob:
    t = Transition(phase, vid, "rodent", 4, 0.9, (0.1, 0.2, 0.3, 0.4), T0, T0, 3)
    return ViolationJob(
        t,
        CAMERA,
        "m-1",
        jpeg=noise_jpeg() if phase is Phase.STARTED else b"",
        detections=[Detection("rodent", 0.9, (0.1, 0.2, 0.3, 0.4), {}, 4)],
    )


async def deliver(pub: EvidencePublisher, *jobs: ViolationJob) -> None:
    await pub.start()
    try:
        for j in jobs:
            pub.submit(j)
        await asyncio.wait_for(pub.wait_idle(), 5)
    finally:
        await pub.stop()


async def test_snapshots_are_stored_before_the_event_through_outages() -> None:
    store = FlakyStore(failures=2)
    bus = FlakyBus(store, failures=2)
    pub = EvidencePublisher(store=store, bus=bus, producer="detector", retry=FAST)  # type: ignore[arg-type]
    retries = REGISTRY.get_sample_value("bk_detector_evidence_retries_total", {"step": "store"}) or 0
    await deliver(pub, job())
    [(topic, event)] = bus.events
    assert topic == "detections.v1"
    raw = "t1/evidence/2026/09/01/c1/v1-raw.jpg"
    annotated = "t1/evidence/2026/09/01/c1/v1-annotated.jpg"
    assert store.log == [f"put {raw}", f"put {annotated}", "publish 1"]
    assert event.raw_snapshot_key == raw and event.annotated_snapshot_key == annotated
    assert store.objects[raw] == job().jpeg
    assert store.objects[annotated][:2] == b"\xff\xd8" and store.objects[annotated] != store.objects[raw]
    assert event.meta.tenant_id == "t1" and event.meta.key == "c1" and event.meta.producer == "detector"
    assert event.phase == ViolationPhase.VIOLATION_PHASE_STARTED and event.violation_type == "rodent"
    assert (event.site_id, event.zone, event.track_id, event.model_version) == ("s1", "cooking", 4, "m-1")
    assert event.started_at.ToDatetime(tzinfo=UTC) == T0 and event.observations == 3
    assert REGISTRY.get_sample_value("bk_detector_evidence_retries_total", {"step": "store"}) == retries + 2


async def test_retries_reuse_the_event_id_and_order_holds_per_camera() -> None:
    store = FlakyStore()
    bus = FlakyBus(store, failures=1)
    pub = EvidencePublisher(store=store, bus=bus, producer="d", retry=FAST)  # type: ignore[arg-type]
    first, ended = job(), job(Phase.ENDED)
    await deliver(pub, first, ended)
    assert [e.meta.event_id for _, e in bus.events] == [first.event_id, ended.event_id]
    assert [e.phase for _, e in bus.events] == [1, 3]
    assert bus.events[1][1].ended_at.ToDatetime(tzinfo=UTC) == T0
    assert bus.events[1][1].raw_snapshot_key == ""  # only STARTED carries (and guarantees) snapshots


async def test_a_store_that_stays_down_drops_loudly_and_publishes_nothing(caplog) -> None:  # type: ignore[no-untyped-def]
    store = FlakyStore(failures=100)
    bus = FlakyBus(store)
    pub = EvidencePublisher(store=store, bus=bus, producer="d", retry=FAST)  # type: ignore[arg-type]
    labels = {"tenant": "t1", "reason": "store_failed"}
    before = REGISTRY.get_sample_value("bk_detector_evidence_dropped_total", labels) or 0
    await deliver(pub, job())
    assert bus.events == []  # never an event without its snapshots
    assert REGISTRY.get_sample_value("bk_detector_evidence_dropped_total", labels) == before + 1
    assert any("dropped" in r.message and getattr(r, "violation_id", "") == "v1" for r in caplog.records)


async def test_a_full_queue_drops_with_a_metric() -> None:
    store = FlakyStore()
    pub = EvidencePublisher(
        store=store, bus=FlakyBus(store), producer="d", workers=1, max_pending=2, retry=FAST
    )  # type: ignore[arg-type]
    labels = {"tenant": "t1", "reason": "queue_full"}
    before = REGISTRY.get_sample_value("bk_detector_evidence_dropped_total", labels) or 0
    accepted = [pub.submit(job(vid=f"v{i}")) for i in range(3)]  # workers not started: nothing drains
    assert accepted == [True, True, False]
    assert REGISTRY.get_sample_value("bk_detector_evidence_dropped_total", labels) == before + 1
