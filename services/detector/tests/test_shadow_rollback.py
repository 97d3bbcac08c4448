"""Shadow mode and rollback while frames stream: a candidate beside the live model reports the alarms
it would change and never holds a frame up; rollback returns to the previous model between two
batches and withdraws the version it leaves; every frame sent is answered (counted).

Scripted models (``bk_detector.testing``) decide what each model sees, so the alarms that change are
known exactly; the service, its gRPC stream, HTTP routes and the registry are the real ones."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import grpc
import httpx
import pytest
from prometheus_client import REGISTRY

from bk_detector.detections import Candidate
from bk_detector.model.artifact import SHIPPED
from bk_detector.profiles import default_profile
from bk_detector.registry import ModelRegistry, RegistryError, VersionNotFound
from bk_detector.service import DetectorService, create_service
from bk_detector.settings import DetectorSettings
from bk_detector.shadow import APPEARS, DISAPPEARS, Sampler, alarm_changes, frame_alarms
from bk_detector.testing import FakeDetection, ScriptedModel, solid_jpeg
from bkcore.auth import Principal, Role
from bkcore.bus.inproc import InProcessBus
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing.tokens import new_token_issuer
from bkproto.detector.v1 import detector_pb2 as pb
from bkproto.detector.v1 import detector_pb2_grpc as pb_grpc

TOKENS = new_token_issuer()
COOK = (0.1, 0.1, 0.4, 0.9)
FLOOR = (0.6, 0.8, 0.7, 0.9)


def _live(_img: object) -> list[FakeDetection]:  # a cook without a hat
    return [FakeDetection("person", 0.9, COOK, {"chef_hat": 0.1, "mask": 0.9, "uniform": 0.9, "gloves": 0.9})]


def _candidate(_img: object) -> list[FakeDetection]:  # the same cook, hat seen; and a rat
    return [
        FakeDetection("person", 0.9, COOK, {"chef_hat": 0.9, "mask": 0.9, "uniform": 0.9, "gloves": 0.9}),
        FakeDetection("rodent", 0.8, FLOOR),
    ]


def _model(script, version: str, delay_s: float = 0.0) -> ScriptedModel:  # type: ignore[no-untyped-def]
    m = ScriptedModel(script, delay_s=delay_s)
    m.version = version
    return m


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# -- the pure parts -----------------------------------------------------------------------------------


def test_alarm_changes_match_by_type_and_place() -> None:
    live = [Candidate("no_chef_hat", 1, 0.9, COOK), Candidate("rodent", 2, 0.7, FLOOR)]
    shadow = [Candidate("rodent", 1, 0.8, (0.61, 0.8, 0.71, 0.9)), Candidate("smoking", 2, 0.6, COOK)]
    got = {(c.violation_type, c.change) for c in alarm_changes(live, shadow)}
    assert got == {("smoking", APPEARS), ("no_chef_hat", DISAPPEARS)}  # the rat is the same rat
    assert alarm_changes(live, live) == []


def test_frame_alarms_go_through_the_cameras_rules() -> None:
    profile = default_profile("t", "cam")
    dets = [d for d in _live(None)]
    from bk_detector.detections import Detection

    found = frame_alarms(
        [Detection(d.label, d.score, d.box, d.attributes) for d in dets] * 2, profile, datetime.now(UTC), 0.5
    )
    assert [c.violation_type for c in found] == ["no_chef_hat", "no_chef_hat"]  # two cooks, two alarms


def test_the_sampler_takes_its_share_evenly() -> None:
    s = Sampler(0.25)
    assert [s.take() for _ in range(8)] == [False, False, False, True] * 2
    assert sum(Sampler(1.0).take() for _ in range(5)) == 5 and not any(Sampler(0.0).take() for _ in range(5))


# -- the service, streaming -----------------------------------------------------------------------------


async def _stream(service: DetectorService, stop: asyncio.Event, answers: list[pb.DetectionBatch]) -> int:
    """Stream frames from two cameras until ``stop``; returns how many were sent."""
    jpeg = solid_jpeg((120, 120, 120), (96, 64))
    sent = 0
    async with grpc.aio.insecure_channel(service.grpc_address) as channel:
        call = pb_grpc.DetectorStub(channel).Detect()

        async def read() -> None:
            async for answer in call:
                answers.append(answer)

        reader = asyncio.create_task(read())
        n = 0
        while not stop.is_set():
            frames = [
                pb.Frame(frame_id=f"{n}-{c}", tenant_id="t", camera_id=f"cam{c}", jpeg=jpeg) for c in range(2)
            ]
            await call.write(pb.FrameBatch(batch_id=f"b{n}", frames=frames))
            sent += len(frames)
            n += 1
            await asyncio.sleep(0.005)
        await call.done_writing()
        await asyncio.wait_for(reader, 60)
    return sent


async def _until(check, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def _artefact(tmp: Path, version: str) -> Path:
    out = tmp / f"art-{version}"
    shutil.copytree(SHIPPED, out)
    meta = json.loads((out / "model.json").read_text())
    meta["version"] = version
    (out / "model.json").write_text(json.dumps(meta))
    return out


async def test_shadow_reports_what_would_change_and_rollback_drops_no_frame(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects", "signing-secret", "http://127.0.0.1:8000")
    registry = ModelRegistry(store, tmp_path / "cache")
    for v in ("1.0", "2.0"):  # the registry's history: 2.0 is the latest
        await registry.publish(_artefact(tmp_path, v))
    settings = DetectorSettings(
        data_dir=tmp_path,
        grpc_port=0,
        device="cpu",
        max_batch_size=4,
        max_wait_ms=2,
        max_inflight_batches=3,
        shadow_max_pending=2,
        operator_tenant="t",  # the admin below is the operator's
    )
    bus = InProcessBus()
    live, candidate = _model(_live, "1.0"), _model(_candidate, "2.0")
    service = create_service(
        Runtime(settings=settings, bus=bus, store=store, tokens=TOKENS), settings, model=live
    )
    await bus.start()
    await service.start()
    admin = {
        "Authorization": "Bearer "
        + TOKENS.issue(Principal(subject="ops", tenant_id="t", role=Role.PLATFORM_ADMIN))
    }
    cook = {
        "Authorization": "Bearer " + TOKENS.issue(Principal(subject="cook", tenant_id="t", role=Role.STAFF))
    }
    before = {
        c: _metric("bk_detector_shadow_alarm_changes_total", violation_type=t, change=c)
        for t, c in (("rodent", APPEARS), ("no_chef_hat", DISAPPEARS))
    }
    stop, answers = asyncio.Event(), []
    streaming = asyncio.create_task(_stream(service, stop, answers))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app), base_url="http://detector")
    try:
        async with http:
            assert (await http.get("/model/shadow", headers=admin)).status_code == 404
            assert (await http.post("/model/rollback", headers=cook)).status_code == 403
            r = await http.post("/model/rollback", headers=admin)
            assert r.status_code == 409 and "nothing to roll back" in r.json()["detail"]
            await _until(lambda: len(answers) >= 5)

            # The candidate in the shadow: half the frames, its own worker.
            await service.start_shadow("2.0", model=candidate, sample_rate=0.5)
            await _until(lambda: service.shadow is not None and service.shadow.counts["compared"] >= 10)
            report = (await http.get("/model/shadow", headers=admin)).json()
            frames = report["frames"]
            assert report["version"] == "2.0" and report["live_version"] == "1.0"
            assert frames["compared"] >= 10 and frames["failed"] == 0
            assert frames["compared"] + frames["busy"] <= frames["offered"] // 2 + 1  # its share, no more
            # Every compared frame: the hat alarm would go, a rodent alarm would come.
            assert report["changes"]["no_chef_hat"][DISAPPEARS] == frames["changed"] == frames["compared"]
            assert report["changes"]["rodent"][APPEARS] == frames["compared"]
            assert report["recent"][-1]["violation_type"] in ("no_chef_hat", "rodent")
            assert (
                _metric("bk_detector_shadow_alarm_changes_total", violation_type="rodent", change=APPEARS)
                - before[APPEARS]
                >= frames["compared"]
            )
            stopped = (await http.delete("/model/shadow", headers=admin)).json()["stopped"]
            assert stopped["version"] == "2.0" and service.pipeline.shadow is None  # type: ignore[union-attr]

            # Promote, then roll back over HTTP while frames keep coming.
            await service.activate("2.0", model=candidate)
            seen = len(answers)
            await _until(lambda: len(answers) >= seen + 10)
            r = await http.post("/model/rollback", headers=admin)
            assert r.status_code == 200, r.text
            assert (r.json()["from"], r.json()["to"]) == ("2.0", "1.0")
            assert r.json()["registry"] == "withdrew 2.0; latest is 1.0"
            assert await registry.latest(settings.model_name) == "1.0"
            assert (await http.post("/model/rollback", headers=admin)).status_code == 409  # not back to 2.0
            seen = len(answers)
            await _until(lambda: len(answers) >= seen + 10)
    finally:
        stop.set()
        sent = await asyncio.wait_for(streaming, 60)
        await service.stop()
        await bus.stop()
    results = [res for a in answers for res in a.results]
    assert len(results) == sent and not any(res.error for res in results)  # none lost, none failed
    versions = [a.model_version for a in answers]
    first_new, back = versions.index("2.0"), len(versions) - versions[::-1].index("2.0")
    assert set(versions[:first_new]) == {"1.0"} and set(versions[first_new:back]) == {"2.0"}
    assert set(versions[back:]) == {"1.0"} and len(versions) - back >= 10
    assert [a.batch_id for a in answers] == [f"b{i}" for i in range(len(answers))]


async def test_a_slow_shadow_skips_frames_and_never_slows_the_live_path(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects", "signing-secret", "http://127.0.0.1:8000")
    settings = DetectorSettings(
        data_dir=tmp_path, grpc_port=0, device="cpu", max_batch_size=4, max_wait_ms=2, shadow_max_pending=1
    )
    bus = InProcessBus()
    service = create_service(
        Runtime(settings=settings, bus=bus, store=store, tokens=TOKENS), settings, model=_model(_live, "1.0")
    )
    await bus.start()
    await service.start()
    stop, answers = asyncio.Event(), []
    streaming = asyncio.create_task(_stream(service, stop, answers))
    try:
        runner = await service.start_shadow(
            "9.9", model=_model(_candidate, "9.9", delay_s=0.5), sample_rate=1.0
        )
        await _until(lambda: runner.counts["busy"] >= 20 and len(answers) >= 40)  # it cannot keep up ...
    finally:
        stop.set()
        sent = await asyncio.wait_for(streaming, 60)
        await service.stop()
        await bus.stop()
    results = [res for a in answers for res in a.results]
    assert len(results) == sent and not any(
        res.error for res in results
    )  # ... and no live frame waited for it


async def test_registry_rollback_walks_back_through_what_was_latest(tmp_path: Path) -> None:
    registry = ModelRegistry(LocalObjectStore(tmp_path / "objects", "s", "http://x"), tmp_path / "cache")
    with pytest.raises(VersionNotFound):
        await registry.rollback("kitchen-v1")
    for v in ("1.0", "2.0", "3.0"):
        await registry.publish(_artefact(tmp_path, v))
    assert await registry.rollback("kitchen-v1") == ("3.0", "2.0")
    assert await registry.rollback("kitchen-v1") == ("2.0", "1.0")
    with pytest.raises(RegistryError, match="no earlier version"):
        await registry.rollback("kitchen-v1")
    assert await registry.latest("kitchen-v1") == "1.0"
    await registry.publish(_artefact(tmp_path, "4.0"))  # a new candidate, promoted
    assert await registry.latest("kitchen-v1") == "4.0"
    assert await registry.rollback("kitchen-v1") == ("4.0", "1.0")  # never back to a withdrawn one


async def test_a_pod_never_rolls_back_onto_a_withdrawn_version(tmp_path: Path) -> None:
    """`brightkitchen detector rollback` withdrew 2.0 and switched the pod to 1.0: the pod's own
    "previous model" is then 2.0, and rolling back onto it is refused."""
    store = LocalObjectStore(tmp_path / "objects", "signing-secret", "http://127.0.0.1:8000")
    registry = ModelRegistry(store, tmp_path / "cache")
    for v in ("1.0", "2.0"):
        await registry.publish(_artefact(tmp_path, v))
    settings = DetectorSettings(data_dir=tmp_path, grpc_port=0, device="cpu", max_batch_size=4, max_wait_ms=2)
    bus = InProcessBus()
    service = create_service(
        Runtime(settings=settings, bus=bus, store=store, tokens=TOKENS), settings, model=_model(_live, "1.0")
    )
    await bus.start()
    await service.start()
    try:
        await service.activate("2.0", model=_model(_candidate, "2.0"))
        assert await registry.rollback(settings.model_name) == ("2.0", "1.0")
        await service.activate("1.0", model=_model(_live, "1.0"))
        with pytest.raises(RegistryError, match=r"2\.0 was withdrawn"):
            await service.rollback()
        assert service.model is not None and service.model.version == "1.0"
    finally:
        await service.stop()
        await bus.stop()
