"""Train KitchenNet from COCO folders; schedule by steps or wall-clock, whichever ends first."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from bk_detector.model.artifact import ATTRIBUTES, LABELS, build, default_meta, save_artifact
from bk_detector.training.data import Supervision, TensorSet, concat, load_coco
from bk_detector.training.evaluate import evaluate
from bk_detector.training.plots import plot_curves
from bk_detector.training.predict import ground_truth, predict_set
from bk_detector.training.targets import detection_loss, distillation_loss
from bk_detector.training.verdicts import HOLDOUT, is_export, load_verdicts


@dataclass
class TrainConfig:
    train_dirs: list[str]
    val_dir: str | None = None
    out_dir: str = "artifacts/kitchen"
    input_width: int = 512  # 16:9-ish, multiples of 32; a cigarette is still ~6 px long here
    input_height: int = 288
    batch_size: int = 128
    epochs: float = 30.0
    max_minutes: float = 0.0  # 0 = no wall-clock limit; else the cosine schedule ends on time
    max_steps: int = 0  # 0 = from epochs
    lr: float = 3e-3
    weight_decay: float = 5e-4
    eval_every: int = 500
    device: str = "auto"
    seed: int = 0
    init: str | None = None  # fine-tune from an artefact directory
    # Train on random crops of this size (0 = whole frames): the net is fully convolutional, so a
    # quarter-size crop trains the same filters ~4x faster, which makes CPU fine-tuning practical.
    crop_width: int = 0
    crop_height: int = 0
    # Share of samples drawn from frames holding a small, rare class (phone, cigarette, rodent), with
    # the crop placed around one of them; 0 = uniform sampling.
    focus: float = 0.0
    freeze_bn: bool = False  # keep BatchNorm statistics (fine-tuning with small batches)
    # Train the neck and heads only (stem and stages fixed, BatchNorm included): a verdict fine-tune
    # changes how features are read, not what they are, so what the model knows moves least; and
    # the backward pass stops at the neck, which makes a CPU step about twice as fast.
    freeze_backbone: bool = False
    # Train the output layer only (the 1x1 convolution that reads classes, boxes and attributes off
    # the features): the smallest change that can still learn how a new camera looks.
    head_only: bool = False
    giou_weight: float = 1.0
    # Verdict exports among train_dirs: each batch draws this share from them and the rest from the
    # COCO (replay) folders, so what the model already knows keeps being rehearsed; the held-out
    # share of the captures (by case id) is never trained on: the promotion gate judges on it.
    verdict_share: float = 0.5
    verdict_holdout: float = HOLDOUT
    warmup_steps: int = 300  # linear learning-rate warm-up (a few-step fine-tune wants fewer)
    # Fine-tuning (init) on verdicts: weight of matching the starting model's own outputs on the
    # replay frames (learning without forgetting), which then replace those frames' labels. Labels
    # move a converged model a little with every small, noisy batch (it is not at their optimum for
    # any one batch); its own answers are, so replay pulls only against what the verdicts change.
    distill: float = 0.0
    limit: int | None = None
    progress: bool = True
    curves: dict = field(default_factory=dict)


def _flip(boxes: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    fb = torch.stack([1 - boxes[..., 2], boxes[..., 1], 1 - boxes[..., 0], boxes[..., 3]], -1)
    return torch.where(flip[:, None, None], fb, boxes)


def _augment(
    x: torch.Tensor, boxes: torch.Tensor, sup: Supervision | None = None
) -> tuple[torch.Tensor, torch.Tensor, Supervision | None]:
    """Per-sample flip and colour jitter on the device (uint8 in, float 0..255 out); labelled
    regions flip with their frame."""
    n = x.shape[0]
    x = x.float()
    flip = torch.rand(n, device=x.device) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    boxes = _flip(boxes, flip)
    if sup is not None:
        sup = Supervision(sup.full, _flip(sup.regions, flip), sup.region_labels, sup.kinds, sup.box_known)
    gain = torch.empty(n, 3, 1, 1, device=x.device).uniform_(0.85, 1.15) * torch.empty(
        n, 1, 1, 1, device=x.device
    ).uniform_(0.7, 1.3)
    mean = x.mean((1, 2, 3), keepdim=True)
    contrast = torch.empty(n, 1, 1, 1, device=x.device).uniform_(0.7, 1.3)
    x = ((x - mean) * contrast + mean) * gain
    return x.clamp(0, 255), boxes, sup


FOCUS_LABELS = ("phone", "cigarette", "rodent")
WHOLE = 0.9  # share of a partly labelled frame's object (or bag) a crop must hold to train it


def _crop(data: TensorSet, idx: torch.Tensor, cw: int, ch: int, focus: torch.Tensor) -> TensorSet:
    """Crop each sampled frame to cw x ch. Where a sample's row of focus (n,M bool) marks boxes, the
    crop holds a random one of them; others are placed uniformly. Boxes are clipped to the crop and
    an object whose centre falls outside is dropped.

    A partly labelled frame (a verdict) is first scaled down until the crop covers nearly all of it,
    and the crop holds one of its labelled objects or regions: its few labels are the whole point of
    it, and an object trains only if the crop holds (nearly) all of it. A cut-off person would teach
    a peak where no person's centre is while nothing else in the frame says otherwise; what is cut
    trains neither way."""
    _, _, h, w = data.images.shape
    boxes, labels = data.boxes[idx].clone(), data.labels[idx].clone()
    sup = data.supervision.take(idx) if data.supervision is not None else None
    n = len(idx)
    dev = idx.device
    partial = ~sup.full if sup is not None else torch.zeros(n, dtype=torch.bool, device=dev)
    cover = max(cw / w, ch / h)
    fw = torch.where(partial, round(w * cover), w)  # each sample's frame size before the crop
    fh = torch.where(partial, round(h * cover), h)
    ox = (torch.rand(n, device=dev) * (fw - cw + 1)).long()
    oy = (torch.rand(n, device=dev) * (fh - ch + 1)).long()
    anchors, has = boxes[:, 0], torch.zeros(n, dtype=torch.bool, device=dev)
    if sup is not None:  # partly labelled: around a random labelled object or region
        spots = torch.cat([boxes, sup.regions], 1)
        marked = torch.cat([labels >= 0, sup.region_labels >= 0], 1) & partial[:, None]
        has = marked.any(1)
        pick = torch.multinomial(marked.float() + (~has)[:, None].float(), 1).squeeze(1)
        anchors = spots[torch.arange(n, device=dev), pick]
    if focus.any():
        fhas = focus.any(1)
        pick = torch.multinomial(focus.float() + (~fhas)[:, None].float(), 1).squeeze(1)  # a focus box
        anchors = torch.where(fhas[:, None], boxes[torch.arange(n, device=dev), pick], anchors)
        has = has | fhas
    if has.any():
        b = anchors
        # origin = centre - u * (side - 1), floored: the centre lands at [0, side) inside the crop
        fx = ((b[:, 0] + b[:, 2]) / 2 * fw - torch.rand(n, device=dev) * (cw - 1)).floor().long()
        fy = ((b[:, 1] + b[:, 3]) / 2 * fh - torch.rand(n, device=dev) * (ch - 1)).floor().long()
        ox = torch.where(has, torch.minimum(fx.clamp(min=0), fw - cw), ox)
        oy = torch.where(has, torch.minimum(fy.clamp(min=0), fh - ch), oy)
    crops = []
    for i, x, y, scaled in zip(idx.tolist(), ox.tolist(), oy.tolist(), partial.tolist(), strict=True):
        frame = data.images[i]
        if scaled:
            frame = (
                torch.nn.functional.interpolate(
                    frame[None].float(),
                    (round(h * cover), round(w * cover)),
                    mode="bilinear",
                    antialias=True,
                    align_corners=False,
                )[0]
                .round()
                .clamp(0, 255)
                .to(torch.uint8)
            )
        crops.append(frame[:, y : y + ch, x : x + cw])
    images = torch.stack(crops)
    boxes, centred, whole = _into_crop(boxes, ox, oy, cw, ch, fw, fh)
    inside = torch.where(partial[:, None], whole >= WHOLE, centred)
    labels = torch.where((labels >= 0) & inside, labels, -1)
    if sup is not None:
        regions, _, share = _into_crop(sup.regions, ox, oy, cw, ch, fw, fh)
        keep = torch.where(sup.kinds == Supervision.BAG, share >= WHOLE, share > 0)  # a bag must stay whole
        region_labels = torch.where((sup.region_labels >= 0) & keep, sup.region_labels, -1)
        sup = Supervision(sup.full, regions, region_labels, sup.kinds, sup.box_known)
    return TensorSet(images, boxes, labels, data.attributes[idx], sup)


def _into_crop(
    boxes: torch.Tensor,
    ox: torch.Tensor,
    oy: torch.Tensor,
    cw: int,
    ch: int,
    fw: torch.Tensor,
    fh: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Normalised boxes of whole frames (each fw x fh pixels) -> (boxes clipped to each crop, whose
    centre is inside it, the share of its area inside it)."""
    px = boxes[..., [0, 2]] * fw[:, None, None] - ox[:, None, None]
    py = boxes[..., [1, 3]] * fh[:, None, None] - oy[:, None, None]
    ccx, ccy = px.mean(-1), py.mean(-1)
    centred = (ccx >= 0) & (ccx < cw) & (ccy >= 0) & (ccy < ch)
    cx, cy = px.clamp(0, cw), py.clamp(0, ch)
    area = ((px[..., 1] - px[..., 0]) * (py[..., 1] - py[..., 0])).clamp(min=1e-9)
    share = (cx[..., 1] - cx[..., 0]) * (cy[..., 1] - cy[..., 0]) / area
    out = torch.stack([cx[..., 0] / cw, cy[..., 0] / ch, cx[..., 1] / cw, cy[..., 1] / ch], -1)
    return out, centred, share


def _freeze_backbone(model: torch.nn.Module) -> None:
    for part in (model.stem, model.stages):
        part.eval()
        for p in part.parameters():
            p.requires_grad_(False)


def _head_only(model: torch.nn.Module) -> None:
    for name, part in model.named_children():
        if name != "out":
            part.eval()
            part.requires_grad_(False)


def _freeze_bn(model: torch.nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)


class CropTooLarge(ValueError):
    """The training crop does not fit in the model's input."""


def train(cfg: TrainConfig) -> Path:
    if cfg.crop_width > cfg.input_width or cfg.crop_height > cfg.input_height:
        raise CropTooLarge(
            f"crop {cfg.crop_width}x{cfg.crop_height} is larger than the input "
            f"{cfg.input_width}x{cfg.input_height}"
        )
    torch.manual_seed(cfg.seed)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    cuda = device.startswith("cuda")
    if cuda:
        torch.backends.cudnn.benchmark = True
    meta = default_meta(cfg.input_width, cfg.input_height)
    t0 = time.time()
    size = (cfg.input_width, cfg.input_height)
    replay = [load_coco(d, LABELS, ATTRIBUTES, *size, cfg.limit) for d in cfg.train_dirs if not is_export(d)]
    verdicts = [
        load_verdicts(d, LABELS, ATTRIBUTES, *size, split="train", holdout=cfg.verdict_holdout).tensors
        for d in cfg.train_dirs
        if is_export(d)
    ]
    data = concat(replay + verdicts).to(device)
    n_replay = sum(len(x) for x in replay)  # replay frames first, then the verdicts' captures
    n_verdicts = len(data) - n_replay
    if not len(data):
        raise ValueError("no training images: the folders hold none (and verdict exports only held-out ones)")
    val = (
        load_coco(cfg.val_dir, LABELS, ATTRIBUTES, cfg.input_width, cfg.input_height, cfg.limit)
        if cfg.val_dir
        else None
    )
    print(f"loaded {n_replay} replay + {n_verdicts} verdict images in {time.time() - t0:.1f}s on {device}")
    model = build(meta)
    if cfg.init:
        from bk_detector.model.artifact import load_artifact

        init_model, init_meta = load_artifact(Path(cfg.init))
        model.load_state_dict(init_model.state_dict())
        # A fine-tune keeps its parent's name and calibrated thresholds; its metrics are its own.
        meta.update(
            name=init_meta.get("name", meta["name"]),
            version=f"{init_meta.get('version', '0')}-ft",
            thresholds=init_meta.get("thresholds", meta["thresholds"]),
        )
        meta["parent"] = {"name": init_meta.get("name"), "version": init_meta.get("version")}
    model = model.to(device).to(memory_format=torch.channels_last).train()
    if cfg.freeze_bn:
        _freeze_bn(model)
    if cfg.freeze_backbone:
        _freeze_backbone(model)
    if cfg.head_only:
        _head_only(model)
    teacher = None
    if cfg.distill > 0 and cfg.init:  # the starting model, frozen: what it says is what it knew
        teacher = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay
    )
    focus_ids = torch.tensor([LABELS.index(c) for c in FOCUS_LABELS], device=device)
    focus_on = torch.isin(data.labels, focus_ids)  # N,M: boxes of the small, rare classes
    focus_on[n_replay:] = False  # verdict captures are cropped around their own labels
    focus_frames = focus_on.any(1).nonzero().squeeze(1)
    per_batch = round(cfg.batch_size * cfg.verdict_share) if n_verdicts and n_replay else 0
    n_replay_batch = cfg.batch_size - per_batch
    cropping = cfg.crop_width > 0 and cfg.crop_height > 0
    steps = cfg.max_steps or max(1, int(cfg.epochs * len(data) / cfg.batch_size))
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    curves: dict[str, list] = {"step": [], "loss": [], "eval_step": [], "map50": []}
    start = time.time()
    bar = tqdm(total=steps, disable=not cfg.progress, desc="train", mininterval=2.0)
    step, running = 0, None
    while True:
        elapsed = (time.time() - start) / 60
        progress = max(step / steps, elapsed / cfg.max_minutes if cfg.max_minutes else 0.0)
        if progress >= 1.0:
            break
        warm = min(1.0, (step + 1) / max(1, cfg.warmup_steps))  # linear warm-up, then cosine to zero
        for g in opt.param_groups:
            g["lr"] = cfg.lr * warm * 0.5 * (1 + math.cos(math.pi * progress))
        idx = torch.randint(0, n_replay if per_batch else len(data), (cfg.batch_size,), device=device)
        chosen = torch.zeros(cfg.batch_size, dtype=torch.bool, device=device)
        if cfg.focus > 0 and len(focus_frames):
            chosen = torch.rand(cfg.batch_size, device=device) < cfg.focus
            alt = focus_frames[torch.randint(0, len(focus_frames), (cfg.batch_size,), device=device)]
            idx = torch.where(chosen, alt, idx)
        if per_batch:  # replay keeps what the model knows; verdicts teach what it got wrong
            idx[n_replay_batch:] = n_replay + torch.randint(0, n_verdicts, (per_batch,), device=device)
            chosen[n_replay_batch:] = False
        if cropping:
            batch = _crop(data, idx, cfg.crop_width, cfg.crop_height, focus_on[idx] & chosen[:, None])
        else:
            batch = data.take(idx)
        x, boxes, sup = _augment(batch.images, batch.boxes, batch.supervision)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            head = model(x)
        if teacher is not None and per_batch:  # replay: the teacher's answers; verdicts: their labels
            replay, taught = slice(0, n_replay_batch), slice(n_replay_batch, None)
            with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
                said = teacher(x[replay])
            mine = sup.take(torch.arange(n_replay_batch, len(idx), device=device)) if sup else None
            loss, _parts = detection_loss(
                head[taught],
                boxes[taught],
                batch.labels[taught],
                batch.attributes[taught],
                len(LABELS),
                cfg.giou_weight,
                supervision=mine,
            )
            loss = loss + cfg.distill * distillation_loss(head[replay], said, len(LABELS))
        else:
            loss, _parts = detection_loss(
                head, boxes, batch.labels, batch.attributes, len(LABELS), cfg.giou_weight, supervision=sup
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        step += 1
        bar.update(1)
        running = loss.detach() if running is None else 0.98 * running + 0.02 * loss.detach()
        if step % 50 == 0 or step == 1:
            curves["step"].append(step)
            curves["loss"].append(float(running))
            bar.set_postfix(loss=f"{float(running):.3f}", lr=f"{opt.param_groups[0]['lr']:.1e}")
        if val is not None and (step % cfg.eval_every == 0):
            _eval_point(model, val, device, step, curves)
            if cfg.freeze_bn:  # evaluation put every module back in training mode
                _freeze_bn(model)
            if cfg.freeze_backbone:
                _freeze_backbone(model)
            if cfg.head_only:
                _head_only(model)
    bar.close()
    if val is not None:
        _eval_point(model, val, device, step, curves)
    meta["training"] = {
        **{k: v for k, v in asdict(cfg).items() if k != "curves"},
        "steps": step,
        "minutes": round((time.time() - start) / 60, 2),
        "device": device,
        "train_images": len(data),
        "verdict_images": n_verdicts,
    }
    save_artifact(out, model.cpu().eval(), meta)
    torch.save({"curves": curves}, out / "curves.pt")
    plot_curves(curves, out)
    cfg.curves = curves
    return out


def _eval_point(model: torch.nn.Module, val: TensorSet, device: str, step: int, curves: dict) -> None:
    sub = TensorSet(val.images[:1000], val.boxes[:1000], val.labels[:1000], val.attributes[:1000])
    rep = evaluate(
        predict_set(model, sub, LABELS, ATTRIBUTES, device),
        ground_truth(sub, LABELS, ATTRIBUTES),
        LABELS,
        ATTRIBUTES,
    )
    curves["eval_step"].append(step)
    curves["map50"].append(rep["map50"])
    tqdm.write(
        f"step {step}: val mAP@0.5 {rep['map50']:.3f} "
        + " ".join(f"{k[:6]}={v['ap50']:.2f}" for k, v in rep["classes"].items())
    )
