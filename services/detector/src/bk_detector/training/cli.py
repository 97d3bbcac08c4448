"""Entry points for `brightkitchen detector ...`: synth, train, eval, export, bench.

Plain functions with keyword arguments (the typer CLI wraps them); `python -m bk_detector.training.cli`
offers the same through argparse for machines without the full CLI installed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from bk_detector.model.artifact import ATTRIBUTES, LABELS, SHIPPED, load_artifact
from bk_detector.training.data import load_coco
from bk_detector.training.evaluate import best_thresholds, evaluate, format_table, write_report
from bk_detector.training.predict import ground_truth, predict_set
from bk_detector.training.train import TrainConfig
from bk_detector.training.train import train as run_train


def synth(
    *,
    out_dir: str,
    n_images: int = 1000,
    seed: int = 0,
    width: int = 640,
    height: int = 360,
    progress: bool = True,
    generator: str = "v1",
) -> Path:
    """Generate a synthetic COCO set with bk-synth: generator v1 (flat, eye level) or v2 (ceiling CCTV)."""
    from bksynth.coco import write_coco

    return write_coco(out_dir, n_images, seed, width, height, progress=progress, generator=generator)


def train(
    *,
    train_dirs: list[str],
    val_dir: str | None = None,
    out_dir: str = "artifacts/kitchen",
    epochs: float = 30.0,
    max_minutes: float = 0.0,
    max_steps: int = 0,
    batch_size: int = 128,
    lr: float = 3e-3,
    device: str = "auto",
    init: str | None = None,
    eval_every: int = 500,
    limit: int | None = None,
    progress: bool = True,
    input_width: int = 512,
    input_height: int = 288,
    crop: tuple[int, int] | None = None,
    focus: float = 0.0,
    freeze_bn: bool = False,
    giou_weight: float = 1.0,
    verdict_share: float = 0.5,
    warmup_steps: int = 300,
    freeze_backbone: bool = False,
    head_only: bool = False,
    distill: float = 0.0,
) -> Path:
    """Train (or fine-tune with init=artefact dir) on COCO folders and verdict exports; writes an
    artefact + plots.

    crop=(w, h) trains on random crops (fast on a CPU); focus is the share of samples centred on a
    phone, cigarette or rodent; freeze_bn keeps BatchNorm statistics (small-batch fine-tuning);
    verdict_share is the share of each batch drawn from verdict exports (the rest replays the COCO
    folders, so what the model knows is rehearsed while it learns the supervisors' corrections);
    distill > 0 makes the replay frames match the starting model's own outputs instead of their labels
    (learning without forgetting: docs/detector-model.md, "The verdict loop")."""
    return run_train(
        TrainConfig(
            train_dirs=train_dirs,
            val_dir=val_dir,
            out_dir=out_dir,
            epochs=epochs,
            max_minutes=max_minutes,
            max_steps=max_steps,
            batch_size=batch_size,
            lr=lr,
            device=device,
            init=init,
            eval_every=eval_every,
            limit=limit,
            progress=progress,
            input_width=input_width,
            input_height=input_height,
            crop_width=crop[0] if crop else 0,
            crop_height=crop[1] if crop else 0,
            focus=focus,
            freeze_bn=freeze_bn,
            giou_weight=giou_weight,
            verdict_share=verdict_share,
            warmup_steps=warmup_steps,
            freeze_backbone=freeze_backbone,
            head_only=head_only,
            distill=distill,
        )
    )


def eval(
    *,
    data_dir: str,
    model_dir: str | None = None,
    out_json: str | None = None,
    calibrate: bool = False,
    device: str = "auto",
    limit: int | None = None,
) -> dict:
    """mAP@0.5 per class, P/R at the model's thresholds, attribute accuracy; calibrate=True first sets
    the per-class thresholds (max F1 on this set) and writes them into model.json."""
    path = Path(model_dir) if model_dir else SHIPPED
    model, meta = load_artifact(path)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    model = model.to(device).to(memory_format=torch.channels_last)
    data = load_coco(data_dir, LABELS, ATTRIBUTES, meta["input_width"], meta["input_height"], limit)
    preds, gts = predict_set(model, data, LABELS, ATTRIBUTES, device), ground_truth(data, LABELS, ATTRIBUTES)
    if calibrate:
        meta["thresholds"] = best_thresholds(preds, gts, LABELS)
    report = evaluate(preds, gts, LABELS, ATTRIBUTES, meta["thresholds"])
    print(format_table(report))
    if calibrate:
        meta["metrics"] = {"calibration_set": data_dir, "map50": report["map50"]}
        (path / "model.json").write_text(json.dumps(meta, indent=2))
    if out_json:
        write_report(report, Path(out_json))
    return report


def export(
    *, model_dir: str | None = None, onnx: str | None = None, torchscript: str | None = None
) -> list[Path]:
    """Write ONNX and/or TorchScript files of network + decoding (uint8 NCHW in)."""
    from bk_detector.model.export import export_onnx, export_torchscript

    src = Path(model_dir) if model_dir else None
    out = []
    if onnx:
        out.append(export_onnx(Path(onnx), src))
    if torchscript:
        out.append(export_torchscript(Path(torchscript), src))
    return out


def bench(
    *,
    model_dir: str | None = None,
    batches: tuple[int, ...] = (1, 8, 32, 128),
    iters: int = 50,
    half: bool = True,
) -> dict[int, float]:
    """Model-only throughput (images/s: forward + decode, input already on the device)."""
    from bk_detector.model.runtime import ModelRuntime

    rt = ModelRuntime.load(Path(model_dir) if model_dir else None, half=half)
    res = {}
    for b in batches:
        x = torch.randint(
            0, 255, (b, 3, rt.input_height, rt.input_width), dtype=torch.uint8, device=rt.device
        )
        for _ in range(5):
            rt.predict_tensor(x)
        if rt.device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(iters):
            rt.predict_tensor(x)
        if rt.device.startswith("cuda"):
            torch.cuda.synchronize()
        res[b] = b * iters / (time.perf_counter() - t)
        print(f"batch {b:4d}: {res[b]:9.0f} img/s ({rt.device}, {rt.precision})")
    return res


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH like 256x160, got {text!r}") from None
    if w % 32 or h % 32 or w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"crop sides must be positive multiples of 32, got {text!r}")
    return w, h


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bk_detector.training.cli", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("synth", help="generate a synthetic COCO set")
    s.add_argument("out_dir")
    s.add_argument("-n", "--n-images", type=int, default=1000)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--width", type=int, default=640)
    s.add_argument("--height", type=int, default=360)
    s.add_argument("--generator", choices=["v1", "v2"], default="v1", help="v1 flat, v2 ceiling CCTV")
    t = sub.add_parser("train", help="train from COCO folders and verdict exports")
    t.add_argument("train_dirs", nargs="+")
    t.add_argument("--val-dir")
    t.add_argument("--out-dir", default="artifacts/kitchen")
    t.add_argument("--epochs", type=float, default=30.0)
    t.add_argument("--max-minutes", type=float, default=0.0)
    t.add_argument("--max-steps", type=int, default=0)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--eval-every", type=int, default=500)
    t.add_argument("--init")
    t.add_argument("--input-width", type=int, default=512)
    t.add_argument("--input-height", type=int, default=288)
    t.add_argument("--device", default="auto")
    t.add_argument("--crop", type=_size, help="train on random WxH crops, e.g. 256x160")
    t.add_argument("--focus", type=float, default=0.0, help="share of samples centred on small classes")
    t.add_argument("--freeze-bn", action="store_true")
    t.add_argument("--giou-weight", type=float, default=1.0)
    t.add_argument("--verdict-share", type=float, default=0.5, help="share of each batch from verdicts")
    t.add_argument("--warmup-steps", type=int, default=300)
    t.add_argument("--freeze-backbone", action="store_true", help="train the neck and heads only")
    t.add_argument("--head-only", action="store_true", help="train the output layer only")
    t.add_argument("--distill", type=float, default=0.0, help="replay matches the start model")
    e = sub.add_parser("eval", help="evaluate an artefact on a COCO folder")
    e.add_argument("data_dir")
    e.add_argument("--model-dir")
    e.add_argument("--out-json")
    e.add_argument("--calibrate", action="store_true")
    x = sub.add_parser("export", help="export ONNX / TorchScript")
    x.add_argument("--model-dir")
    x.add_argument("--onnx")
    x.add_argument("--torchscript")
    b = sub.add_parser("bench", help="model-only throughput")
    b.add_argument("--model-dir")
    b.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 128])
    a = vars(p.parse_args(argv))
    cmd = a.pop("cmd")
    if cmd == "bench":
        a["batches"] = tuple(a["batches"])
    {"synth": synth, "train": train, "eval": eval, "export": export, "bench": bench}[cmd](**a)


if __name__ == "__main__":
    main()
