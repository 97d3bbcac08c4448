"""Model registry: publish the shipped artefact to an object store, load it from there, and switch
versions while a gRPC client streams frames: no frame lost, later answers name the new version."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import grpc
import httpx
import pytest

from bk_detector.model.artifact import SHIPPED
from bk_detector.registry import ModelRegistry, RegistryError, VersionNotFound, resolve_artefact
from bk_detector.service import create_service
from bk_detector.settings import DetectorSettings
from bk_detector.testing import solid_jpeg
from bkcore.auth import Principal, Role
from bkcore.bus.inproc import InProcessBus
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing.tokens import new_token_issuer
from bkproto.detector.v1 import detector_pb2 as pb
from bkproto.detector.v1 import detector_pb2_grpc as pb_grpc

TOKENS = new_token_issuer()


SHIPPED_VERSION = json.loads((SHIPPED / "model.json").read_text())["version"]


def store_at(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", "signing-secret", "http://127.0.0.1:8000")


def artefact_copy(tmp_path: Path, version: str) -> Path:
    out = tmp_path / f"art-{version}"
    shutil.copytree(SHIPPED, out)
    meta = json.loads((out / "model.json").read_text())
    meta["version"] = version
    (out / "model.json").write_text(json.dumps(meta))
    return out


async def test_publish_list_fetch_and_immutability(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = store_at(tmp_path)
    reg = ModelRegistry(store, tmp_path / "cache")
    assert await reg.versions("kitchen-v1") == []
    assert await resolve_artefact(reg, "kitchen-v1", "", SHIPPED) == SHIPPED  # empty store: shipped
    v = await reg.publish(SHIPPED)
    assert (v.name, v.version) == ("kitchen-v1", SHIPPED_VERSION)
    for f in (
        "weights.pt",
        "model.json",
        "labels.json",
        "thresholds.json",
        "metrics.json",
        "MODEL_CARD.md",
        "manifest.json",
    ):
        assert await store.exists(f"models/kitchen-v1/{SHIPPED_VERSION}/{f}"), f
    labels = json.loads(await store.get(f"models/kitchen-v1/{SHIPPED_VERSION}/labels.json"))
    assert "cigarette" in labels["labels"]
    assert (await reg.publish(SHIPPED)).published_at == v.published_at  # idempotent
    await reg.publish(artefact_copy(tmp_path, "1.9.0"))
    assert [x.version for x in await reg.versions("kitchen-v1")] == [SHIPPED_VERSION, "1.9.0"]
    assert await reg.latest("kitchen-v1") == "1.9.0"
    path = await reg.fetch("kitchen-v1", SHIPPED_VERSION)
    assert (path / "weights.pt").read_bytes() == (SHIPPED / "weights.pt").read_bytes()
    # Same version, other weights: refused (versions are immutable).
    other = artefact_copy(tmp_path, SHIPPED_VERSION)
    (other / "weights.pt").write_bytes(b"not the same weights")
    with pytest.raises(RegistryError, match="immutable"):
        await reg.publish(other)
    with pytest.raises(VersionNotFound):
        await reg.fetch("kitchen-v1", "9.9.9")
    # A corrupted object in the store is caught by the manifest's sha256, not loaded.
    await store.put("models/kitchen-v1/1.9.0/weights.pt", b"corrupt")
    shutil.rmtree(tmp_path / "cache")
    with pytest.raises(RegistryError, match="sha256"):
        await reg.fetch("kitchen-v1", "1.9.0")


async def test_service_loads_the_configured_version_from_the_store(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = store_at(tmp_path)
    reg = ModelRegistry(store, tmp_path / "cache")
    await reg.publish(SHIPPED)
    await reg.publish(artefact_copy(tmp_path, "2.0.0"))
    for configured, expected in (("", "2.0.0"), (SHIPPED_VERSION, SHIPPED_VERSION)):
        settings = DetectorSettings(
            data_dir=tmp_path / configured.replace(".", "_"),
            grpc_port=0,
            device="cpu",
            model_version=configured,
        )
        service = create_service(
            Runtime(settings=settings, bus=InProcessBus(), store=store, tokens=TOKENS), settings
        )
        await service.start()
        try:
            assert service.model is not None and service.model.version == expected
        finally:
            await service.stop()
    settings = DetectorSettings(data_dir=tmp_path / "x", grpc_port=0, device="cpu", model_version="3.0.0")
    runtime = Runtime(settings=settings, bus=InProcessBus(), store=store, tokens=TOKENS)
    service = create_service(runtime, settings)
    with pytest.raises(VersionNotFound):
        await service.start()
    await service.stop()


async def test_switch_versions_while_streaming_loses_no_frame(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = store_at(tmp_path)
    reg = ModelRegistry(store, tmp_path / "cache")
    await reg.publish(SHIPPED)
    await reg.publish(artefact_copy(tmp_path, "2.0.0"))
    settings = DetectorSettings(
        data_dir=tmp_path,
        grpc_port=0,
        device="cpu",
        model_version=SHIPPED_VERSION,
        max_batch_size=4,
        max_wait_ms=2,
        max_inflight_batches=3,
        operator_tenant="t",  # the admin below is the operator's
    )
    bus = InProcessBus()
    service = create_service(Runtime(settings=settings, bus=bus, store=store, tokens=TOKENS), settings)
    await bus.start()
    await service.start()
    jpeg = solid_jpeg((120, 120, 120), (96, 64))
    admin = TOKENS.issue(Principal(subject="ops", tenant_id="t", role=Role.PLATFORM_ADMIN))
    staff = TOKENS.issue(Principal(subject="cook", tenant_id="t", role=Role.STAFF))
    try:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app), base_url="http://detector")
        async with http, grpc.aio.insecure_channel(service.grpc_address) as channel:
            r = await http.post(
                "/model/activate", json={"version": "2.0.0"}, headers={"Authorization": f"Bearer {staff}"}
            )
            assert r.status_code == 403
            r = await http.post(
                "/model/activate", json={"version": "7.0.0"}, headers={"Authorization": f"Bearer {admin}"}
            )
            assert r.status_code == 404
            call = pb_grpc.DetectorStub(channel).Detect()
            answers: list[pb.DetectionBatch] = []
            switched_after = asyncio.Event()
            sent = 0

            async def write() -> None:
                nonlocal sent
                n = 0
                # Stream continuously: before, during and well after the switch.
                while not switched_after.is_set() or n < sent_at_switch + 12:
                    frames = [
                        pb.Frame(frame_id=f"{n}-{c}", tenant_id="t", camera_id=f"cam{c}", jpeg=jpeg)
                        for c in range(2)
                    ]
                    await call.write(pb.FrameBatch(batch_id=f"b{n}", frames=frames))
                    sent += len(frames)
                    n += 1
                    await asyncio.sleep(0.01)
                await call.done_writing()

            five = asyncio.Event()

            async def read() -> None:
                async for answer in call:
                    answers.append(answer)
                    if len(answers) >= 5:
                        five.set()

            sent_at_switch = 10**9
            writer, reader = asyncio.create_task(write()), asyncio.create_task(read())
            await asyncio.wait_for(five.wait(), 60)
            r = await http.post(
                "/model/activate", json={"version": "2.0.0"}, headers={"Authorization": f"Bearer {admin}"}
            )
            assert r.status_code == 200, r.text
            assert r.json()["version"] == "2.0.0"
            sent_at_switch = sent // 2
            switched_after.set()
            await asyncio.wait_for(asyncio.gather(writer, reader), 120)
            versions = [a.model_version for a in answers]
            results = [res for a in answers for res in a.results]
            assert len(results) == sent and not any(res.error for res in results)  # none lost, none failed
            assert [a.batch_id for a in answers] == [f"b{i}" for i in range(len(answers))]
            assert versions[0] == SHIPPED_VERSION and versions[-1] == "2.0.0"
            first_new = versions.index("2.0.0")
            assert all(v == "2.0.0" for v in versions[first_new:])  # never back to the old model
            assert len(versions) - first_new >= 12
            info = await pb_grpc.DetectorStub(channel).GetModelInfo(pb.ModelInfoRequest())
            assert info.version == "2.0.0"
            r = await http.get("/model/versions", headers={"Authorization": f"Bearer {admin}"})
            assert [v["version"] for v in r.json()["versions"]] == [SHIPPED_VERSION, "2.0.0"]
            assert r.json()["active"] == "2.0.0"
    finally:
        await service.stop()
        await bus.stop()


async def test_device_decode_path_on_cpu_rejects_bad_frames_alone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The GPU decode path (header checks on the CPU, batched torchvision decode on the model's
    device) runs on the CPU too: bad frames get clear errors, the good ones detections."""
    settings = DetectorSettings(
        data_dir=tmp_path, grpc_port=0, device="cpu", device_decode=True, max_batch_size=8, max_wait_ms=2
    )
    bus = InProcessBus()
    service = create_service(
        Runtime(settings=settings, bus=bus, store=store_at(tmp_path), tokens=TOKENS), settings
    )
    await bus.start()
    await service.start()
    good = solid_jpeg((90, 90, 90), (160, 90))
    corrupt_body = good[:200] + bytes(len(good) - 202) + good[-2:]  # valid header, garbage scan data
    try:
        assert service.pipeline is not None and service.pipeline.device_decode
        async with grpc.aio.insecure_channel(service.grpc_address) as channel:
            call = pb_grpc.DetectorStub(channel).Detect()
            frames = [
                pb.Frame(frame_id=str(i), tenant_id="t", camera_id="c", jpeg=data)
                for i, data in enumerate([good, b"not a jpeg", good[:-40], corrupt_body, b"", good])
            ]
            await call.write(pb.FrameBatch(batch_id="b", frames=frames))
            answer = await asyncio.wait_for(call.read(), 60)
            await call.done_writing()
        errors = [r.error for r in answer.results]
        assert errors[0] == "" and errors[5] == ""
        assert "not an image" in errors[1] and "truncated" in errors[2] and errors[4].startswith("empty")
        assert answer.model_version == SHIPPED_VERSION
    finally:
        await service.stop()
        await bus.stop()
