"""The shipped model behind the real gRPC service: a synthetic storage-room clip with a rat must
end as a ViolationDetected on the bus with both snapshots in the object store."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta

import grpc
from PIL import Image

from bk_detector.service import create_service
from bk_detector.settings import DetectorSettings
from bkcore.bus.base import Delivery
from bkcore.bus.inproc import InProcessBus
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing.tokens import new_token_issuer
from bkproto.detector.v1 import detector_pb2 as pb
from bkproto.detector.v1 import detector_pb2_grpc as pb_grpc
from bkproto.events.v1.detections_pb2 import ViolationDetected, ViolationPhase
from bksynth import demo_scenarios

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


def clip(fps: float = 2.0, start: float = 6.0, end: float = 20.0) -> list[pb.Frame]:
    scenario = next(s for s in demo_scenarios(0) if s.name == "storage-1")  # a rat runs 10 s..17 s
    frames = []
    for i in range(int((end - start) * fps)):
        t = start + i / fps
        arr, _ = scenario.render(t, 640, 360)
        out = io.BytesIO()
        Image.fromarray(arr).save(out, format="JPEG", quality=85)
        f = pb.Frame(
            frame_id=f"f{i}",
            tenant_id="city-1",
            site_id="school-7",
            camera_id="storage-cam",
            jpeg=out.getvalue(),
        )
        f.captured_at.FromDatetime(T0 + timedelta(seconds=t))
        frames.append(f)
    return frames


async def test_rodent_clip_raises_a_violation_with_evidence(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = DetectorSettings(
        data_dir=tmp_path,
        grpc_port=0,
        device="cpu",
        max_batch_size=8,
        max_wait_ms=5,
        vote_window=5,
        vote_min_observations=3,
        end_after_s=4,
    )
    bus = InProcessBus()
    store = LocalObjectStore(tmp_path / "objects", "signing-secret", "http://127.0.0.1:8000")
    events: list[ViolationDetected] = []
    rat_seen = asyncio.Event()

    async def collect(delivery: Delivery) -> None:
        events.append(delivery.event)  # type: ignore[arg-type]
        if events[-1].violation_type == "rodent":
            rat_seen.set()

    bus.subscribe("detections.v1", "test", collect)
    service = create_service(
        Runtime(settings=settings, bus=bus, store=store, tokens=new_token_issuer()), settings
    )  # no model given: loads the shipped weights
    frames = clip()
    await bus.start()
    await service.start()
    try:
        async with grpc.aio.insecure_channel(service.grpc_address) as channel:
            call = pb_grpc.DetectorStub(channel).Detect()
            rat_frames = 0
            for n in range(0, len(frames), 4):
                await call.write(pb.FrameBatch(batch_id=f"b{n}", frames=frames[n : n + 4]))
                answer = await asyncio.wait_for(call.read(), 60)
                assert not any(r.error for r in answer.results)
                rat_frames += sum(any(d.label == "rodent" for d in r.detections) for r in answer.results)
            await call.done_writing()
        assert rat_frames >= 5, "the model should see the rat in most of its 14 frames"
        await asyncio.wait_for(rat_seen.wait(), 10)
    finally:
        await service.stop()
        await bus.stop()
    started = [
        e
        for e in events
        if e.violation_type == "rodent" and e.phase == ViolationPhase.VIOLATION_PHASE_STARTED
    ]
    assert len(started) >= 1
    rat = started[0]
    assert (rat.meta.tenant_id, rat.camera_id, rat.site_id) == ("city-1", "storage-cam", "school-7")
    assert T0 + timedelta(seconds=10) <= rat.started_at.ToDatetime(tzinfo=UTC) <= T0 + timedelta(seconds=17)
    assert await store.exists(rat.raw_snapshot_key) and await store.exists(rat.annotated_snapshot_key)
    assert rat.model_version and rat.observations >= 3
