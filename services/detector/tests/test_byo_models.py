"""Bring-your-own ONNX models, end to end, on ONNX files these tests build themselves
(``bk_detector.testing_byo``): the check refuses bad ones by name, the registry publishes good ones,
the detector answers the boxes drawn in a frame in every layout and batching mode, and a published
model activated on a running detector turns real JPEG frames sent over gRPC into a violation."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from PIL import Image

from bk_detector.detections import Detection
from bk_detector.model import byo
from bk_detector.model.artifact import ATTRIBUTES, LABELS, SHIPPED
from bk_detector.modelapi import load_model
from bk_detector.registry import ModelRefused, ModelRegistry
from bk_detector.service import create_service
from bk_detector.settings import DetectorSettings
from bk_detector.testing_byo import CLASSES, SCENE_BOXES, artefact, build_onnx, label_map, scene
from bkcore.auth import Principal, Role
from bkcore.bus.base import Delivery
from bkcore.bus.inproc import InProcessBus
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing.tokens import new_token_issuer
from bkproto.detector.v1 import detector_pb2 as pb
from bkproto.detector.v1 import detector_pb2_grpc as pb_grpc
from bkproto.events.v1.detections_pb2 import ViolationDetected, ViolationPhase

pytestmark = pytest.mark.timeout(300)
TOKENS = new_token_issuer()
T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each kind of artefact once per module (an export takes about a second)."""
    root = tmp_path_factory.mktemp("byo")
    return {
        "v8": artefact(root / "v8", label_map()),
        "v8-batch1": artefact(root / "v8-batch1", label_map(), dynamic_batch=False),
        "v5": artefact(root / "v5", label_map(layout="yolov5"), layout="yolov5"),
        "3-classes": artefact(root / "3-classes", label_map(), classes=CLASSES[:3]),
    }


def variant(src: Path, dst: Path, *, onnx: bytes | None = None, **lm_changes: object) -> Path:
    shutil.copytree(src, dst)
    if onnx is not None:
        (dst / "model.onnx").write_bytes(onnx)
    lm = json.loads((dst / "label_map.json").read_text())
    (dst / "label_map.json").write_text(json.dumps({**lm, **lm_changes}))
    return dst


def expected(name: str, width: int = 640, height: int = 360) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = SCENE_BOXES[name]
    return (x1 / width, y1 / height, x2 / width, y2 / height)


def assert_scene(found: list[Detection], *, mirrored: bool = False, tol: float = 1e-4) -> None:
    """What the scene holds: the worker with a bare head (P(chef hat) = 1 - 0.8) and the rat; the
    knife is a class the map ignores, and the near-duplicate boxes are gone after NMS."""
    assert [d.label for d in found] == ["person", "rodent"], found
    person, rat = found
    for det, name in ((person, "worker"), (rat, "rat")):
        want = expected(name)
        if mirrored:
            want = (1 - want[2], want[1], 1 - want[0], want[3])
        assert np.allclose(det.box, want, atol=tol), (det.box, want)
    assert (person.score, rat.score) == (0.9, 0.85)
    assert person.attributes == {"chef_hat": pytest.approx(0.2, abs=1e-4)} and rat.attributes == {}


def test_check_accepts_a_good_model_and_refuses_bad_ones_by_name(models, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for kind in ("v8", "v8-batch1", "v5"):
        lm, problems = byo.check(models[kind])
        assert problems == [] and lm is not None, kind
    _, problems = byo.check(models["3-classes"])  # 3 classes in the file, 4 in its map
    assert problems == [
        "model: output shape [1, 7, 14] does not match 4 classes in label_map (yolov8 "
        "expects [1, 8, N]; an export with NMS built in is not supported)"
    ]
    _, problems = byo.check(variant(models["v8"], tmp_path / "v5-map", layout="yolov5"))
    assert problems[0].startswith(
        "model: output shape [1, 8, 16] does not match 4 classes in label_map (yolov5 expects [1, N, 9]"
    )
    _, problems = byo.check(variant(models["v8"], tmp_path / "garbage", onnx=b"\x08\x01not a model"))
    assert len(problems) == 1 and problems[0].startswith(
        "model: cannot open model.onnx (not a valid ONNX model ("
    )
    _, problems = byo.check(variant(models["v8"], tmp_path / "size", input_width=256, input_height=256))
    assert problems == [
        "model: input 'images' is [batch, 3, 320, 320], but label_map says 256x256 "
        "(input_width x input_height)"
    ]
    bad = [{"name": "worker", "concept": "person"}, {"name": "hat", "concept": "hat"}]
    _, problems = byo.check(variant(models["v8"], tmp_path / "bad-map", classes=bad))
    assert problems[0].startswith("label_map: class 1 'hat' maps to unknown concept 'hat' (known: person,")
    _, problems = byo.check(
        variant(
            models["v8"],
            tmp_path / "no-rat",
            rules=["no_chef_hat", "rodent", "smoking"],
            classes=[
                {"name": "worker", "concept": "person"},
                "no_chef_hat",
                {"name": "rat", "concept": None},
                {"name": "knife", "concept": None},
            ],
        )
    )
    assert problems[0].startswith(
        "label_map does not cover rules: rodent, smoking (rodent needs rodent, "
        "smoking needs cigarette: map a class to each, or list only the rules"
    )
    (tmp_path / "no-map").mkdir()
    shutil.copy(models["v8"] / "model.onnx", tmp_path / "no-map")
    assert byo.check(tmp_path / "no-map")[1] == ["label_map: label_map.json is missing"]


async def test_registry_refuses_a_bad_model_and_publishes_a_good_one(models, tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = LocalObjectStore(tmp_path / "objects", "signing-secret", "http://127.0.0.1:8000")
    reg = ModelRegistry(store, tmp_path / "cache")
    with pytest.raises(ModelRefused) as refused:
        await reg.publish(models["3-classes"])
    assert refused.value.problems[0].startswith("model: output shape [1, 7, 14] does not match 4 classes")
    assert await reg.versions("acme-kitchen") == [] and not await store.exists(
        "models/acme-kitchen/index.json"
    )
    v = await reg.publish(models["v8"])
    assert (v.name, v.version, v.manifest["runtime"]) == ("acme-kitchen", "1.0.0", "onnx")
    assert set(v.manifest["files"]) == {
        "model.onnx",
        "label_map.json",
        "model.json",
        "labels.json",
        "thresholds.json",
        "metrics.json",
    }
    assert (await reg.publish(models["v8"])).published_at == v.published_at  # idempotent
    with pytest.raises(Exception, match="immutable"):  # same version, another label map
        await reg.publish(variant(models["v8"], tmp_path / "other", score_threshold=0.5))
    path = await reg.fetch("acme-kitchen", "1.0.0")
    meta = json.loads((path / "model.json").read_text())
    assert meta["labels"] == ["person", "rodent"] and meta["attributes"] == ["chef_hat"]
    assert meta["label_map"]["classes"][3] == {"name": "knife", "concept": None, "threshold": 0.25}
    model = load_model(path, "cpu", None)
    assert isinstance(model, byo.OnnxDetector) and (model.name, model.version) == ("acme-kitchen", "1.0.0")
    [found] = model.predict([scene()])
    assert_scene(found)


def test_known_boxes_through_every_layout_and_batching_mode(models) -> None:  # type: ignore[no-untyped-def]
    frames = [scene(), scene()[:, ::-1].copy(), np.asarray(Image.fromarray(scene()).resize((1280, 720)))]
    for kind in ("v8", "v8-batch1", "v5"):
        model = byo.OnnxDetector.load(models[kind])
        assert model.max_batch == (1 if kind == "v8-batch1" else 64), kind  # fixed batch: one per run
        assert model.warm_up() == [1]
        first, mirrored, large = model.predict(frames)
        assert_scene(first)
        assert_scene(mirrored, mirrored=True)
        assert_scene(large, tol=0.004)  # resized frame: edges blur by a pixel
        assert model.predict([np.full((90, 160, 3), 128, np.uint8)]) == [[]]  # nothing drawn, nothing found


def test_our_own_kitchennet_export_serves_like_the_shipped_runtime(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bk_detector.model.export import export_onnx
    from bk_detector.model.runtime import ModelRuntime
    from bksynth import demo_scenarios

    meta = json.loads((SHIPPED / "model.json").read_text())
    export_onnx(tmp_path / "model.onnx", SHIPPED)
    (tmp_path / "label_map.json").write_text(
        json.dumps(
            {
                "layout": "kitchennet",
                "input_width": meta["input_width"],
                "input_height": meta["input_height"],
                "classes": [
                    {"name": lb, "concept": lb, "threshold": meta["thresholds"][lb]} for lb in LABELS
                ],
                "attributes": ATTRIBUTES,
            }
        )
    )
    lm, problems = byo.check(tmp_path)
    assert problems == [] and lm is not None and lm.resize == "stretch"
    onnx_model, shipped = byo.OnnxDetector.load(tmp_path), ModelRuntime.load(None, device="cpu")
    storage = next(s for s in demo_scenarios(0) if s.name == "storage-1")  # a rat runs 10 s..17 s
    prep = next(s for s in demo_scenarios(0) if s.name.startswith("prep"))
    frames = [storage.render(12.0, 640, 360)[0], prep.render(8.0, 640, 360)[0]]
    total = 0
    for ours, theirs in zip(onnx_model.predict(frames), shipped.predict(frames), strict=True):
        # Same network; only the resize differs (PIL here, torch there): same objects, boxes within 1%.
        assert [d.label for d in ours] == [d.label for d in theirs]
        for a, b in zip(ours, theirs, strict=True):
            assert np.allclose(a.box, b.box, atol=0.01) and abs(a.score - b.score) < 0.02
            assert a.attributes.keys() == b.attributes.keys()
            assert all(abs(a.attributes[k] - b.attributes[k]) < 0.05 for k in a.attributes)
        total += len(ours)
    assert total >= 3


def jpeg(img: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(img).save(out, format="JPEG", quality=90)
    return out.getvalue()


async def test_publish_activate_and_stream_real_frames_to_a_violation(models, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = DetectorSettings(
        data_dir=tmp_path,
        grpc_port=0,
        device="cpu",
        model_name="acme-kitchen",
        max_batch_size=8,
        max_wait_ms=5,
        vote_window=5,
        vote_min_observations=3,
        end_after_s=4,
        operator_tenant="t",  # the admin below is the operator's
    )
    store = LocalObjectStore(tmp_path / "objects", "signing-secret", "http://127.0.0.1:8000")
    bus = InProcessBus()
    events: list[ViolationDetected] = []
    hatless = asyncio.Event()

    async def collect(delivery: Delivery) -> None:
        events.append(delivery.event)  # type: ignore[arg-type]
        if events[-1].violation_type == "no_chef_hat":
            hatless.set()

    bus.subscribe("detections.v1", "test", collect)
    service = create_service(Runtime(settings=settings, bus=bus, store=store, tokens=TOKENS), settings)
    admin = TOKENS.issue(Principal(subject="ops", tenant_id="t", role=Role.PLATFORM_ADMIN))
    await bus.start()
    await service.start()  # nothing published yet: the shipped weights
    try:
        assert service.model is not None and not isinstance(service.model, byo.OnnxDetector)
        await ModelRegistry(store, tmp_path / "publisher").publish(models["v8"])
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app), base_url="http://detector")
        async with http:
            r = await http.post(
                "/model/activate", json={"version": "1.0.0"}, headers={"Authorization": f"Bearer {admin}"}
            )
            assert r.status_code == 200, r.text
        data = jpeg(scene())
        async with grpc.aio.insecure_channel(service.grpc_address) as channel:
            stub = pb_grpc.DetectorStub(channel)
            info = await stub.GetModelInfo(pb.ModelInfoRequest())
            assert (info.name, info.version, list(info.labels)) == (
                "acme-kitchen",
                "1.0.0",
                ["person", "rodent"],
            )
            call = stub.Detect()
            answers: list[pb.FrameResult] = []
            for n in range(4):  # 8 frames, 0.5 s apart in capture time, two per batch
                frames = []
                for i in (2 * n, 2 * n + 1):
                    f = pb.Frame(
                        frame_id=f"f{i}",
                        tenant_id="city-1",
                        site_id="school-7",
                        camera_id="prep-cam",
                        jpeg=data,
                    )
                    f.captured_at.FromDatetime(T0 + timedelta(seconds=i / 2))
                    frames.append(f)
                await call.write(pb.FrameBatch(batch_id=f"b{n}", frames=frames))
                answer = await asyncio.wait_for(call.read(), 60)
                assert answer.model_version == "1.0.0"
                answers.extend(answer.results)
            await call.done_writing()
        await asyncio.wait_for(hatless.wait(), 30)
    finally:
        await service.stop()
        await bus.stop()
    for result in answers:
        assert not result.error
        person, rat = result.detections
        box = (person.box.x1, person.box.y1, person.box.x2, person.box.y2)
        assert person.label == "person" and np.allclose(box, expected("worker"), atol=0.01), box
        assert person.attributes["chef_hat"] == pytest.approx(0.2, abs=1e-3)
        assert rat.label == "rodent" and np.allclose(
            (rat.box.x1, rat.box.y1, rat.box.x2, rat.box.y2), expected("rat"), atol=0.01
        )
    assert {"no_chef_hat", "rodent"} <= set(answers[-1].violations)
    started = [e for e in events if e.phase == ViolationPhase.VIOLATION_PHASE_STARTED]
    hat = next(e for e in started if e.violation_type == "no_chef_hat")
    assert (hat.meta.tenant_id, hat.camera_id, hat.model_version) == ("city-1", "prep-cam", "1.0.0")
    assert await store.exists(hat.raw_snapshot_key) and await store.exists(hat.annotated_snapshot_key)


def test_another_input_size_letterboxes_to_the_same_boxes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    build_onnx(tmp_path / "model.onnx", size=(256, 160), dynamic_batch=False)
    (tmp_path / "label_map.json").write_text(json.dumps(label_map(size=(256, 160))))
    lm, problems = byo.check(tmp_path)
    assert problems == [] and lm is not None and (lm.input_width, lm.input_height) == (256, 160)
    [found] = byo.OnnxDetector.load(tmp_path).predict([scene()])
    assert_scene(found, tol=0.01)  # 640x360 into 256x160: 0.4x, 8 px of grey above and below
