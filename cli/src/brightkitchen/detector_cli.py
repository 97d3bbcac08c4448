"""``brightkitchen detector …``: make data, train, evaluate, export, benchmark and publish the model
(the shipped one, a retrain, or a bring-your-own ONNX model with its label map).

Thin typer wrappers over ``bk_detector.training.cli``; torch is imported only when a command runs.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="Synthetic data, training, evaluation and export of the kitchen detector.", no_args_is_help=True
)


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
    generator: str = typer.Option(
        "v1",
        help="v1: flat eye-level kitchens (what kitchen-v1 was tuned on); "
        "v2: ceiling-mounted CCTV (wide-angle, IR nights, H.264).",
    ),
) -> None:
    """Render synthetic kitchen images with boxes and person attributes (COCO format)."""
    from bksynth.generators import GENERATORS

    if generator not in GENERATORS:
        raise typer.BadParameter(f"expected one of {', '.join(GENERATORS)}", param_hint="--generator")
    path = _cli().synth(
        out_dir=str(out_dir), n_images=n_images, seed=seed, width=width, height=height, generator=generator
    )
    typer.echo(f"wrote {path}")


@app.command()
def train(
    train_dirs: list[Path] = typer.Argument(
        ...,
        help="COCO folders (synthetic) and verdict exports "
        "(a folder with verdicts.json, or the export's zip).",
    ),
    val_dir: Path | None = typer.Option(None, help="COCO folder for the mAP curve."),
    out_dir: Path = typer.Option(Path("artifacts/kitchen"), help="Where the model artefact and plots go."),
    epochs: float = typer.Option(30.0, help="Passes over the training data."),
    max_minutes: float = typer.Option(0.0, help="Stop after this many minutes (0 = no limit)."),
    batch_size: int = typer.Option(128, help="Images per step."),
    lr: float = typer.Option(3e-3, help="Peak learning rate."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    init: Path | None = typer.Option(None, help="Fine-tune from this artefact (e.g. the shipped model)."),
    crop: str | None = typer.Option(
        None, help="Train on random WxH crops (e.g. 256x160): ~4x faster, the way to fine-tune on a CPU."
    ),
    focus: float = typer.Option(
        0.0, min=0.0, max=1.0, help="Share of samples centred on a phone, cigarette or rodent."
    ),
    freeze_bn: bool = typer.Option(False, help="Keep BatchNorm statistics (small-batch fine-tuning)."),
    max_steps: int = typer.Option(0, help="Stop after this many steps (0 = from --epochs)."),
    verdict_share: float = typer.Option(
        0.5,
        min=0.0,
        max=1.0,
        help="Share of each batch drawn from verdict exports; the rest "
        "replays the COCO folders, so the model keeps what it knows.",
    ),
    warmup_steps: int = typer.Option(300, min=0, help="Linear learning-rate warm-up, in steps."),
    freeze_backbone: bool = typer.Option(
        False,
        help="Train the neck and heads only (a verdict "
        "fine-tune: what the model knows moves least; ~2x faster).",
    ),
    head_only: bool = typer.Option(False, help="Train the output layer only."),
    distill: float = typer.Option(
        0.0,
        min=0.0,
        help="Fine-tuning on verdicts: the replay frames match the "
        "starting model's own outputs (weight), so it keeps what it knew.",
    ),
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
        path = _cli().train(
            train_dirs=[str(d) for d in train_dirs],
            val_dir=str(val_dir) if val_dir else None,
            out_dir=str(out_dir),
            epochs=epochs,
            max_minutes=max_minutes,
            batch_size=batch_size,
            lr=lr,
            device=device,
            init=str(init) if init else None,
            crop=size,
            focus=focus,
            freeze_bn=freeze_bn,
            max_steps=max_steps,
            verdict_share=verdict_share,
            warmup_steps=warmup_steps,
            freeze_backbone=freeze_backbone,
            head_only=head_only,
            distill=distill,
        )
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
    _cli().eval(
        data_dir=str(data_dir),
        model_dir=str(model_dir) if model_dir else None,
        out_json=str(out_json) if out_json else None,
        device=device,
    )


@app.command()
def export(
    model_dir: Path | None = typer.Option(None, help="Artefact to export (default: the shipped model)."),
    onnx: Path | None = typer.Option(None, help="Write an ONNX file here."),
    torchscript: Path | None = typer.Option(None, help="Write a TorchScript file here."),
) -> None:
    """Export the network with its box decoding to ONNX and/or TorchScript."""
    if not onnx and not torchscript:
        raise typer.BadParameter("give --onnx and/or --torchscript")
    for path in _cli().export(
        model_dir=str(model_dir) if model_dir else None,
        onnx=str(onnx) if onnx else None,
        torchscript=str(torchscript) if torchscript else None,
    ):
        typer.echo(f"wrote {path}")


def _registry(data_dir: Path | None):  # type: ignore[no-untyped-def]
    """The registry on the object store that BK_* settings name (S3/MinIO, or data_dir locally)."""
    from bk_detector.registry import ModelRegistry
    from bkcore.objstore import make_object_store
    from bkcore.settings import CoreSettings, load_settings

    overrides = {"data_dir": data_dir} if data_dir else {}
    settings = load_settings(CoreSettings, **overrides)
    return ModelRegistry(make_object_store(settings), settings.data_dir / "models")


def _byo_dir(onnx: Path | None, label_map: Path | None, model_dir: Path | None, tmp: Path) -> Path | None:
    """A bring-your-own artefact directory (model.onnx + label_map.json) from --onnx/--label-map,
    staged in ``tmp``; None when neither is given."""
    import shutil

    if onnx is None and label_map is None:
        return None
    if onnx is None or label_map is None:
        raise typer.BadParameter("a bring-your-own model needs both --onnx and --label-map")
    if model_dir is not None:
        raise typer.BadParameter("give --model-dir or --onnx/--label-map, not both")
    for path, what in ((onnx, "--onnx"), (label_map, "--label-map")):
        if not path.is_file():
            raise typer.BadParameter(f"{path} is not a file", param_hint=what)
    shutil.copyfile(onnx, tmp / "model.onnx")
    shutil.copyfile(label_map, tmp / "label_map.json")
    return tmp


def _refused(problems: list[str]) -> typer.Exit:
    typer.echo("model refused:", err=True)
    for problem in problems:
        typer.echo(f"  - {problem}", err=True)
    return typer.Exit(1)


@app.command()
def publish(
    model_dir: Path | None = typer.Option(None, help="Artefact to publish (default: the shipped model)."),
    onnx: Path | None = typer.Option(
        None,
        help="A bring-your-own ONNX model (YOLOv8/YOLO11, YOLOv5 or "
        "KitchenNet export layout); needs --label-map.",
    ),
    label_map: Path | None = typer.Option(
        None,
        help="The ONNX model's label map (JSON): layout, input "
        "size, class -> concept, thresholds (docs/detector-model.md).",
    ),
    name: str | None = typer.Option(None, help="Registry name (default: model.json's / the label map's)."),
    version: str | None = typer.Option(
        None, help="Registry version (default: model.json's / the label map's)."
    ),
    data_dir: Path | None = typer.Option(None, help="Data dir (local object store); default BK_DATA_DIR."),
    verdicts: Path | None = typer.Option(
        None, help="Verdict export (folder or zip): a retrained model must gain on its held-out captures."
    ),
    heldout: list[Path] = typer.Option(
        [],
        help="A frozen held-out COCO folder (repeatable); default: "
        "the sets this repository carries (synthetic v1, v2, real photos).",
    ),
    max_map_loss: float = typer.Option(0.01, min=0.0, help="mAP@0.5 a held-out set may lose."),
    device: str = typer.Option("cpu", help="Where the gate scores the two models: cpu or cuda."),
) -> None:
    """Publish a model artefact to the registry: models/<name>/<version>/ in the object store.

    A KitchenNet artefact (weights.pt: the shipped model and its retrains) goes through the promotion
    gate: it is scored beside the model it would replace (the registry's latest, else the shipped
    weights) on the frozen held-out sets and the verdict set, and published only if it loses no more
    than --max-map-loss mAP on each held-out set and gains on the verdicts. The table (old vs new,
    per set) is printed either way; a refused candidate exits 1. The baseline's own weights (e.g. the
    shipped model, published first) need no judging.
    A bring-your-own ONNX model is checked first (opens, runs a frame, matches its label map, covers
    the rules) and refused with every reason by name."""
    import asyncio
    import tempfile

    from bk_detector.model.artifact import SHIPPED
    from bk_detector.registry import ModelRefused, RegistryError

    with tempfile.TemporaryDirectory(prefix="bk-byo-") as tmp:
        byo = _byo_dir(onnx, label_map, model_dir, Path(tmp))
        src = byo or model_dir or SHIPPED
        try:
            if (src / "weights.pt").is_file():  # KitchenNet: the gate can score it
                v = _publish_gated(src, name, version, data_dir, verdicts, heldout, max_map_loss, device)
            else:
                v = asyncio.run(_registry(data_dir).publish(src, name=name, version=version))
        except ModelRefused as exc:
            raise _refused(exc.problems) from None
        except RegistryError as exc:  # a version already published with other bytes, a bad name
            typer.echo(f"not published: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"published {v.name} {v.version} ({v.published_at})")


def _publish_gated(
    candidate: Path,
    name: str | None,
    version: str | None,
    data_dir: Path | None,
    verdicts: Path | None,
    heldout: list[Path],
    max_map_loss: float,
    device: str,
):  # type: ignore[no-untyped-def]
    """``publish`` of a KitchenNet artefact through the promotion gate (``training.promote``)."""
    import asyncio
    import json

    from bk_detector.model.artifact import SHIPPED
    from bk_detector.training.gate import GatePolicy, format_table
    from bk_detector.training.promote import GateRefused, HeldoutSet, baseline_for, frozen_sets, publish_gated

    registry = _registry(data_dir)
    reg_name = name or str(json.loads((candidate / "model.json").read_text()).get("name", ""))
    sets = [HeldoutSet(p.name, p) for p in heldout] or frozen_sets()

    async def run():  # type: ignore[no-untyped-def]
        baseline, base_version = await baseline_for(registry, reg_name, SHIPPED)
        judged = ", ".join(s.name for s in sets) or "no held-out set"
        judged += " + verdicts" if verdicts else ""
        typer.echo(f"baseline: {reg_name} {base_version}; judged on {judged}")
        return await publish_gated(
            registry,
            candidate,
            baseline=baseline,
            sets=sets,
            verdicts=verdicts,
            name=name,
            version=version,
            policy=GatePolicy(max_map_loss=max_map_loss),
            device=device,
        )

    try:
        decision, v = asyncio.run(run())
    except GateRefused as exc:
        typer.echo(format_table(exc.decision))
        raise typer.Exit(1) from None
    typer.echo(format_table(decision) if decision else "same weights as the baseline: nothing to judge")
    return v


@app.command("check-model")
def check_model(
    onnx: Path = typer.Option(..., help="The bring-your-own ONNX model."),
    label_map: Path = typer.Option(..., help="Its label map (JSON)."),
) -> None:
    """Check a bring-your-own ONNX model and label map as publish would, without publishing."""
    import tempfile

    from bk_detector.model.byo import check

    with tempfile.TemporaryDirectory(prefix="bk-byo-") as tmp:
        lm, problems = check(_byo_dir(onnx, label_map, None, Path(tmp)))  # type: ignore[arg-type]
    if problems or lm is None:
        raise _refused(problems)
    typer.echo(
        f"ok: {lm.layout} {lm.input_width}x{lm.input_height}, labels {', '.join(lm.labels)}; "
        f"attributes {', '.join(lm.attribute_names) or '-'}; rules {', '.join(lm.rules)}"
    )


@app.command()
def rollback(
    name: str = typer.Argument("kitchen-v1", help="Registry model name."),
    data_dir: Path | None = typer.Option(None, help="Data dir (local object store); default BK_DATA_DIR."),
    detector: list[str] = typer.Option(
        [],
        help="A running detector's HTTP base URL to switch now "
        "(repeatable); each serves the restored version from its next batch.",
    ),
    token: str = typer.Option(
        "",
        envvar="BK_TOKEN",
        help="Bearer token for --detector: the operator's (a platform admin of BK_OPERATOR_TENANT, "
        "or a service identity holding models:admin).",
    ),
) -> None:
    """Withdraw the registry's latest version and make the one before it latest again; new pods load
    it, and each --detector switches to it between two batches (no frame dropped). Switching a
    detector is the operator's alone: the pool serves every tenant (docs/security.md, roles)."""
    import asyncio

    import httpx

    from bk_detector.registry import RegistryError

    try:
        withdrawn, restored = asyncio.run(_registry(data_dir).rollback(name))
    except RegistryError as exc:  # nothing published, or nothing earlier to return to
        typer.echo(f"not rolled back: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{name}: withdrew {withdrawn}; latest is {restored}")
    failed = 0
    for url in detector:
        try:
            r = httpx.post(
                f"{url.rstrip('/')}/model/activate",
                json={"version": restored},
                timeout=120.0,
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as exc:
            typer.echo(f"{url}: not switched ({exc!r})", err=True)
            failed += 1
            continue
        if r.status_code != 200:
            typer.echo(f"{url}: not switched ({r.status_code}: {_detail(r)})", err=True)
            failed += 1
        else:
            typer.echo(f"{url}: serving {restored}")
    if failed:
        raise typer.Exit(1)


def _detail(r) -> str:  # type: ignore[no-untyped-def]
    """A refusal's reason as the service words it (a 403 names the setting), else the raw body."""
    try:
        body = r.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail if isinstance(detail, str) else r.text[:500]


@app.command()
def versions(
    name: str = typer.Argument("kitchen-v1", help="Registry model name."),
    data_dir: Path | None = typer.Option(None, help="Data dir (local object store); default BK_DATA_DIR."),
) -> None:
    """List a model's published versions (newest last) with their held-out mAP@0.5."""
    import asyncio

    registry = _registry(data_dir)

    async def read():  # type: ignore[no-untyped-def]
        return await registry.versions(name), await registry.latest(name), await registry.withdrawn(name)

    found, latest, withdrawn = asyncio.run(read())
    if not found:
        typer.echo(f"no published versions of {name} (the detector serves its shipped weights)")
    for v in found:
        map50 = v.manifest.get("map50")
        mark = "  latest" if v.version == latest else ""
        mark += "  withdrawn (rolled back)" if v.version in withdrawn else ""
        typer.echo(f"{v.version:12s} {v.published_at}  mAP@0.5 {map50 if map50 is not None else '-'}{mark}")


@app.command()
def detect(
    paths: list[Path] = typer.Argument(..., help="Pictures (JPEG/PNG, any size), video files, or folders."),
    out: Path = typer.Option(
        ..., "--out", help="Folder for the annotated pictures (a JPEG per picture or video frame)."
    ),
    json_file: Path | None = typer.Option(  # "\\[": a literal bracket in rich markup
        None,
        "--json",
        help='Also write every detection here: {"<file name>": \\[{"label", "box": \\[x, y, '
        'w, h] in the picture\'s pixels, "score", "attributes"}]}; a video frame is "<file name>#<frame, 6 '
        'digits>".',
    ),
    every: int = typer.Option(1, "--every", min=1, help="In videos, run every N-th frame (from frame 0)."),
    kind: str | None = typer.Option(
        None,
        "--kind",
        help="two_stage (a real person detector + our kitchen model; the default) or "
        "single_stage (our kitchen model alone, as the embedded demo serves it); default BK_MODEL_KIND "
        "when it is set.",
    ),
    model_dir: Path | None = typer.Option(None, help="Kitchen model artefact (default: the shipped one)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
) -> None:
    """Run the detector on your own pictures and videos: annotated pictures to --out, boxes to --json.

    A file that cannot be read is reported and skipped; the others are still done (exit code 1 then).
    """
    import os

    from bk_detector.filedetect import detect_files
    from bk_detector.model.runtime import ModelRuntime

    kind = kind or os.environ.get("BK_MODEL_KIND") or "two_stage"
    if kind not in ("two_stage", "single_stage"):
        raise typer.BadParameter(f"two_stage or single_stage, not {kind!r}", param_hint="--kind")
    model = ModelRuntime.load(model_dir, device=device, kind=kind)
    results, failures = detect_files(model, paths, out, every=every, json_path=json_file)
    n = sum(len(v) for v in results.values())
    typer.echo(
        f"{len(results)} pictures/frames, {n} detections ({kind}, {model.name} {model.version}); "
        f"annotated pictures in {out}" + (f"; JSON in {json_file}" if json_file else "")
    )
    if failures:
        typer.echo(f"{len(failures)} file(s) could not be read:", err=True)
        for f in failures:
            typer.echo(f"  {f}", err=True)
        raise typer.Exit(1)
