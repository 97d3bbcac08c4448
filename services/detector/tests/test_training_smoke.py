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
