"""Promotion: score the live model and a candidate on the frozen held-out sets and the verdict set,
let the gate (``gate``) decide, and publish to the registry only what it lets through.

The frozen sets are small on purpose (tens of frames, fixed files, checked against SHA256SUMS) so the
gate runs in CI on a CPU in seconds per model; ``FROZEN`` lists the ones this repository carries:
synthetic v1, synthetic v2 once the camera-like generator has made one, and the real photographs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bk_detector.model.artifact import load_artifact
from bk_detector.registry import ModelRegistry, ModelVersion, RegistryError
from bk_detector.training.agreement import score_capture, summarise
from bk_detector.training.data import MAX_BOXES, TensorSet, load_coco
from bk_detector.training.evaluate import evaluate
from bk_detector.training.gate import HELDOUT, VERDICTS, GateDecision, GatePolicy, SetScore, judge
from bk_detector.training.predict import ground_truth, predict_set
from bk_detector.training.verdicts import HOLDOUT, load_verdicts

DETECTOR_ROOT = Path(__file__).resolve().parents[3]  # services/detector
#: The frozen held-out sets this repository carries (a missing one is simply not there yet).
FROZEN: dict[str, Path] = {
    "synth-v1": DETECTOR_ROOT / "tests" / "data" / "heldout" / "synth-v1",
    "synth-v2": DETECTOR_ROOT / "tests" / "data" / "heldout" / "synth-v2",
    "real": DETECTOR_ROOT / "tests" / "data" / "real",
}
SUMS = "SHA256SUMS"


class GateRefused(RegistryError):
    """The gate did not let the candidate through; ``decision`` holds the table."""

    def __init__(self, decision: GateDecision) -> None:
        super().__init__("promotion refused: " + "; ".join(decision.reasons))
        self.decision = decision


@dataclass(frozen=True)
class HeldoutSet:
    name: str
    path: Path

    @property
    def real(self) -> bool:
        """The real-photograph set (``realset``: labels.json + manifest.json), not COCO."""
        return (self.path / "labels.json").is_file() and not (self.path / "annotations.json").is_file()


def frozen_sets() -> list[HeldoutSet]:
    """The FROZEN sets present in this checkout (COCO annotations, or the real set's labels)."""
    return [
        HeldoutSet(n, p)
        for n, p in FROZEN.items()
        if (p / "annotations.json").is_file() or (p / "labels.json").is_file()
    ]


def frozen_problem(path: Path) -> str | None:
    """Why a set is not the set it was frozen as (None: intact, or carries no SHA256SUMS)."""
    sums = path / SUMS
    if not sums.is_file():
        return None
    for line in sums.read_text().splitlines():
        digest, _, name = line.partition("  ")
        f = path / name
        if not f.is_file():
            return f"{name} is missing"
        if hashlib.sha256(f.read_bytes()).hexdigest() != digest:
            return f"{name} changed since the set was frozen"
    return None


class Scorer:
    """Scores one artefact; sets are loaded once at the artefact's input size and reused."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._sets: dict[tuple[str, int, int, str], object] = {}
        self._models: dict[Path, tuple[torch.nn.Module, dict]] = {}

    def _model(self, artefact: Path) -> tuple[torch.nn.Module, dict]:
        if artefact not in self._models:
            model, meta = load_artifact(artefact)
            self._models[artefact] = model.to(self.device), meta
        return self._models[artefact]

    def heldout(self, artefact: Path, s: HeldoutSet) -> SetScore:
        if problem := frozen_problem(s.path):
            return SetScore(s.name, HELDOUT, 0, math.nan, math.nan, problem)
        model, meta = self._model(artefact)
        labels, attributes = meta["labels"], meta["attributes"]
        size = (meta["input_width"], meta["input_height"])
        key = (str(s.path), *size, "coco")
        try:
            if key not in self._sets:
                self._sets[key] = (
                    _load_real(s.path, labels, attributes, *size)
                    if s.real
                    else load_coco(s.path, labels, attributes, *size)
                )
        except (OSError, ValueError, RuntimeError) as exc:  # e.g. a photo's package is not installed
            return SetScore(s.name, HELDOUT, 0, math.nan, math.nan, str(exc))
        data, ignore = self._sets[key] if s.real else (self._sets[key], None)  # type: ignore[misc]
        preds = predict_set(model, data, labels, attributes, self.device)
        if ignore is not None:  # a box mostly inside an "ignore" region (a blurred crowd) counts neither way
            preds = [
                [b for b in p if not any(_share_inside(b.box, r) >= 0.5 for r in regions)]
                for p, regions in zip(preds, ignore, strict=True)
            ]
        rep = evaluate(preds, ground_truth(data, labels, attributes), labels, attributes, meta["thresholds"])
        return SetScore(s.name, HELDOUT, len(data), math.nan, rep["map50"])

    def verdicts(self, artefact: Path, export: Path, holdout: float = HOLDOUT) -> SetScore:
        model, meta = self._model(artefact)
        labels, attributes = meta["labels"], meta["attributes"]
        key = (str(export), meta["input_width"], meta["input_height"], f"verdicts-{holdout}")
        if key not in self._sets:
            self._sets[key] = load_verdicts(
                export,
                labels,
                attributes,
                meta["input_width"],
                meta["input_height"],
                split="heldout",
                holdout=holdout,
            )
        vd = self._sets[key]
        preds = predict_set(model, vd.tensors, labels, attributes, self.device)  # type: ignore[attr-defined]
        items = [
            i
            for p, rec in zip(preds, vd.records, strict=True)  # type: ignore[attr-defined]
            for i in score_capture(p, rec.labels, meta["thresholds"])
        ]
        summary = summarise(items)
        return SetScore(
            "verdicts (held out)",
            VERDICTS,
            len(vd.records),
            math.nan,  # type: ignore[attr-defined]
            float(summary["agreement"]),
            "" if items else "no held-out captures in the export",
        )


def _load_real(
    root: Path, labels: list[str], attributes: list[str], width: int, height: int
) -> tuple[TensorSet, list[list[tuple]]]:
    """The real-photograph set (``realset``) as tensors at the model's input size, its boxes in the
    model's classes (faces are not one), and each photo's ignore regions (normalised xyxy)."""
    from PIL import Image

    from bk_detector.training.realset import load_images as load_real_images

    items = load_real_images(root)
    n = len(items)
    boxes = torch.zeros(n, MAX_BOXES, 4)
    labs = torch.full((n, MAX_BOXES), -1, dtype=torch.long)
    images = torch.zeros(n, 3, height, width, dtype=torch.uint8)
    ignore: list[list[tuple]] = []
    for i, (it, arr) in enumerate(items):
        img = Image.fromarray(arr).resize((width, height), Image.BILINEAR)
        images[i] = torch.from_numpy(np.asarray(img).transpose(2, 0, 1).copy())
        found = [(labels.index(c), b) for c, bs in it.boxes.items() if c in labels for b in bs][:MAX_BOXES]
        for j, (label, (x, y, w, h)) in enumerate(found):
            boxes[i, j] = torch.tensor([x / it.width, y / it.height, (x + w) / it.width, (y + h) / it.height])
            labs[i, j] = label
        ignore.append(
            [
                (x / it.width, y / it.height, (x + w) / it.width, (y + h) / it.height)
                for x, y, w, h in it.ignore
            ]
        )
    attrs = torch.full((n, MAX_BOXES, len(attributes)), -1.0)  # the real set judges no attribute
    return TensorSet(images, boxes, labs, attrs), ignore


def _share_inside(box: tuple[float, ...], region: tuple[float, ...]) -> float:
    iw = max(0.0, min(box[2], region[2]) - max(box[0], region[0]))
    ih = max(0.0, min(box[3], region[3]) - max(box[1], region[1]))
    area = (box[2] - box[0]) * (box[3] - box[1])
    return iw * ih / area if area > 0 else 0.0


def score_pair(
    baseline: Path,
    candidate: Path,
    sets: Sequence[HeldoutSet],
    verdicts: Path | None,
    *,
    device: str = "cpu",
    holdout: float = HOLDOUT,
) -> list[SetScore]:
    """Old (baseline) and new (candidate) on every set, as the gate reads them."""
    scorer = Scorer(device)
    jobs: list[Callable[[Path], SetScore]] = [lambda a, s=s: scorer.heldout(a, s) for s in sets]
    if verdicts is not None:
        jobs.append(lambda a: scorer.verdicts(a, verdicts, holdout))
    out: list[SetScore] = []
    for job in jobs:
        old, new = job(baseline), job(candidate)
        out.append(SetScore(new.name, new.kind, new.images, old.new, new.new, new.note or old.note))
    return out


def same_weights(a: Path, b: Path) -> bool:
    def digest(p: Path) -> str:
        w = p / "weights.pt"
        return hashlib.sha256(w.read_bytes()).hexdigest() if w.is_file() else ""

    return bool(digest(a)) and digest(a) == digest(b)


async def baseline_for(registry: ModelRegistry, name: str, shipped: Path) -> tuple[Path, str]:
    """The model a candidate would replace: the registry's latest version of ``name``, else the
    shipped weights; (artefact directory, its version)."""
    latest = await registry.latest(name)
    if latest:
        return await registry.fetch(name, latest), latest
    return shipped, str(json.loads((shipped / "model.json").read_text()).get("version", ""))


async def publish_gated(
    registry: ModelRegistry,
    candidate: Path,
    *,
    baseline: Path,
    sets: Sequence[HeldoutSet],
    verdicts: Path | None,
    name: str | None = None,
    version: str | None = None,
    policy: GatePolicy = GatePolicy(),
    device: str = "cpu",
    holdout: float = HOLDOUT,
) -> tuple[GateDecision | None, ModelVersion]:
    """Publish ``candidate`` if the gate lets it through (GateRefused otherwise). The same weights as
    the baseline are nothing to judge (e.g. the first publish of the shipped model): published as
    they are, decision None. The decision is recorded in the version's metrics.json."""
    if same_weights(baseline, candidate):
        return None, await registry.publish(candidate, name=name, version=version)
    if verdicts is None:  # nothing could let it through: say so before minutes of scoring
        raise GateRefused(
            GateDecision(
                [], ["no verdict set (--verdicts): nothing shows the candidate learnt from the supervisors"]
            )
        )
    scores = await asyncio.to_thread(
        score_pair, baseline, candidate, sets, verdicts, device=device, holdout=holdout
    )
    decision = judge(scores, policy)
    if not decision.passed:
        raise GateRefused(decision)
    staged = Path(tempfile.mkdtemp(prefix="bk-promote-"))
    try:  # the candidate's folder stays as trained: the record goes into a copy
        art = staged / "artefact"
        shutil.copytree(candidate, art)
        meta = json.loads((art / "model.json").read_text())
        meta.setdefault("metrics", {})["gate"] = decision.as_dict()
        (art / "model.json").write_text(json.dumps(meta, indent=2, default=float))
        return decision, await registry.publish(art, name=name, version=version)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
