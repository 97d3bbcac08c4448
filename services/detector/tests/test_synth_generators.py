"""`detector synth --generator v2` writes ceiling-CCTV frames the trainer and the metrics read like v1's:
boxes, classes, and person attributes the camera could not see arriving as "unknown" (-1)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from bk_detector.model.artifact import ATTRIBUTES, LABELS
from bk_detector.training import cli
from bk_detector.training.data import load_coco
from bk_detector.training.evaluate import evaluate
from bk_detector.training.predict import ground_truth
from brightkitchen.detector_cli import app


def test_synth_v2_is_read_by_training_and_evaluation(tmp_path) -> None:
    cli.main(
        [
            "synth",
            str(tmp_path),
            "-n",
            "8",
            "--seed",
            "3",
            "--width",
            "320",
            "--height",
            "180",
            "--generator",
            "v2",
        ]
    )
    doc = json.loads((tmp_path / "annotations.json").read_text())
    assert doc["info"]["generator"] == "v2" and len(doc["images"]) == 8
    data = load_coco(tmp_path, LABELS, ATTRIBUTES, 512, 288, workers=1)
    assert data.images.shape == (8, 3, 288, 512) and (data.labels >= 0).sum() == len(doc["annotations"])
    persons = [a for a in doc["annotations"] if a["category_id"] == LABELS.index("person") + 1]
    assert persons, "eight v2 frames hold at least one cook"
    unseen = sum(len(ATTRIBUTES) - len(a["attributes"]) for a in persons)
    person_rows = data.attributes[data.labels == 0]
    assert int((person_rows < 0).sum()) == unseen  # attributes the camera could not see: unknown
    gts = ground_truth(data, LABELS, ATTRIBUTES)
    report = evaluate(gts, gts, LABELS, ATTRIBUTES)  # the truth scored against itself
    assert report["map50"] == 1.0 and report["n_images"] == 8


def test_cli_refuses_an_unknown_generator(tmp_path) -> None:
    result = CliRunner().invoke(app, ["synth", str(tmp_path), "-n", "1", "--generator", "v3"])
    assert result.exit_code == 2 and "v1, v2" in result.output
    assert not (tmp_path / "annotations.json").exists()
