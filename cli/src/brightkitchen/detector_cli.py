"""``brightkitchen detector …``: make data, train, evaluate, export and benchmark the model.

Thin typer wrappers over ``bk_detector.training.cli``; torch is imported only when a command runs.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Synthetic data, training, evaluation and export of the kitchen detector.",
                  no_args_is_help=True)


def _cli():  # type: ignore[no-untyped-def]
    from bk_detector.training import cli

    return cli


@app.command()
def synth(
    out_dir: Path = typer.Argument(..., help="Folder to write the COCO data set into."),
    n_images: int = typer.Option(1000, "--images", "-n", help="How many images to render."),
    seed: int = typer.Option(0, help="Random seed; a different seed gives a held-out set."),
    width: int = typer.Option(640, help="Image width in pixels."),
    height: int = typer.Option(360, help="Image height in pixels."),
) -> None:
    """Render synthetic kitchen images with boxes and person attributes (COCO format)."""
    path = _cli().synth(out_dir=str(out_dir), n_images=n_images, seed=seed, width=width, height=height)
    typer.echo(f"wrote {path}")


@app.command()
def train(
    train_dirs: list[Path] = typer.Argument(..., help="COCO folders (synthetic, or exported verdicts)."),
    val_dir: Path | None = typer.Option(None, help="COCO folder for the mAP curve."),
    out_dir: Path = typer.Option(Path("artifacts/kitchen"), help="Where the model artefact and plots go."),
    epochs: float = typer.Option(30.0, help="Passes over the training data."),
    max_minutes: float = typer.Option(0.0, help="Stop after this many minutes (0 = no limit)."),
    batch_size: int = typer.Option(128, help="Images per step."),
    lr: float = typer.Option(3e-3, help="Peak learning rate."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    init: Path | None = typer.Option(None, help="Fine-tune from this artefact (e.g. the shipped model)."),
    crop: str | None = typer.Option(None, help="Train on random WxH crops (e.g. 256x160): ~4x faster, "
                                    "the way to fine-tune on a CPU."),
    focus: float = typer.Option(0.0, min=0.0, max=1.0,
                                help="Share of samples centred on a phone, cigarette or rodent."),
    freeze_bn: bool = typer.Option(False, help="Keep BatchNorm statistics (small-batch fine-tuning)."),
) -> None:
    """Train the detector; saves weights, model card, and loss / mAP curves as PNG."""
    size = None
    if crop:
        import argparse

        try:
            size = _cli()._size(crop)
        except argparse.ArgumentTypeError as exc:
            raise typer.BadParameter(str(exc), param_hint="--crop") from None
    from bk_detector.training.train import CropTooLarge

    try:
        path = _cli().train(train_dirs=[str(d) for d in train_dirs],
                            val_dir=str(val_dir) if val_dir else None, out_dir=str(out_dir), epochs=epochs,
                            max_minutes=max_minutes,
                            batch_size=batch_size, lr=lr, device=device, init=str(init) if init else None,
                            crop=size, focus=focus, freeze_bn=freeze_bn)
    except CropTooLarge as exc:
        raise typer.BadParameter(str(exc), param_hint="--crop") from None
    typer.echo(f"model artefact: {path}")


@app.command("eval")
def evaluate(
    data_dir: Path = typer.Argument(..., help="A held-out COCO folder."),
    model_dir: Path | None = typer.Option(None, help="Artefact to evaluate (default: the shipped model)."),
    out_json: Path | None = typer.Option(None, help="Also write the report as JSON here."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
) -> None:
    """mAP@0.5 and per-class precision / recall, as a table (and JSON)."""
    _cli().eval(data_dir=str(data_dir), model_dir=str(model_dir) if model_dir else None,
                out_json=str(out_json) if out_json else None, device=device)


@app.command()
def export(
    model_dir: Path | None = typer.Option(None, help="Artefact to export (default: the shipped model)."),
    onnx: Path | None = typer.Option(None, help="Write an ONNX file here."),
    torchscript: Path | None = typer.Option(None, help="Write a TorchScript file here."),
) -> None:
    """Export the network with its box decoding to ONNX and/or TorchScript."""
    if not onnx and not torchscript:
        raise typer.BadParameter("give --onnx and/or --torchscript")
    for path in _cli().export(model_dir=str(model_dir) if model_dir else None,
                              onnx=str(onnx) if onnx else None,
                              torchscript=str(torchscript) if torchscript else None):
        typer.echo(f"wrote {path}")


def _registry(data_dir: Path | None):  # type: ignore[no-untyped-def]
    """The registry on the object store that BK_* settings name (S3/MinIO, or data_dir locally)."""
    from bk_detector.registry import ModelRegistry
    from bkcore.objstore import make_object_store
    from bkcore.settings import CoreSettings, load_settings

    overrides = {"data_dir": data_dir} if data_dir else {}
    settings = load_settings(CoreSettings, **overrides)
    return ModelRegistry(make_object_store(settings), settings.data_dir / "models")


@app.command()
def publish(
    model_dir: Path | None = typer.Option(None, help="Artefact to publish (default: the shipped model)."),
    name: str | None = typer.Option(None, help="Registry name (default: model.json's name)."),
    version: str | None = typer.Option(None, help="Registry version (default: model.json's version)."),
    data_dir: Path | None = typer.Option(None, help="Data dir (local object store); default BK_DATA_DIR."),
) -> None:
    """Publish a model artefact to the registry: models/<name>/<version>/ in the object store."""
    import asyncio

    from bk_detector.model.artifact import SHIPPED

    v = asyncio.run(_registry(data_dir).publish(model_dir or SHIPPED, name=name, version=version))
    typer.echo(f"published {v.name} {v.version} ({v.published_at})")


@app.command()
def versions(
    name: str = typer.Argument("kitchen-v1", help="Registry model name."),
    data_dir: Path | None = typer.Option(None, help="Data dir (local object store); default BK_DATA_DIR."),
) -> None:
    """List a model's published versions (newest last) with their held-out mAP@0.5."""
    import asyncio

    found = asyncio.run(_registry(data_dir).versions(name))
    if not found:
        typer.echo(f"no published versions of {name} (the detector serves its shipped weights)")
    for v in found:
        map50 = v.manifest.get("map50")
        typer.echo(f"{v.version:12s} {v.published_at}  mAP@0.5 {map50 if map50 is not None else '-'}")
