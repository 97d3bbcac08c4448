"""The shipped kitchen-v1 model on CPU: loads, finds staged violations, handles mixed sizes, exports."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bk_detector.model.runtime import ModelRuntime, RawDetection
from bksynth import demo_scenarios


@pytest.fixture(scope="module")
def runtime() -> ModelRuntime:
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    return ModelRuntime.load(device="cpu")


def _best(dets: list[RawDetection], label: str) -> RawDetection | None:
    hits = [d for d in dets if d.label == label]
    return max(hits, key=lambda d: d.score) if hits else None


def test_loads_on_cpu(runtime: ModelRuntime) -> None:
    assert runtime.device == "cpu" and runtime.precision == "fp32"
    assert runtime.labels[0] == "person" and "rodent" in runtime.labels
    assert runtime.input_width % 32 == 0 and runtime.input_height % 32 == 0


def test_finds_rodent_and_hatless_cook(runtime: ModelRuntime) -> None:
    scen = {s.zone: s for s in demo_scenarios(0)}
    rat_frame, rat_truth = scen["storage"].render(13.0, 640, 360)
    cook_frame, cook_truth = scen["prep"].render(15.0, 640, 360)
    rat_dets, cook_dets = runtime.predict([rat_frame, cook_frame])
    rat = _best(rat_dets, "rodent")
    assert rat is not None, rat_dets
    gt = next(a for a in rat_truth if a.label == "rodent").box
    assert abs((rat.box[0] + rat.box[2]) / 2 - (gt[0] + gt[2]) / 2) < 0.05
    persons = sorted((d for d in cook_dets if d.label == "person"), key=lambda d: d.box[0])
    assert len(persons) == 2, cook_dets
    truth = sorted((a for a in cook_truth if a.label == "person"), key=lambda a: a.box[0])
    for det, gt_p in zip(persons, truth, strict=True):
        assert (det.attributes["chef_hat"] >= 0.5) == bool(gt_p.attributes["chef_hat"])
    assert min(p.attributes["chef_hat"] for p in persons) < 0.5  # the cook who took the hat off


def test_mixed_sizes_in_one_batch(runtime: ModelRuntime) -> None:
    scen = demo_scenarios(1)[0]
    frames = [scen.render(5.0, w, h)[0] for w, h in ((640, 360), (1280, 720), (352, 288))]
    frames.append(np.zeros((200, 300, 3), np.uint8))
    out = runtime.predict(frames)
    assert len(out) == 4 and out[3] == []
    for dets in out[:3]:
        assert any(d.label == "person" for d in dets)
        for d in dets:
            assert 0 <= d.box[0] <= d.box[2] <= 1 and 0 <= d.box[1] <= d.box[3] <= 1
            assert (d.label == "person") == bool(d.attributes)


def test_predict_tensor_fast_path(runtime: ModelRuntime) -> None:
    x = torch.zeros(2, 3, runtime.input_height, runtime.input_width, dtype=torch.uint8)
    det = runtime.predict_tensor(x, k=16)
    assert (
        det.scores.shape == (2, 16) and det.boxes.shape == (2, 16, 4) and det.attributes.shape == (2, 16, 4)
    )


def test_exports(tmp_path) -> None:
    from bk_detector.model.export import export_onnx, export_torchscript

    ts = export_torchscript(tmp_path / "kitchen.ts")
    model = torch.jit.load(str(ts))
    scores, _, boxes, _ = model(torch.zeros(1, 3, 288, 512, dtype=torch.uint8))
    assert scores.shape[0] == 1 and boxes.shape[-1] == 4
    onnx_path = export_onnx(tmp_path / "kitchen.onnx")
    import onnx

    onnx.checker.check_model(onnx.load(str(onnx_path)))
