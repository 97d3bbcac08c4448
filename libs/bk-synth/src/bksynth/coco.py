"""Write random synthetic frames as a COCO dataset (JPEG images + annotations.json), in parallel."""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image

from bksynth.frame import render_random
from bksynth.truth import LABELS, PERSON_ATTRIBUTES, Annotation


def _render_one(args: tuple[str, int, int, int, int]) -> tuple[int, str, list[Annotation]]:
    out_dir, index, seed, width, height = args
    arr, anns = render_random(seed * 1_000_003 + index, width, height)
    name = f"{index:07d}.jpg"
    Image.fromarray(arr).save(Path(out_dir) / "images" / name, quality=92)
    return index, name, anns


def coco_annotation(ann: Annotation, ann_id: int, image_id: int, width: int, height: int) -> dict:
    x0, y0, x1, y1 = ann.box
    bw, bh = (x1 - x0) * width, (y1 - y0) * height
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": LABELS.index(ann.label) + 1,
        "bbox": [round(x0 * width, 2), round(y0 * height, 2), round(bw, 2), round(bh, 2)],
        "area": round(bw * bh, 2),
        "iscrowd": 0,
        "attributes": dict(ann.attributes),
    }


def write_coco(
    out_dir: str | Path,
    n_images: int,
    seed: int = 0,
    width: int = 640,
    height: int = 360,
    progress: bool = True,
    workers: int | None = None,
) -> Path:
    """Render n_images frames into out_dir/images and out_dir/annotations.json; returns the json path."""
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    jobs = [(str(out), i, seed, width, height) for i in range(n_images)]
    workers = workers or min(32, os.cpu_count() or 1)
    results: list[tuple[int, str, list[Annotation]]] = []
    if workers <= 1 or n_images < 64:
        it = map(_render_one, jobs)
    else:
        pool = ProcessPoolExecutor(workers)
        it = pool.map(_render_one, jobs, chunksize=64)
    if progress:
        from tqdm import tqdm  # optional: bk-synth itself needs only numpy and pillow

        it = tqdm(it, total=n_images, desc="synth", unit="img")
    results = list(it)
    images, annotations = [], []
    for index, name, anns in sorted(results, key=lambda r: r[0]):
        images.append({"id": index + 1, "file_name": name, "width": width, "height": height})
        for ann in anns:
            annotations.append(coco_annotation(ann, len(annotations) + 1, index + 1, width, height))
    cats = [{"id": i + 1, "name": n, "supercategory": "kitchen"} for i, n in enumerate(LABELS)]
    doc = {
        "info": {
            "description": "Bright Kitchen synthetic kitchens",
            "seed": seed,
            "person_attributes": list(PERSON_ATTRIBUTES),
        },
        "images": images,
        "annotations": annotations,
        "categories": cats,
    }
    path = out / "annotations.json"
    path.write_text(json.dumps(doc))
    return path
