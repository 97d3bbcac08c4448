"""Training and evaluation plumbing on CPU: a 2-step run writes an artefact and plots; metrics are exact."""

from __future__ import annotations

import json

from bk_detector.training.cli import synth, train
from bk_detector.training.evaluate import Box, evaluate


def test_two_step_training_writes_artefact(tmp_path) -> None:
    data = synth(out_dir=str(tmp_path / "coco"), n_images=6, seed=3, width=320, height=180, progress=False)
    doc = json.loads(data.read_text())
    doc["annotations"] = [a for a in doc["annotations"] if a["category_id"] == 1]  # a partial export
    data.write_text(json.dumps(doc))
    out = train(
        train_dirs=[str(tmp_path / "coco")],
        val_dir=str(tmp_path / "coco"),
        out_dir=str(tmp_path / "art"),
        max_steps=2,
        batch_size=2,
        device="cpu",
        eval_every=1000,
        progress=False,
        input_width=128,
        input_height=96,
    )
    for name in ("weights.pt", "model.json", "loss_curve.png", "map_curve.png"):
        assert (out / name).stat().st_size > 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["training"]["steps"] == 2 and meta["input_width"] == 128


def test_perfect_predictions_score_one() -> None:
    gts = [
        [
            Box("person", (0.1, 0.1, 0.4, 0.9), 1.0, {"chef_hat": 1, "mask": 0}),
            Box("rodent", (0.6, 0.8, 0.7, 0.85)),
        ],
        [],
        [Box("flame", (0.2, 0.3, 0.25, 0.4))],
    ]
    preds = [
        [Box(b.label, b.box, 0.9, {k: float(v) for k, v in b.attributes.items()}) for b in img] for img in gts
    ]
    rep = evaluate(preds, gts, ["person", "rodent", "flame", "phone"], ["chef_hat", "mask"])
    assert rep["map50"] == 1.0
    assert rep["classes"]["person"]["precision"] == 1.0 and rep["classes"]["rodent"]["recall"] == 1.0
    assert rep["attribute_accuracy"] == {"chef_hat": 1.0, "mask": 1.0}


def test_false_alarm_lowers_precision_not_recall() -> None:
    gts = [[Box("rodent", (0.6, 0.8, 0.7, 0.85))], []]
    preds = [[Box("rodent", (0.6, 0.8, 0.7, 0.85), 0.9)], [Box("rodent", (0.1, 0.1, 0.2, 0.2), 0.8)]]
    rep = evaluate(preds, gts, ["rodent"], [])
    assert rep["classes"]["rodent"]["recall"] == 1.0 and rep["classes"]["rodent"]["precision"] == 0.5
    assert rep["map50"] == 1.0  # the false alarm ranks below the only true positive


def test_crops_keep_boxes_in_place_and_focus_on_small_objects() -> None:
    import torch

    from bk_detector.training.data import TensorSet
    from bk_detector.training.train import _crop

    images = torch.zeros(2, 3, 96, 160, dtype=torch.uint8)
    images[0, :, 40:44, 100:110] = 255  # a "cigarette" at x 100..110, y 40..44
    boxes = torch.zeros(2, 2, 4)
    boxes[0, 0] = torch.tensor([100 / 160, 40 / 96, 110 / 160, 44 / 96])
    boxes[0, 1] = torch.tensor([0.0, 0.0, 10 / 160, 10 / 96])  # top-left, outside most crops
    labels = torch.tensor([[2, 0], [-1, -1]])
    data = TensorSet(images, boxes, labels, torch.full((2, 2, 4), -1.0))
    focus = torch.tensor([[True, False], [False, False]])
    for _ in range(20):
        crop = _crop(data, torch.tensor([0, 1]), 64, 32, focus)
        img, bx, lab = crop.images, crop.boxes, crop.labels
        assert img.shape == (2, 3, 32, 64) and lab[0, 0] == 2 and lab[1].tolist() == [-1, -1]
        # the box, mapped back through the crop, still frames the bright pixels exactly
        x0, y0, x1, y1 = (bx[0, 0] * torch.tensor([64, 32, 64, 32])).round().long().tolist()
        assert img[0, 0, y0:y1, x0:x1].min() == 255  # (clipped where the crop cuts it)
        assert int(img[0, 0].sum()) == 255 * (x1 - x0) * (y1 - y0) > 0
        assert lab[0, 1] == -1 or bx[0, 1, 2] > 0  # the other object only when its centre is inside


def test_regression_loss_is_zero_for_exact_boxes_and_grows_with_pixel_error() -> None:
    import math

    import torch

    from bk_detector.training.targets import detection_loss, giou

    assert torch.allclose(giou(torch.tensor([[0.0, 0, 2, 2]]), torch.tensor([[0.0, 0, 2, 2]])), torch.ones(1))
    h, w, classes = 8, 16, 7
    box = torch.tensor([[[4.5 / w, 3.25 / h, 7.0 / w, 4.25 / h]]])  # 2.5 x 1 cells: a cigarette
    labels, attrs = torch.tensor([[2]]), torch.full((1, 1, 4), -1.0)
    cx, cy, bw, bh = 5.75, 3.75, 2.5, 1.0

    def head(dx: float) -> torch.Tensor:
        out = torch.full((1, classes + 8, h, w), -9.0)
        out[0, classes : classes + 4] = torch.tensor([math.log(bw), math.log(bh), 0.0, 0.0]).view(4, 1, 1)
        ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
        out[0, classes + 2], out[0, classes + 3] = cx - xs + dx, cy - ys  # exact offsets everywhere
        return out

    _, exact = detection_loss(head(0.0), box, labels, attrs, classes)
    _, off = detection_loss(head(1.0 / 4), box, labels, attrs, classes)  # one input pixel (stride 4)
    assert exact["giou"] < 1e-5 and exact["offset"] < 1e-5 and exact["size"] < 1e-5
    assert abs(off["offset"] - 0.25) < 1e-4  # a quarter cell, however large the object
    assert off["giou"] > 0.15  # but on a 10x4-pixel box that pixel costs 18 % of its IoU


def test_a_crop_larger_than_the_input_is_refused_before_any_work(tmp_path) -> None:
    import pytest

    with pytest.raises(ValueError, match="crop 256x128 is larger than the input 128x96"):
        train(
            train_dirs=[str(tmp_path / "none")],
            crop=(256, 128),
            input_width=128,
            input_height=96,
            device="cpu",
            progress=False,
        )
