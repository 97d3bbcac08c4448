"""The two-stage detector behind the runtime the service uses: same API, same buckets, people from
stage one with their attributes, kitchen classes from our own model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bk_detector.model.artifact import SHIPPED
from bk_detector.model.runtime import ModelRuntime
from bk_detector.model.two_stage import TwoStageNet, load_two_stage
from bk_detector.modelapi import load_model
from bk_detector.testing import assert_same_detections
from bksynth import demo_scenarios

ASTRONAUT = Path(__file__).parent / "data/real/images/astronaut.png"


@pytest.fixture(scope="module")
def runtime() -> ModelRuntime:
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    return ModelRuntime.load(None, device="cpu", kind="two_stage")


def _photo() -> np.ndarray:
    return np.array(Image.open(ASTRONAUT).convert("RGB"))


def test_same_api_and_labels_as_the_kitchen_model(runtime: ModelRuntime) -> None:
    single = ModelRuntime.load(None, device="cpu")
    assert runtime.labels == single.labels and runtime.attribute_names == single.attribute_names
    assert (runtime.input_width, runtime.input_height) == (512, 288)
    # the version names every part, so a new kitchen model is a new two-stage version
    assert "nanodet-coco.1.0.0" in runtime.version and "person-attributes-v1" in runtime.version
    assert single.version in runtime.version
    model = load_model(None, "cpu", None, kind="two_stage")
    assert model.version == runtime.version


def test_people_come_from_stage_one_with_what_they_wear(runtime: ModelRuntime) -> None:
    assert isinstance(runtime.model, TwoStageNet)
    x = torch.from_numpy(_photo().copy()).permute(2, 0, 1)[None].float()
    x = torch.nn.functional.interpolate(x, (288, 512), mode="bilinear", antialias=True, align_corners=False)
    with torch.inference_mode():
        det = runtime.model(x)
    k = runtime.model.people_k
    person, phone = runtime.labels.index("person"), runtime.labels.index("phone")
    kitchen = det.labels[0, k:][det.scores[0, k:] > 0]
    assert not ((kitchen == person) | (kitchen == phone)).any()  # the kitchen model's people are dropped
    [astronaut] = [d for d in runtime.predict([_photo()])[0] if d.label == "person"]
    assert astronaut.score > 0.6 and astronaut.box[0] < 0.1 and astronaut.box[2] > 0.6
    assert set(astronaut.attributes) == {"chef_hat", "mask", "uniform", "gloves"}


def test_bucket_padding_and_the_fast_path_change_no_result(runtime: ModelRuntime) -> None:
    frames = [_photo(), np.ascontiguousarray(_photo()[:, ::-1])]
    plain = runtime.predict(frames)
    padded = ModelRuntime(runtime.model, runtime.meta, "cpu", half=False, buckets="4")
    assert_same_detections(padded.predict(frames), plain)
    x = torch.stack([runtime._resize(f) for f in frames]).round().clamp(0, 255).to(torch.uint8)
    fast = runtime.predict_tensor(x)
    assert fast.scores.shape[0] == 2 and fast.attributes.shape[-1] == 4


def test_kitchen_classes_still_come_from_our_model(runtime: ModelRuntime) -> None:
    """The demo's rat in the storage room: KitchenNet's rodent, at the two-stage model's raised
    threshold (which no real calibration photo reaches)."""
    scen = {s.zone: s for s in demo_scenarios(0)}
    frame, truth = scen["storage"].render(15.0, 640, 360)
    rodents = [d for d in runtime.predict([frame])[0] if d.label == "rodent"]
    assert rodents, "no rodent"
    gt = next(a for a in truth if a.label == "rodent").box
    assert abs((rodents[0].box[0] + rodents[0].box[2]) / 2 - (gt[0] + gt[2]) / 2) < 0.05


def test_a_kitchen_model_with_other_labels_is_refused(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED, tmp_path / "k")
    meta = json.loads((tmp_path / "k" / "model.json").read_text())
    meta["labels"] = list(reversed(meta["labels"]))
    (tmp_path / "k" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="labels"):
        load_two_stage(tmp_path / "k")
    with pytest.raises(ValueError, match="single_stage or two_stage"):
        ModelRuntime.load(None, device="cpu", kind="three_stage")


def test_stage_two_reads_what_people_wear_on_fresh_synthetic_frames(runtime: ModelRuntime) -> None:
    """Labelled people of 40 frames the classifier never saw (a seed outside its training and
    validation sets): P(worn) from the crop classifier + KitchenNet's attribute head."""
    from bksynth.frame import render_random

    net = runtime.model
    right, total = torch.zeros(4), 0
    for i in range(40):
        frame, truth = render_random(9_900_000 + i, 640, 360)
        people = [a for a in truth if a.label == "person"]
        if not people:
            continue
        x = runtime._resize(frame)[None]
        boxes = torch.tensor([[list(a.box) for a in people]])
        with torch.inference_mode():
            worn = net.worn(x, net.kitchen(x), boxes)[0]
        want = torch.tensor([[a.attributes[k] for k in runtime.attribute_names] for a in people]).float()
        right += ((worn > 0.5).float() == want).sum(0)
        total += len(people)
    accuracy = dict(zip(runtime.attribute_names, (right / total).tolist(), strict=True))
    print(f"{total} people: {accuracy}")
    assert total >= 40
    assert all(v >= 0.8 for v in accuracy.values()), accuracy


async def test_the_grpc_service_serves_it(tmp_path: Path) -> None:
    """BK_MODEL_KIND=two_stage: the same Detector gRPC service, batching real photographs."""
    import asyncio
    import io

    import grpc

    from bk_detector.service import create_service
    from bk_detector.settings import DetectorSettings
    from bkcore.bus.inproc import InProcessBus
    from bkcore.objstore.local import LocalObjectStore
    from bkcore.service import Runtime
    from bkcore.testing.tokens import new_token_issuer
    from bkproto.detector.v1 import detector_pb2 as pb
    from bkproto.detector.v1 import detector_pb2_grpc as pb_grpc

    settings = DetectorSettings(
        data_dir=tmp_path, grpc_port=0, device="cpu", max_batch_size=4, max_wait_ms=5, model_kind="two_stage"
    )
    bus = InProcessBus()
    store = LocalObjectStore(tmp_path / "objects", "signing-secret", "http://127.0.0.1:8000")
    service = create_service(
        Runtime(settings=settings, bus=bus, store=store, tokens=new_token_issuer()), settings
    )
    frames = []
    for i, name in enumerate(("astronaut.png", "camera.png", "coffee.png")):
        out = io.BytesIO()
        Image.open(ASTRONAUT.parent / name).convert("RGB").save(out, format="JPEG", quality=90)
        frames.append(
            pb.Frame(frame_id=f"f{i}", tenant_id="t", site_id="s", camera_id=f"cam{i}", jpeg=out.getvalue())
        )
    await bus.start()
    await service.start()
    try:
        assert service.model is not None and service.model.version.startswith("1.0.0+nanodet-coco")
        async with grpc.aio.insecure_channel(service.grpc_address) as channel:
            call = pb_grpc.DetectorStub(channel).Detect()
            await call.write(pb.FrameBatch(batch_id="b0", frames=frames))
            answer = await asyncio.wait_for(call.read(), 60)
            await call.done_writing()
    finally:
        await service.stop()
        await bus.stop()
    people = [[d for d in r.detections if d.label == "person"] for r in answer.results]
    assert [len(p) for p in people] == [1, 1, 0]  # the astronaut, the cameraman, no one in a coffee cup
    assert {a for a in people[0][0].attributes} == {"chef_hat", "mask", "uniform", "gloves"}
