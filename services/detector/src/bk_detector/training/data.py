"""COCO datasets (synthetic, or exported by the case-manager) loaded into memory as model-sized tensors.

Any COCO file works: categories are matched to our labels by name (others are ignored), images with no
boxes are kept as negatives, and missing person attributes are marked unknown (-1) and not trained.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

MAX_BOXES = 32


@dataclass
class TensorSet:
    images: torch.Tensor  # N,3,H,W uint8
    boxes: torch.Tensor  # N,M,4 normalised xyxy
    labels: torch.Tensor  # N,M long, -1 = padding
    attributes: torch.Tensor  # N,M,A float, -1 = unknown

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device: str | torch.device) -> TensorSet:
        return TensorSet(*(t.to(device) for t in (self.images, self.boxes, self.labels, self.attributes)))


def _load_image(args: tuple[str, int, int]) -> np.ndarray:
    path, w, h = args
    img = Image.open(path).convert("RGB")
    if img.size != (w, h):
        img = img.resize((w, h), Image.BILINEAR)  # PIL's downscale is antialiased, like the runtime's
    return np.asarray(img).transpose(2, 0, 1).copy()


def load_coco(
    root: str | Path,
    labels: list[str],
    attributes: list[str],
    width: int,
    height: int,
    limit: int | None = None,
    workers: int | None = None,
) -> TensorSet:
    root = Path(root)
    doc = json.loads((root / "annotations.json").read_text())
    cat_to_label = {c["id"]: labels.index(c["name"]) for c in doc["categories"] if c["name"] in labels}
    images = doc["images"][:limit] if limit else doc["images"]
    per_image: dict[int, list[dict]] = defaultdict(list)
    for a in doc["annotations"]:
        if a["category_id"] in cat_to_label:
            per_image[a["image_id"]].append(a)
    n = len(images)
    boxes = torch.zeros(n, MAX_BOXES, 4)
    labs = torch.full((n, MAX_BOXES), -1, dtype=torch.long)
    attrs = torch.full((n, MAX_BOXES, len(attributes)), -1.0)
    for i, im in enumerate(images):
        for j, a in enumerate(per_image[im["id"]][:MAX_BOXES]):
            x, y, bw, bh = a["bbox"]
            boxes[i, j] = torch.tensor(
                [x / im["width"], y / im["height"], (x + bw) / im["width"], (y + bh) / im["height"]]
            )
            labs[i, j] = cat_to_label[a["category_id"]]
            for k, name in enumerate(attributes):
                v = a.get("attributes", {}).get(name)
                if v is not None:
                    attrs[i, j, k] = float(bool(v))
    folder = root / "images" if (root / "images").is_dir() else root
    jobs = [(str(folder / im["file_name"]), width, height) for im in images]
    workers = workers or min(16, os.cpu_count() or 1)
    if workers > 1 and n > 256:
        with ProcessPoolExecutor(workers) as pool:
            arrays = list(pool.map(_load_image, jobs, chunksize=128))
    else:
        arrays = [_load_image(j) for j in jobs]
    stack = (
        torch.from_numpy(np.stack(arrays)) if arrays else torch.zeros(0, 3, height, width, dtype=torch.uint8)
    )
    return TensorSet(stack, boxes, labs, attrs)


def concat(sets: list[TensorSet]) -> TensorSet:
    return TensorSet(
        *(torch.cat([getattr(s, f) for s in sets]) for f in ("images", "boxes", "labels", "attributes"))
    )
