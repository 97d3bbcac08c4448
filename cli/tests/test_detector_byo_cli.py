"""``brightkitchen detector check-model | publish --onnx --label-map``: an integrator's own ONNX model
(built here by the test) is refused with every reason by name, or published to the registry."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bk_detector.registry import ModelRegistry
from bk_detector.testing_byo import CLASSES, build_onnx, label_map
from bkcore.objstore.local import LocalObjectStore
from brightkitchen.main import app

pytestmark = pytest.mark.timeout(300)


def files(tmp_path: Path, lm: dict, **build: object) -> tuple[Path, Path]:  # type: ignore[type-arg]
    onnx = build_onnx(tmp_path / "acme.onnx", **build)  # type: ignore[arg-type]
    (tmp_path / "acme-labels.json").write_text(json.dumps(lm))
    return onnx, tmp_path / "acme-labels.json"


def test_check_and_publish_a_bring_your_own_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BK_OBJECT_STORE", raising=False)
    runner = CliRunner()
    onnx, lm = files(tmp_path, label_map())
    data = ["--data-dir", str(tmp_path / "data")]

    ok = runner.invoke(app, ["detector", "check-model", "--onnx", str(onnx), "--label-map", str(lm)])
    assert ok.exit_code == 0, ok.output
    assert (
        "ok: yolov8 320x320, labels person, rodent; attributes chef_hat; rules no_chef_hat, rodent"
        in ok.output
    )

    # The map lists a class the file does not have: refused by name, nothing published.
    (tmp_path / "five.json").write_text(
        json.dumps(label_map(classes=[*CLASSES, ("spoon", None, (9, 9, 9), 0.5)]))
    )
    bad = runner.invoke(
        app, ["detector", "publish", "--onnx", str(onnx), "--label-map", str(tmp_path / "five.json"), *data]
    )
    assert bad.exit_code == 1
    assert "model refused:" in bad.output
    assert "- model: output shape [1, 8, 16] does not match 5 classes in label_map" in bad.output
    store = LocalObjectStore(tmp_path / "data" / "objects", "s", "http://127.0.0.1:8000")
    registry = ModelRegistry(store, tmp_path / "cache")
    assert asyncio.run(registry.versions("acme-kitchen")) == []

    half = runner.invoke(app, ["detector", "publish", "--onnx", str(onnx), *data])
    assert half.exit_code != 0 and "needs both --onnx and --label-map" in half.output

    good = runner.invoke(
        app, ["detector", "publish", "--onnx", str(onnx), "--label-map", str(lm), "--version", "2.0.0", *data]
    )
    assert good.exit_code == 0, good.output
    assert good.output.startswith("published acme-kitchen 2.0.0 (")
    # Same version, other thresholds: versions are immutable.
    (tmp_path / "stricter.json").write_text(json.dumps(label_map(score_threshold=0.5)))
    again = runner.invoke(
        app,
        [
            "detector",
            "publish",
            "--onnx",
            str(onnx),
            "--label-map",
            str(tmp_path / "stricter.json"),
            "--version",
            "2.0.0",
            *data,
        ],
    )
    assert again.exit_code == 1
    assert "not published: acme-kitchen 2.0.0 is already published with other weights" in again.output
    unnamed = dict(label_map(), name="")
    (tmp_path / "unnamed.json").write_text(json.dumps(unnamed))
    nameless = runner.invoke(
        app,
        ["detector", "publish", "--onnx", str(onnx), "--label-map", str(tmp_path / "unnamed.json"), *data],
    )
    assert nameless.exit_code == 1 and "not published: invalid model name ''" in nameless.output
    [v] = asyncio.run(registry.versions("acme-kitchen"))
    assert (v.version, v.manifest["runtime"], v.manifest["labels"]) == ("2.0.0", "onnx", ["person", "rodent"])
