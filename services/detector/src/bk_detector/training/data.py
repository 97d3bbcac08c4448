"""Training sets loaded into memory as model-sized tensors: COCO folders (synthetic) and the
case-manager's verdict exports (``verdicts``).

Any COCO file works: categories are matched to our labels by name (others are ignored), images with no
boxes are kept as negatives (a COCO set labels every class everywhere), and missing person attributes
are marked unknown (-1) and not trained. A verdict export labels only parts of a frame: its
``Supervision`` says where each class is known, and the loss trains nothing else.
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
MAX_REGIONS = 64  # labelled regions per frame (bkcore.verdicts allows 32 objects + 32 absent)


@dataclass
class Supervision:
    """Where a partly labelled frame is labelled, class by class (verdicts: ``bkcore.verdicts``).

    ``full``: every class is labelled everywhere (synthetic frames). Otherwise a frame's labelled
    objects (``TensorSet.boxes``) teach their class around their own centre only (another object of
    the class may stand right beside one, unlabelled), and class ``region_labels[n, r]`` is labelled
    inside ``regions[n, r]`` as ``kinds[n, r]`` says: a region where the class is absent (ABSENT), or
    a BAG that holds one such object somewhere, place unknown (trained as "present in here", never
    as a box). Elsewhere the frame teaches nothing. ``box_known`` says which labelled objects' boxes
    are their true outline (a supervisor drew them): a verdict on a detection only says the object
    is there, in the detector's own box, so its size and place are not trained.
    """

    full: torch.Tensor  # N bool
    regions: torch.Tensor  # N,R,4 normalised xyxy
    region_labels: torch.Tensor  # N,R long, -1 = padding
    kinds: torch.Tensor  # N,R long: ABSENT or BAG
    box_known: torch.Tensor  # N,M bool, M = the TensorSet's boxes per frame

    ABSENT, BAG = 1, 2

    @staticmethod
    def complete(n: int, m: int, device: str | torch.device = "cpu") -> Supervision:
        return Supervision(
            torch.ones(n, dtype=torch.bool, device=device),
            torch.zeros(n, 1, 4, device=device),
            torch.full((n, 1), -1, dtype=torch.long, device=device),
            torch.zeros(n, 1, dtype=torch.long, device=device),
            torch.ones(n, m, dtype=torch.bool, device=device),
        )

    def take(self, idx: torch.Tensor) -> Supervision:
        return Supervision(*(t[idx] for t in self._parts()))

    def to(self, device: str | torch.device) -> Supervision:
        return Supervision(*(t.to(device) for t in self._parts()))

    def _parts(self) -> tuple[torch.Tensor, ...]:
        return (self.full, self.regions, self.region_labels, self.kinds, self.box_known)


@dataclass
class TensorSet:
    images: torch.Tensor  # N,3,H,W uint8
    boxes: torch.Tensor  # N,M,4 normalised xyxy
    labels: torch.Tensor  # N,M long, -1 = padding
    attributes: torch.Tensor  # N,M,A float, -1 = unknown
    supervision: Supervision | None = None  # None: every class labelled everywhere

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device: str | torch.device) -> TensorSet:
        sup = self.supervision.to(device) if self.supervision is not None else None
        parts = (self.images, self.boxes, self.labels, self.attributes)
        return TensorSet(*(t.to(device) for t in parts), sup)

    def take(self, idx: torch.Tensor) -> TensorSet:
        sup = self.supervision.take(idx) if self.supervision is not None else None
        return TensorSet(self.images[idx], self.boxes[idx], self.labels[idx], self.attributes[idx], sup)

    def partial(self) -> bool:
        """Some frames are labelled only in part (the loss must mask)."""
        return self.supervision is not None and not bool(self.supervision.full.all())


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
    # file_name is relative to images/ (COCO's habit) or, in some exports, to the root already.
    names = [im["file_name"] for im in images]
    paths = [root / f if (root / f).is_file() else folder / f for f in names]
    stack = load_images(paths, width, height, workers)
    return TensorSet(stack, boxes, labs, attrs)


def load_images(paths: list[Path], width: int, height: int, workers: int | None = None) -> torch.Tensor:
    """N,3,height,width uint8, resized as the runtime resizes; many files load on several processes."""
    jobs = [(str(p), width, height) for p in paths]
    workers = workers or min(16, os.cpu_count() or 1)
    if workers > 1 and len(jobs) > 256:
        with ProcessPoolExecutor(workers) as pool:
            arrays = list(pool.map(_load_image, jobs, chunksize=128))
    else:
        arrays = [_load_image(j) for j in jobs]
    if not arrays:
        return torch.zeros(0, 3, height, width, dtype=torch.uint8)
    return torch.from_numpy(np.stack(arrays))


def concat(sets: list[TensorSet]) -> TensorSet:
    parts = [torch.cat([getattr(s, f) for s in sets]) for f in ("images", "boxes", "labels", "attributes")]
    if all(s.supervision is None for s in sets):
        return TensorSet(*parts)
    sups = [s.supervision or Supervision.complete(len(s), s.boxes.shape[1], s.images.device) for s in sets]
    width = max(x.regions.shape[1] for x in sups)

    def pad(t: torch.Tensor, value: float | int) -> torch.Tensor:
        extra = width - t.shape[1]
        if not extra:
            return t
        return torch.cat(
            [t, torch.full((t.shape[0], extra, *t.shape[2:]), value, dtype=t.dtype, device=t.device)], 1
        )

    sup = Supervision(
        torch.cat([x.full for x in sups]),
        torch.cat([pad(x.regions, 0.0) for x in sups]),
        torch.cat([pad(x.region_labels, -1) for x in sups]),
        torch.cat([pad(x.kinds, 0) for x in sups]),
        torch.cat([x.box_known for x in sups]),
    )
    return TensorSet(*parts, sup)
