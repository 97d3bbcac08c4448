"""Cross-generator table: how a detector tuned on one synthetic generator does on the other.

Generator v1 (flat, eye-level kitchens) is what kitchen-v1 was tuned on; v2 (bksynth.cctv) films the
kitchen the way a ceiling-mounted CCTV camera does. This script
  1. renders (or reuses) the frozen held-out sets of both generators (bksynth.heldout),
  2. fine-tunes the shipped weights on v2 alone and on a v1+v2 mix (CPU, time-boxed; a model whose
     folder already holds weights is reused, so the two fine-tunes can run as separate processes),
  3. evaluates every model on both held-out sets (mAP@0.5 and per-class AP@0.5),
and prints the tables for docs/detector-model.md (and writes them as JSON).

    export PYTHONPATH=libs/bk-synth/src:libs/bk-core/src:services/detector/src OMP_NUM_THREADS=1
    nice -n 19 python bench/cross_generator.py --work W --only v2 &      # fine-tune on v2
    nice -n 19 python bench/cross_generator.py --work W --only mix &     # fine-tune on v1+v2
    wait; nice -n 19 python bench/cross_generator.py --work W            # evaluate all, print table
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import torch

from bk_detector.model.artifact import ATTRIBUTES, LABELS, SHIPPED, load_artifact
from bk_detector.training.data import load_coco
from bk_detector.training.evaluate import best_thresholds, evaluate
from bk_detector.training.predict import ground_truth, predict_set
from bksynth import heldout
from bksynth.coco import write_coco

TRAIN_SEEDS = {"v1": 11, "v2": 7110}  # chunk k of a training set uses seed + k; never a held-out seed
CHUNK = 200  # training frames are rendered in chunks, each usable as soon as it is written


def training_set(work: Path, generator: str, n: int) -> list[Path]:
    """n training frames of a generator (whole chunks), rendered into work/train-<gen>/part<k>."""
    parts = []
    for k in range(max(1, n // CHUNK)):
        out = work / f"train-{generator}" / f"part{k}"
        if not (out / "annotations.json").exists():
            write_coco(out, CHUNK, TRAIN_SEEDS[generator] + k, progress=False, workers=1, generator=generator)
        parts.append(out)
    return parts


def fine_tune(
    name: str,
    dirs: list[Path],
    out: Path,
    minutes: float,
    lr: float,
    init: Path = SHIPPED,
    crop: tuple[int, int] = (256, 160),
    focus: float = 0.2,
) -> Path:
    """One time-boxed CPU fine-tune (reused when `out` already holds weights)."""
    from bk_detector.training.cli import train

    if (out / "weights.pt").exists():
        print(f"{name}: reusing {out}")
        return out
    t = time.perf_counter()
    train(
        train_dirs=[str(d) for d in dirs],
        out_dir=str(out),
        init=str(init),
        device="cpu",
        batch_size=32,
        crop=crop,
        focus=focus,
        freeze_bn=False,  # batch 32 keeps BatchNorm statistics usable, and a new domain needs new ones
        lr=lr,
        max_minutes=minutes,
        eval_every=10**9,
        warmup_steps=20,  # a CPU fine-tune makes a few hundred to a few thousand steps
        progress=False,
    )
    print(f"{name}: trained {minutes} min in {(time.perf_counter() - t) / 60:.1f} min wall")
    return out


def score(model_dir: Path, data_dir: Path) -> dict:
    model, meta = load_artifact(model_dir)
    model = model.to("cpu").to(memory_format=torch.channels_last)
    data = load_coco(data_dir, LABELS, ATTRIBUTES, meta["input_width"], meta["input_height"], workers=1)
    preds = predict_set(model, data, LABELS, ATTRIBUTES, "cpu", batch=16)
    return evaluate(preds, ground_truth(data, LABELS, ATTRIBUTES), LABELS, ATTRIBUTES, meta["thresholds"])


def calibrate(model_dir: Path, val_dirs: list[Path]) -> dict[str, float]:
    """Per-class thresholds at max F1 over validation frames of both generators (never the held-out
    sets), written into the artefact's model.json: the operating point the service would use."""
    model, meta = load_artifact(model_dir)
    preds, gts = [], []
    for d in val_dirs:
        data = load_coco(d, LABELS, ATTRIBUTES, meta["input_width"], meta["input_height"], workers=1)
        preds += predict_set(model, data, LABELS, ATTRIBUTES, "cpu", batch=16)
        gts += ground_truth(data, LABELS, ATTRIBUTES)
    meta["thresholds"] = best_thresholds(preds, gts, LABELS)
    meta.setdefault("metrics", {})["calibration_sets"] = [str(d) for d in val_dirs]
    (model_dir / "model.json").write_text(json.dumps(meta, indent=2))
    return meta["thresholds"]


def tables(results: dict) -> str:
    rows = ["| model | mAP@0.5 on v1 | mAP@0.5 on v2 |", "| --- | --- | --- |"]
    for name, r in results.items():
        rows.append(f"| {name} | {r['v1']['map50']:.3f} | {r['v2']['map50']:.3f} |")
    rows += ["", "| model | set | " + " | ".join(LABELS) + " |", "| --- | --- |" + " --- |" * len(LABELS)]
    for name, r in results.items():
        for gen in ("v1", "v2"):
            aps = " | ".join(f"{r[gen]['classes'][c]['ap50']:.3f}" for c in LABELS)
            rows.append(f"| {name} | {gen} | {aps} |")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, required=True, help="folder for data sets and trained models")
    p.add_argument("--v1-n", type=int, default=500, help="frames of the v1 held-out set (its first n)")
    p.add_argument("--v2-n", type=int, default=500, help="frames of the v2 held-out set (its first n)")
    p.add_argument("--train-n", type=int, default=1400, help="v2 training frames (v1: 2,000 for the mix)")
    p.add_argument("--train-minutes", type=float, default=25.0, help="per fine-tune (CPU)")
    p.add_argument("--only", choices=["v2", "mix"], help="run this fine-tune and stop (no evaluation)")
    p.add_argument("--mix-runs", type=int, default=3, help="successive fine-tunes on the v1+v2 mix")
    p.add_argument("--skip-train", action="store_true", help="only evaluate (shipped + --model)")
    p.add_argument("--model", action="append", default=[], help="NAME=DIR: also evaluate this artefact")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--calibrate", type=Path, help="set this artefact's thresholds on --val folders and stop")
    p.add_argument("--val", type=Path, action="append", default=[], help="validation COCO folder")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.calibrate:
        print(calibrate(a.calibrate, a.val))
        return
    started = time.perf_counter()
    models: dict[str, Path] = {"kitchen-v1 (shipped, tuned on v1)": SHIPPED}
    if not a.skip_train:
        v1 = lambda n: training_set(a.work, "v1", n)  # noqa: E731
        v2 = lambda: training_set(a.work, "v2", a.train_n)  # noqa: E731
        m = a.train_minutes
        if a.only in (None, "v2"):
            models["fine-tuned on v2"] = fine_tune("v2", v2(), a.work / "ft-v2", m, 1.5e-3)
        if a.only in (None, "mix"):  # runs of at most `m` minutes each, every one from the one before
            last = fine_tune(
                "mix-1", v1(2000) + v2(), a.work / "ft-mix", m, 1.5e-3, crop=(320, 192), focus=0.4
            )
            models["fine-tuned on v1+v2, run 1"] = last
            for k in range(2, a.mix_runs + 1):
                last = fine_tune(f"mix-{k}", v1(1000) + v2(), a.work / f"ft-mix{k}", m, 1e-3, last)
                models[f"fine-tuned on v1+v2, run {k}"] = last
        if a.only:
            return
    for spec in a.model:
        name, _, path = spec.partition("=")
        models[name] = Path(path)
    cache = a.work / "heldout"
    sets = {
        "v1": heldout("v1", n=a.v1_n, out_dir=cache / f"v1-{a.v1_n}", workers=2),
        "v2": heldout("v2", n=a.v2_n, out_dir=cache / f"v2-{a.v2_n}", workers=2),
    }
    results: dict[str, dict] = {}
    for name, path in models.items():
        results[name] = {gen: score(path, d) for gen, d in sets.items()}
        print(
            f"{name}: v1 {results[name]['v1']['map50']:.3f}  v2 {results[name]['v2']['map50']:.3f}",
            flush=True,
        )
    print()
    print(tables(results))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    doc = {
        "sets": {g: str(d) for g, d in sets.items()},
        "models": {n: str(p) for n, p in models.items()},
        "results": results,
        "commit": commit,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads {a.threads}",
        "minutes": (time.perf_counter() - started) / 60,
    }
    (a.work / "cross_generator.json").write_text(json.dumps(doc, indent=2, default=float))
    print(f"\nwrote {a.work / 'cross_generator.json'}")


if __name__ == "__main__":
    main()
