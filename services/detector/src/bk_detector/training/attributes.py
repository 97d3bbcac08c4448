"""Train the person-attribute crop classifier (stage two) on COCO folders with person attributes.

Crops are cut exactly as at run time (``model.attributes.person_crops`` on the frame resized to the
runtime's input), from boxes jittered in position and size the way a real detector's boxes differ
from hand-drawn ones; flips, colour jitter and grey frames (IR cameras) at each step.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from bk_detector.model.artifact import ATTRIBUTES
from bk_detector.model.attributes import (
    CONTEXT,
    CROP_HEIGHT,
    CROP_WIDTH,
    PersonAttributeNet,
    person_crops,
    save,
)


def crops_from_coco(
    root: Path, width: int, height: int, jitters: int, seed: int, limit: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 crops M,3,96,48 and attribute targets M,A (-1 = unknown) from a COCO folder."""
    doc = json.loads((root / "annotations.json").read_text())
    person_ids = {c["id"] for c in doc["categories"] if c["name"] == "person"}
    per_image: dict[int, list[dict]] = defaultdict(list)
    for a in doc["annotations"]:
        if a["category_id"] in person_ids:
            per_image[a["image_id"]].append(a)
    gen = torch.Generator().manual_seed(seed)
    crops, targets = [], []
    folder = root / "images" if (root / "images").is_dir() else root
    for im in doc["images"][:limit]:
        people = per_image.get(im["id"])
        if not people:
            continue
        arr = np.asarray(
            Image.open(folder / im["file_name"]).convert("RGB").resize((width, height), Image.BILINEAR)
        )
        frame = torch.from_numpy(arr.copy()).permute(2, 0, 1)[None].float()
        boxes = torch.tensor(
            [
                [
                    a["bbox"][0] / im["width"],
                    a["bbox"][1] / im["height"],
                    (a["bbox"][0] + a["bbox"][2]) / im["width"],
                    (a["bbox"][1] + a["bbox"][3]) / im["height"],
                ]
                for a in people
            ]
        )
        for j in range(jitters):
            b = boxes.clone()
            if j:  # the first copy is the labelled box; the others move each side by up to 12 %
                size = torch.stack([b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]] * 2, 1)
                b = b + (torch.rand(b.shape, generator=gen) - 0.5) * 0.24 * size
            crops.append(person_crops(frame, b[None]).round().clamp(0, 255).to(torch.uint8))
            targets.append(
                torch.tensor(
                    [[float(a.get("attributes", {}).get(k, -1)) for k in ATTRIBUTES] for a in people]
                )
            )
    return torch.cat(crops), torch.cat(targets)


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n = len(x)
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    gain = 0.7 + 0.6 * torch.rand(n, 1, 1, 1, generator=gen)
    bias = (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 40
    x = (x * gain + bias).clamp(0, 255)
    grey = torch.rand(n, generator=gen) < 0.2  # IR night frames are grey
    x = torch.where(grey[:, None, None, None], x.mean(1, keepdim=True).expand_as(x), x)
    return x


def accuracy(model: PersonAttributeNet, crops: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(crops[i : i + 512].float()) for i in range(0, len(crops), 512)])
    known = targets >= 0
    right = ((logits > 0).float() == targets) & known
    return {
        a: round(float(right[:, k].sum() / known[:, k].sum().clamp(min=1)), 4)
        for k, a in enumerate(ATTRIBUTES)
    }


def train_attributes(
    *,
    train_dir: str,
    val_dir: str,
    out_dir: str,
    minutes: float = 10.0,
    batch_size: int = 128,
    lr: float = 3e-3,
    width: int = 512,
    height: int = 288,
    seed: int = 0,
    limit: int | None = None,
    init: str | None = None,
) -> Path:
    """Train on ``train_dir`` for ``minutes`` (cosine learning rate over that time), keep the result
    in ``out_dir``; ``init``: continue from an earlier artefact of this classifier."""
    torch.manual_seed(seed)
    t0 = time.time()
    x, y = crops_from_coco(Path(train_dir), width, height, jitters=3, seed=seed, limit=limit)
    vx, vy = crops_from_coco(Path(val_dir), width, height, jitters=2, seed=seed + 1)
    print(f"{len(x)} training crops, {len(vx)} validation crops ({time.time() - t0:.0f} s)")
    model = PersonAttributeNet(len(ATTRIBUTES))
    history: list[dict] = []
    if init:
        from bk_detector.model.attributes import load

        model, before = load(Path(init))
        earlier = {k: v for k, v in before["training"].items() if k != "history"}
        history = [*before["training"].get("history", []), earlier]
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    gen = torch.Generator().manual_seed(seed)
    deadline = time.time() + minutes * 60
    step = 0
    start = time.time()
    while time.time() < deadline:
        idx = torch.randint(0, len(x), (batch_size,), generator=gen)
        xb, yb = _augment(x[idx].float(), gen), y[idx]
        model.train()
        known = yb >= 0
        loss = F.binary_cross_entropy_with_logits(model(xb)[known], yb[known])
        # cosine decay over the time budget (the number of steps is what fits in it)
        frac = min(1.0, (time.time() - start) / (minutes * 60))
        for g in opt.param_groups:
            g["lr"] = lr * 0.5 * (1 + np.cos(np.pi * frac))
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 200 == 0:
            print(f"step {step} loss {loss.item():.4f} val {accuracy(model, vx, vy)}", flush=True)
    acc = accuracy(model, vx, vy)
    print(f"done: {step} steps, validation accuracy {acc}")
    meta = {
        "name": "person-attributes-v1",
        "version": "1.0.0",
        "attributes": list(ATTRIBUTES),
        "crop": {"height": CROP_HEIGHT, "width": CROP_WIDTH, "context": CONTEXT, "frame": [width, height]},
        "architecture": {"type": "PersonAttributeNet", "widths": [16, 32, 48, 64]},
        "metrics": {
            "validation_accuracy": acc,
            "validation": f"{len(vx)} crops of {val_dir} (labelled boxes and one jittered copy each)",
        },
        "training": {
            "data": f"{len(x)} crops (3 per person: labelled box + 2 jittered) of {train_dir}",
            "steps": step,
            "batch_size": batch_size,
            "lr": lr,
            "minutes": minutes,
            "device": "cpu",
            "augment": "flip, gain/offset, 20% grey",
            "init": init,
            "history": history,
        },
    }
    save(Path(out_dir), model, meta)
    return Path(out_dir)
