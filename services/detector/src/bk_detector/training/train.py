"""Train KitchenNet from COCO folders; schedule by steps or wall-clock, whichever ends first."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from bk_detector.model.artifact import ATTRIBUTES, LABELS, build, default_meta, save_artifact
from bk_detector.training.data import TensorSet, concat, load_coco
from bk_detector.training.evaluate import evaluate
from bk_detector.training.plots import plot_curves
from bk_detector.training.predict import ground_truth, predict_set
from bk_detector.training.targets import detection_loss


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
    giou_weight: float = 1.0
    limit: int | None = None
    progress: bool = True
    curves: dict = field(default_factory=dict)


def _augment(x: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample flip and colour jitter on the device (uint8 in, float 0..255 out)."""
    n = x.shape[0]
    x = x.float()
    flip = torch.rand(n, device=x.device) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    fb = torch.stack([1 - boxes[..., 2], boxes[..., 1], 1 - boxes[..., 0], boxes[..., 3]], -1)
    boxes = torch.where(flip[:, None, None], fb, boxes)
    gain = torch.empty(n, 3, 1, 1, device=x.device).uniform_(0.85, 1.15) * torch.empty(
        n, 1, 1, 1, device=x.device
    ).uniform_(0.7, 1.3)
    mean = x.mean((1, 2, 3), keepdim=True)
    contrast = torch.empty(n, 1, 1, 1, device=x.device).uniform_(0.7, 1.3)
    x = ((x - mean) * contrast + mean) * gain
    return x.clamp(0, 255), boxes


FOCUS_LABELS = ("phone", "cigarette", "rodent")


def _crop(
    data: TensorSet, idx: torch.Tensor, cw: int, ch: int, focus: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Crop each sampled frame to cw x ch. Where a sample's row of focus (n,M bool) marks boxes, the
    crop holds a random one of them; elsewhere it is placed uniformly. Boxes are clipped to the crop and an
    object whose centre falls outside is dropped."""
    _, _, h, w = data.images.shape
    boxes, labels = data.boxes[idx].clone(), data.labels[idx].clone()
    n = len(idx)
    ox = torch.randint(0, w - cw + 1, (n,), device=idx.device)
    oy = torch.randint(0, h - ch + 1, (n,), device=idx.device)
    if focus.any():
        f = focus
        has = f.any(1)
        pick = torch.multinomial(f.float() + (~has)[:, None].float(), 1).squeeze(1)  # a focus box
        b = boxes[torch.arange(n, device=idx.device), pick]
        # origin = centre - u * (side - 1), floored: the centre lands at [0, side) inside the crop
        fx = ((b[:, 0] + b[:, 2]) / 2 * w - torch.rand(n, device=idx.device) * (cw - 1)).floor().long()
        fy = ((b[:, 1] + b[:, 3]) / 2 * h - torch.rand(n, device=idx.device) * (ch - 1)).floor().long()
        ox = torch.where(has, fx.clamp(0, w - cw), ox)
        oy = torch.where(has, fy.clamp(0, h - ch), oy)
    images = torch.stack([data.images[i, :, y : y + ch, x : x + cw] for i, x, y in zip(
        idx.tolist(), ox.tolist(), oy.tolist(), strict=True)])
    px = boxes[..., [0, 2]] * w - ox[:, None, None]
    py = boxes[..., [1, 3]] * h - oy[:, None, None]
    ccx, ccy = px.mean(-1), py.mean(-1)
    keep = (labels >= 0) & (ccx >= 0) & (ccx < cw) & (ccy >= 0) & (ccy < ch)
    boxes = torch.stack(
        [px[..., 0].clamp(0, cw) / cw, py[..., 0].clamp(0, ch) / ch,
         px[..., 1].clamp(0, cw) / cw, py[..., 1].clamp(0, ch) / ch], -1
    )
    return images, boxes, torch.where(keep, labels, -1), data.attributes[idx]


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
        raise CropTooLarge(f"crop {cfg.crop_width}x{cfg.crop_height} is larger than the input "
                         f"{cfg.input_width}x{cfg.input_height}")
    torch.manual_seed(cfg.seed)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    cuda = device.startswith("cuda")
    if cuda:
        torch.backends.cudnn.benchmark = True
    meta = default_meta(cfg.input_width, cfg.input_height)
    t0 = time.time()
    data = concat(
        [
            load_coco(d, LABELS, ATTRIBUTES, cfg.input_width, cfg.input_height, cfg.limit)
            for d in cfg.train_dirs
        ]
    ).to(device)
    val = (
        load_coco(cfg.val_dir, LABELS, ATTRIBUTES, cfg.input_width, cfg.input_height, cfg.limit)
        if cfg.val_dir
        else None
    )
    print(f"loaded {len(data)} train images in {time.time() - t0:.1f}s on {device}")
    model = build(meta)
    if cfg.init:
        from bk_detector.model.artifact import load_artifact

        model.load_state_dict(load_artifact(Path(cfg.init))[0].state_dict())
    model = model.to(device).to(memory_format=torch.channels_last).train()
    if cfg.freeze_bn:
        _freeze_bn(model)
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay
    )
    focus_ids = torch.tensor([LABELS.index(c) for c in FOCUS_LABELS], device=device)
    focus_on = torch.isin(data.labels, focus_ids)  # N,M: boxes of the small, rare classes
    focus_frames = focus_on.any(1).nonzero().squeeze(1)
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
        warm = min(1.0, (step + 1) / 300)  # short linear warm-up, then cosine to zero
        for g in opt.param_groups:
            g["lr"] = cfg.lr * warm * 0.5 * (1 + math.cos(math.pi * progress))
        idx = torch.randint(0, len(data), (cfg.batch_size,), device=device)
        chosen = torch.zeros(cfg.batch_size, dtype=torch.bool, device=device)
        if cfg.focus > 0 and len(focus_frames):
            chosen = torch.rand(cfg.batch_size, device=device) < cfg.focus
            alt = focus_frames[torch.randint(0, len(focus_frames), (cfg.batch_size,), device=device)]
            idx = torch.where(chosen, alt, idx)
        if cropping:
            images, boxes, labels, attributes = _crop(
                data, idx, cfg.crop_width, cfg.crop_height, focus_on[idx] & chosen[:, None]
            )
        else:
            images, boxes, labels, attributes = (
                data.images[idx], data.boxes[idx], data.labels[idx], data.attributes[idx]
            )
        x, boxes = _augment(images, boxes)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            head = model(x)
        loss, _parts = detection_loss(head, boxes, labels, attributes, len(LABELS), cfg.giou_weight)
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
    bar.close()
    if val is not None:
        _eval_point(model, val, device, step, curves)
    meta["training"] = {
        **{k: v for k, v in asdict(cfg).items() if k != "curves"},
        "steps": step,
        "minutes": round((time.time() - start) / 60, 2),
        "device": device,
        "train_images": len(data),
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
