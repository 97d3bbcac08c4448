"""The shipped kitchen-v1 model on CPU: loads, finds staged violations, handles mixed sizes, exports."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bk_detector.detections import Detection
from bk_detector.model.runtime import ModelRuntime
from bk_detector.testing import assert_same_detections, demo_jpegs
from bksynth import demo_scenarios


@pytest.fixture(scope="module")
def runtime() -> ModelRuntime:
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    return ModelRuntime.load(device="cpu")


def _best(dets: list[Detection], label: str) -> Detection | None:
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


def _sizes(rt: ModelRuntime) -> tuple[list[int], object]:
    """Batch sizes the network itself is called with, from now on."""
    seen: list[int] = []
    handle = rt.model.register_forward_hook(lambda _m, args, _out: seen.append(int(args[0].shape[0])))
    return seen, handle


def test_bucket_padding_changes_no_result(runtime: ModelRuntime) -> None:
    padded = ModelRuntime(runtime.model, runtime.meta, "cpu", half=False, buckets="4,8")
    assert padded.buckets == (4, 8) and padded.max_batch == 8
    assert [padded.bucket_for(n) for n in (1, 4, 5, 8)] == [4, 4, 8, 8]
    jpegs = demo_jpegs(11)
    seen, handle = _sizes(padded)
    try:
        got = padded.predict_jpeg(jpegs)  # 11 frames: chunks of 8 and 3 -> model calls of 8 and 4
        rgb = [runtime._decode_jpegs([j])[0].permute(1, 2, 0).numpy() for j in jpegs[:3]]
        got_rgb = padded.predict(rgb)
    finally:
        handle.remove()
    assert seen == [8, 4, 4]
    want = runtime.predict_jpeg(jpegs)  # unpadded: calls of 11 (max_batch 64)
    assert any(want), "the scenes should show something"
    assert_same_detections(got, want)
    assert_same_detections(got_rgb, runtime.predict(rgb))
    det = padded.predict_tensor(torch.zeros(3, 3, padded.input_height, padded.input_width, dtype=torch.uint8))
    assert det.scores.shape[0] == 3 and det.boxes.shape[0] == 3  # padded rows dropped


def test_bad_frames_are_not_padding(runtime: ModelRuntime) -> None:
    padded = ModelRuntime(runtime.model, runtime.meta, "cpu", half=False, buckets=[4])
    jpegs = demo_jpegs(2)
    out = padded.predict_jpeg([jpegs[0], b"\xff\xd8not a jpeg", jpegs[1]])
    assert isinstance(out[1], Exception) and not isinstance(out[0], Exception)
    assert_same_detections([out[0], out[2]], runtime.predict_jpeg(jpegs))


def test_warm_up_runs_each_bucket_once(runtime: ModelRuntime) -> None:
    padded = ModelRuntime(runtime.model, runtime.meta, "cpu", half=False, buckets=(2, 1, 4, 2))
    seen, handle = _sizes(padded)
    try:
        assert padded.warm_up() == [1, 2, 4]
    finally:
        handle.remove()
    assert seen == [1, 2, 4]
    assert ModelRuntime(runtime.model, runtime.meta, "cpu", half=False).warm_up() == []  # no buckets: no-op


def test_cuda_graphs_need_cuda_and_buckets(runtime: ModelRuntime) -> None:
    # asked for on the CPU, or without fixed shapes, graphs stay off and calls run eagerly
    cpu = ModelRuntime(runtime.model, runtime.meta, "cpu", half=False, buckets=[4], cuda_graphs=True)
    assert cpu.cuda_graphs is False
    assert cpu.warm_up() == [4] and not hasattr(cpu._local(), "graphs")
    frame = np.zeros((90, 160, 3), np.uint8)
    assert cpu.predict([frame]) == runtime.predict([frame])
    assert ModelRuntime(runtime.model, runtime.meta, "cpu", half=False, cuda_graphs=True).cuda_graphs is False
    from bk_detector.settings import DetectorSettings

    assert DetectorSettings().cuda_graphs is True  # on by default where it applies


def test_bucket_settings() -> None:
    from bk_detector.settings import DetectorSettings

    s = DetectorSettings(max_batch_size=128)
    assert s.buckets_for("cuda") == (8, 16, 32, 64, 128) and s.buckets_for("cpu") == ()
    assert DetectorSettings(max_batch_size=100).buckets_for("cuda:0") == (8, 16, 32, 64, 100)
    assert DetectorSettings(batch_buckets="64, 16,32").buckets_for("cpu") == (16, 32, 64)
    assert DetectorSettings(batch_buckets="off").buckets_for("cuda") == ()
    with pytest.raises(ValueError):
        DetectorSettings(batch_buckets="8,x")


def test_every_call_reports_where_its_time_went(runtime: ModelRuntime) -> None:
    timed = ModelRuntime(runtime.model, runtime.meta, "cpu", half=False, buckets=[2])
    seen: list[tuple[str, float]] = []
    timed.stage_observer = lambda stage, seconds: seen.append((stage, seconds))
    jpegs = demo_jpegs(3)
    timed.predict_jpeg([jpegs[0], b"\xff\xd8not a jpeg", jpegs[1], jpegs[2]])  # two chunks of 2
    stages = [s for s, _ in seen]
    assert sorted(stages) == ["copy", "decode", "model", "python", "resize"]  # each once per call
    assert all(sec >= 0 for _, sec in seen) and dict(seen)["model"] > 0
    seen.clear()
    timed.predict([np.zeros((90, 160, 3), dtype=np.uint8)])
    assert sorted(s for s, _ in seen) == ["copy", "model", "python", "resize"]
    seen.clear()
    runtime.predict_jpeg(jpegs)  # nobody observing: nothing measured
    assert seen == []


def test_the_service_model_feeds_the_stage_metric() -> None:
    from prometheus_client import REGISTRY

    from bk_detector.modelapi import load_model

    def count() -> float:
        return REGISTRY.get_sample_value("bk_detector_stage_seconds_count", {"stage": "model"}) or 0.0

    model = load_model(None, "cpu", None)
    before = count()
    model.predict_jpeg(demo_jpegs(2))  # type: ignore[attr-defined]
    assert count() == before + 1


def test_a_failing_timer_never_fails_the_batch(runtime: ModelRuntime) -> None:
    timed = ModelRuntime(runtime.model, runtime.meta, "cpu", half=False)

    def broken(stage: str, seconds: float) -> None:
        raise RuntimeError("metrics backend gone")

    timed.stage_observer = broken
    out = timed.predict_jpeg(demo_jpegs(2))
    assert_same_detections(out, runtime.predict_jpeg(demo_jpegs(2)))


def test_warm_decode_leaves_nothing_to_import_on_the_first_frame() -> None:
    # A fresh interpreter, as a service process starts: after the decode warm-up (run by warm_up
    # on CUDA, before the start-up heap is frozen) the first JPEG frame imports no module.
    import subprocess
    import sys

    code = (
        "import io, sys\n"
        "from PIL import Image\n"
        "from bk_detector.model.runtime import ModelRuntime\n"
        "rt = ModelRuntime.load(None, device='cpu')\n"
        "rt._warm_decode()\n"
        "buf = io.BytesIO(); Image.new('RGB', (64, 48)).save(buf, format='JPEG')\n"
        "before = set(sys.modules)\n"
        "out = rt.predict_jpeg([buf.getvalue()])\n"
        "assert len(out) == 1 and not isinstance(out[0], Exception), out\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", done.stdout[-2000:]
