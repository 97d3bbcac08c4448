"""The detector end to end in-process: a real grpc.aio server on loopback, a client streaming JPEG
frames, the in-process bus and a local object store. The model is scripted by frame colour."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import httpx
import pytest

from bk_detector.service import DetectorService, create_service
from bk_detector.settings import DetectorSettings
from bk_detector.testing import FakeDetection, ScriptedModel, by_colour, solid_jpeg
from bkcore.auth import Principal, Role
from bkcore.bus.base import Delivery
from bkcore.bus.inproc import InProcessBus
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.settings import CoreSettings
from bkcore.testing.tokens import new_token_issuer
from bkproto.detector.v1 import detector_pb2 as pb
from bkproto.detector.v1 import detector_pb2_grpc as pb_grpc
from bkproto.events.v1.detections_pb2 import ViolationDetected, ViolationPhase

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
RED, GREY = (200, 30, 30), (128, 128, 128)
HATLESS = FakeDetection(
    "person", 0.9, (0.1, 0.1, 0.3, 0.9), {"chef_hat": 0.1, "mask": 0.9, "uniform": 0.9, "gloves": 0.9}
)
RAT = FakeDetection("rodent", 0.8, (0.6, 0.7, 0.7, 0.8))
SCENES = {RED: [HATLESS, RAT], GREY: []}


class Harness:
    def __init__(self, service: DetectorService, bus: InProcessBus, store: LocalObjectStore) -> None:
        self.service, self.bus, self.store = service, bus, store
        self.events: list[ViolationDetected] = []
        self._arrived = asyncio.Event()

    async def collect(self, delivery: Delivery) -> None:
        self.events.append(delivery.event)  # type: ignore[arg-type]
        self._arrived.set()

    async def wait_events(self, n: int) -> list[ViolationDetected]:
        async with asyncio.timeout(10):
            while len(self.events) < n:
                self._arrived.clear()
                await self._arrived.wait()
        return self.events


@pytest.fixture
async def harness(settings: DetectorSettings, tmp_path) -> AsyncIterator[Harness]:  # type: ignore[no-untyped-def]
    bus = InProcessBus()
    store = LocalObjectStore(tmp_path / "objects", "signing-secret", "http://127.0.0.1:8000")
    runtime = Runtime(settings=settings, bus=bus, store=store, tokens=new_token_issuer())
    h = Harness(create_service(runtime, settings, model=ScriptedModel(by_colour(SCENES))), bus, store)
    bus.subscribe("detections.v1", "test", h.collect)
    service = h.service
    await bus.start()
    await service.start()
    try:
        yield h
    finally:
        await service.stop()
        await bus.stop()


def frame(
    i: int,
    colour: tuple[int, int, int] | None = None,
    *,
    camera: str = "c1",
    jpeg: bytes | None = None,
    at: float | None = None,
) -> pb.Frame:
    f = pb.Frame(
        frame_id=f"{camera}-{i}",
        tenant_id="t1",
        site_id="s1",
        camera_id=camera,
        rules_version=1,
        jpeg=jpeg if jpeg is not None else solid_jpeg(colour or GREY),
    )
    f.captured_at.FromDatetime(T0 + timedelta(seconds=i if at is None else at))
    return f


PROFILE = pb.CameraProfile(
    tenant_id="t1", site_id="s1", camera_id="c1", zone="cooking", rules_version=1, timezone="Asia/Shanghai"
)
# Camera c2 masks the floor where the rat runs, and checks hats only.
MASKED = pb.CameraProfile(
    tenant_id="t1",
    site_id="s1",
    camera_id="c2",
    zone="storage",
    rules_version=1,
    masks=[pb.Polygon(xy=[0.5, 0.5, 1.0, 0.5, 1.0, 1.0, 0.5, 1.0])],
    rules=[
        pb.RuleConfig(violation_type="rodent", enabled=True),
        pb.RuleConfig(violation_type="no_chef_hat", enabled=False),
    ],
)


async def exchange(address: str, batches: list[pb.FrameBatch]) -> list[pb.DetectionBatch]:
    """One Detect stream, one batch at a time (so each answer is checked against its batch)."""
    async with grpc.aio.insecure_channel(address) as channel:
        call = pb_grpc.DetectorStub(channel).Detect()
        out = []
        for batch in batches:
            await call.write(batch)
            out.append(await asyncio.wait_for(call.read(), 10))
        await call.done_writing()
        assert await call.read() == grpc.aio.EOF
        return out


async def test_stream_raises_one_violation_per_problem_with_evidence(harness: Harness) -> None:
    bad = solid_jpeg(RED)
    batches = [
        pb.FrameBatch(
            batch_id="b0",
            profiles=[PROFILE, MASKED],
            frames=[
                frame(0, RED),
                frame(0, RED, camera="c2"),
                pb.Frame(frame_id="broken", tenant_id="t1", camera_id="c1", jpeg=bad[: len(bad) // 2]),
                pb.Frame(frame_id="nothing", tenant_id="t1", camera_id="c1", jpeg=b""),
                pb.Frame(frame_id="text", tenant_id="t1", camera_id="c1", jpeg=b"GET / HTTP/1.1"),
                frame(1, RED),
                frame(1, RED, camera="c2"),
            ],
        ),
        pb.FrameBatch(batch_id="b1", frames=[frame(2, RED), frame(2, RED, camera="c2"), frame(3, GREY)]),
        pb.FrameBatch(batch_id="b2", frames=[frame(4, RED), frame(5, GREY)]),  # a flicker of red
        pb.FrameBatch(batch_id="b3", frames=[frame(i, GREY) for i in range(6, 12)]),
    ]
    answers = await exchange(harness.service.grpc_address, batches)

    assert [a.batch_id for a in answers] == ["b0", "b1", "b2", "b3"]
    assert all(a.model_version == "test-1" for a in answers)
    b0 = {r.frame_id: r for r in answers[0].results}
    assert [r.frame_id for r in answers[0].results] == [f.frame_id for f in batches[0].frames]
    assert b0["broken"].error.startswith("truncated JPEG")
    assert b0["nothing"].error.startswith("empty")
    assert b0["text"].error.startswith("not an image")
    assert not b0["c1-0"].error and {d.label for d in b0["c1-0"].detections} == {"person", "rodent"}
    assert [d.label for d in b0["c2-0"].detections] == ["person"]  # the rat is under c2's mask
    rat_ids = {
        d.track_id
        for a in answers
        for r in a.results
        for d in r.detections
        if d.label == "rodent" and r.camera_id == "c1"
    }
    assert len(rat_ids) == 1 and 0 not in rat_ids
    # Third red frame: voted in. "violations" lists what is raised on the camera.
    c1_2 = next(r for r in answers[1].results if r.frame_id == "c1-2")
    assert sorted(c1_2.violations) == ["no_chef_hat", "rodent"]
    assert list(next(r for r in answers[1].results if r.frame_id == "c2-2").violations) == []
    assert list(answers[3].results[-1].violations) == []  # ended by t=11

    events = await harness.wait_events(4)
    await asyncio.sleep(0.2)  # nothing more may follow
    assert len(events) == 4
    started = [e for e in events if e.phase == ViolationPhase.VIOLATION_PHASE_STARTED]
    ended = [e for e in events if e.phase == ViolationPhase.VIOLATION_PHASE_ENDED]
    assert (
        sorted(e.violation_type for e in started)
        == sorted(e.violation_type for e in ended)
        == ["no_chef_hat", "rodent"]
    )
    assert {e.violation_id for e in started} == {e.violation_id for e in ended}
    for e in started:
        where = (e.meta.tenant_id, e.meta.key, e.camera_id, e.site_id, e.zone)
        assert where == ("t1", "c1", "c1", "s1", "cooking")
        assert e.started_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=2)
        assert e.raw_snapshot_key.startswith("t1/evidence/2026/09/01/c1/")
        assert e.raw_snapshot_key.endswith(f"{e.violation_id}-raw.jpg")
        assert e.annotated_snapshot_key.endswith(f"{e.violation_id}-annotated.jpg")
        raw = await harness.store.get(e.raw_snapshot_key)
        assert raw == frame(2, RED).jpeg
        assert (await harness.store.get(e.annotated_snapshot_key))[:2] == b"\xff\xd8"
    for e in ended:
        assert e.ended_at.ToDatetime(tzinfo=UTC) >= T0 + timedelta(seconds=9)


async def test_model_info_over_grpc_and_http(harness: Harness) -> None:
    async with grpc.aio.insecure_channel(harness.service.grpc_address) as channel:
        info = await pb_grpc.DetectorStub(channel).GetModelInfo(pb.ModelInfoRequest())
    assert (info.name, info.version, info.device, info.max_batch_size) == ("scripted", "test-1", "cpu", 8)
    assert "rodent" in info.labels
    transport = httpx.ASGITransport(app=harness.service.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://detector") as http:
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {"model": True, "grpc": True}
        assert (await http.get("/model")).status_code == 401  # anonymous: nothing about the model
        ops = harness.service.runtime.tokens.issue(
            Principal(subject="ops", tenant_id="t", role=Role.PLATFORM_ADMIN)
        )
        model = (await http.get("/model", headers={"Authorization": f"Bearer {ops}"})).json()
        assert model["version"] == "test-1" and model["max_batch_size"] == 8


async def test_readyz_is_503_before_start(settings: DetectorSettings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    runtime = Runtime(
        settings=settings,
        bus=InProcessBus(),
        tokens=new_token_issuer(),
        store=LocalObjectStore(tmp_path, "secret", "http://127.0.0.1"),
    )
    service = create_service(runtime, settings, model=ScriptedModel())
    transport = httpx.ASGITransport(app=service.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://detector") as http:
        assert (await http.get("/readyz")).status_code == 503


async def test_many_streams_share_the_batcher(harness: Harness) -> None:
    timed_before = _batch_seconds_count()

    async def one_gateway(g: int) -> list[pb.DetectionBatch]:
        batches = [
            pb.FrameBatch(
                batch_id=f"g{g}-{b}", frames=[frame(b * 4 + i, GREY, camera=f"g{g}c{i}") for i in range(4)]
            )
            for b in range(3)
        ]
        return await exchange(harness.service.grpc_address, batches)

    answers = await asyncio.gather(*(one_gateway(g) for g in range(4)))
    assert all(
        len(a) == 3 and all(len(b.results) == 4 and not any(r.error for r in b.results) for b in a)
        for a in answers
    )
    model: ScriptedModel = harness.service.model  # type: ignore[assignment]
    assert sum(model.batch_sizes) == 48 and max(model.batch_sizes) > 4  # frames of several streams met
    assert _batch_seconds_count() - timed_before == 12  # every FrameBatch's time in the server


def _batch_seconds_count() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("bk_detector_batch_seconds_count") or 0.0


async def test_same_camera_id_in_two_tenants_never_mixes(harness: Harness) -> None:
    def red(tenant: str, i: int) -> pb.Frame:
        f = frame(i, RED)
        f.tenant_id, f.frame_id = tenant, f"{tenant}-{i}"
        return f

    # Tenant a sees the problem three times, tenant b only twice (the same camera id "c1"): if their
    # state were shared, b would be raised as well.
    frames = [red("a", 0), red("b", 0), red("a", 1), red("b", 1), red("a", 2)]
    batches = [pb.FrameBatch(batch_id="x", frames=frames)]
    [answer] = await exchange(harness.service.grpc_address, batches)
    assert sorted(answer.results[4].violations) == ["no_chef_hat", "rodent"]
    assert list(answer.results[3].violations) == []
    events = await harness.wait_events(2)
    assert {e.meta.tenant_id for e in events} == {"a"}
    assert all(e.raw_snapshot_key.startswith("a/evidence/") for e in events)


async def test_oversized_messages_are_refused(settings: DetectorSettings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    small = settings.model_copy(update={"grpc_max_message_bytes": 64 * 1024})
    runtime = Runtime(
        settings=small,
        bus=InProcessBus(),
        tokens=new_token_issuer(),
        store=LocalObjectStore(tmp_path, "secret", "http://127.0.0.1"),
    )
    service = create_service(runtime, small, model=ScriptedModel())
    await service.start()
    try:
        batch = pb.FrameBatch(batch_id="big", frames=[frame(0, jpeg=b"\xff\xd8" + b"\0" * 100_000)])
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await exchange(service.grpc_address, [batch])
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        await service.stop()


async def test_pipelined_batches_are_judged_in_order(harness: Harness) -> None:
    # The gateway sends 6 batches without waiting; inference overlaps, but tracking and voting must
    # still see frames 0..11 in order, or the vote would flicker and raise twice.
    batches = [
        pb.FrameBatch(batch_id=f"p{b}", frames=[frame(2 * b, RED), frame(2 * b + 1, RED)]) for b in range(6)
    ]

    async def requests() -> AsyncIterator[pb.FrameBatch]:
        for batch in batches:
            yield batch

    async with grpc.aio.insecure_channel(harness.service.grpc_address) as channel:
        answers = [a async for a in pb_grpc.DetectorStub(channel).Detect(requests())]
    assert sorted(a.batch_id for a in answers) == [f"p{b}" for b in range(6)]
    by_id = {a.batch_id: a for a in answers}
    assert list(by_id["p0"].results[1].violations) == []  # 2 of the 3 frames needed
    assert all(sorted(by_id[f"p{b}"].results[0].violations) == ["no_chef_hat", "rodent"] for b in range(1, 6))
    events = await harness.wait_events(2)
    await asyncio.sleep(0.2)
    assert sorted(e.violation_type for e in events) == ["no_chef_hat", "rodent"]
    assert all(e.started_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=2) for e in events)


async def test_settings_follow_the_runtime_when_not_given(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BK_MAX_BATCH_SIZE", "3")
    monkeypatch.delenv("BK_GRPC_PORT", raising=False)
    core = CoreSettings(data_dir=tmp_path / "platform")
    runtime = Runtime(
        settings=core,
        bus=InProcessBus(),
        tokens=new_token_issuer(),
        store=LocalObjectStore(tmp_path, "secret", "http://127.0.0.1"),
    )
    service = create_service(runtime, model=ScriptedModel())
    assert service.settings.data_dir == tmp_path / "platform"  # shared fields from the runtime
    assert service.settings.max_batch_size == 3  # detector fields from BK_*
    assert service.settings.grpc_port == 0 and service.settings.service_name == "detector"
    await service.start()
    try:
        assert service.grpc_address.startswith("127.0.0.1:") and not service.grpc_address.endswith(":0")
    finally:
        await service.stop()


async def test_a_refused_profile_keeps_the_last_good_one_and_is_reported(harness: Harness) -> None:
    """An unknown rule in a newer profile: the detector says so in the answer and keeps judging the
    camera by its last good profile (c2: rat masked, hats off), never by the default (every rule on,
    no mask). A camera whose first profile is refused is judged by no rule until a good one comes."""
    bad_v2 = pb.CameraProfile()
    bad_v2.CopyFrom(MASKED)
    bad_v2.rules_version = 2
    bad_v2.rules.append(pb.RuleConfig(violation_type="no_hats", enabled=True))
    first_bad = pb.CameraProfile(
        tenant_id="t1",
        site_id="s1",
        camera_id="c3",
        zone="prep",
        rules_version=1,
        masks=[pb.Polygon(xy=[0.1, 0.1, 0.2, 0.2])],
    )
    good_v2 = pb.CameraProfile(tenant_id="t1", site_id="s1", camera_id="c3", zone="prep", rules_version=2)
    batches = [
        pb.FrameBatch(batch_id="good", profiles=[MASKED], frames=[frame(0, RED, camera="c2")]),
        pb.FrameBatch(
            batch_id="bad",
            profiles=[bad_v2, first_bad],
            frames=[frame(i, RED, camera=c) for i in range(1, 6) for c in ("c2", "c3")],
        ),
        pb.FrameBatch(
            batch_id="fixed", profiles=[good_v2], frames=[frame(i, RED, camera="c3") for i in range(6, 10)]
        ),
    ]
    answers = await exchange(harness.service.grpc_address, batches)

    assert list(answers[0].refused_profiles) == []
    refused = {(r.tenant_id, r.camera_id, r.rules_version): r.reason for r in answers[1].refused_profiles}
    assert set(refused) == {("t1", "c2", 2), ("t1", "c3", 1)}
    assert refused["t1", "c2", 2].startswith("rules[2].violation_type: unknown rule 'no_hats' (known: ")
    assert refused["t1", "c3", 1].startswith("masks[0].xy: a polygon needs at least 3 points")
    c2 = [r for r in answers[1].results if r.camera_id == "c2"]
    assert all([d.label for d in r.detections] == ["person"] for r in c2)  # the rat: still masked
    assert all(list(r.violations) == [] for r in c2)  # hats still off, rodent under the mask
    assert harness.service.pipeline is not None
    assert harness.service.pipeline.profile("t1", "c2").rules_version == 1
    c3 = [r for r in answers[1].results if r.camera_id == "c3"]
    assert all(list(r.violations) == [] for r in c3)  # no rule, not every rule
    assert list(answers[2].refused_profiles) == []  # the newer, good profile is accepted
    assert sorted(answers[2].results[-1].violations) == ["no_chef_hat", "rodent"]
