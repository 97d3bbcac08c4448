"""Write random synthetic frames as a COCO dataset (JPEG images + annotations.json), in parallel."""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image

from bksynth.frame import render_random
from bksynth.truth import LABELS, PERSON_ATTRIBUTES, Annotation


def _render_one(args: tuple[str, int, int, int, int, str]) -> tuple[int, str, list[Annotation]]:
    out_dir, index, seed, width, height, style = args
    arr, anns = render_random(seed * 1_000_003 + index, width, height, style)
    name = f"{index:07d}.jpg"
    Image.fromarray(arr).save(Path(out_dir) / "images" / name, quality=92)
    return index, name, anns


def coco_annotation(ann: Annotation, ann_id: int, image_id: int, width: int, height: int) -> dict:
    x0, y0, x1, y1 = ann.box
    bw, bh = (x1 - x0) * width, (y1 - y0) * height
    out = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": LABELS.index(ann.label) + 1,
        "bbox": [round(x0 * width, 2), round(y0 * height, 2), round(bw, 2), round(bh, 2)],
        "area": round(bw * bh, 2),
        "iscrowd": 0,
        "attributes": dict(ann.attributes),
    }
    if ann.visibility is not None:
        out["visibility"] = ann.visibility
    return out


def write_coco(
    out_dir: str | Path,
    n_images: int,
    seed: int = 0,
    width: int = 640,
    height: int = 360,
    progress: bool = True,
    workers: int | None = None,
    generator: str = "v1",
) -> Path:
    """Render n_images frames of a generator ("v1" flat, "v2" ceiling CCTV; see bksynth.generators) into
    out_dir/images and out_dir/annotations.json; returns the json path."""
    from bksynth.generators import style_of

    style = style_of(generator)
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    jobs = [(str(out), i, seed, width, height, style) for i in range(n_images)]
    workers = workers or min(32, os.cpu_count() or 1)
    results: list[tuple[int, str, list[Annotation]]] = []
    pool = None if workers <= 1 or n_images < 64 else ProcessPoolExecutor(workers)
    it = map(_render_one, jobs) if pool is None else pool.map(_render_one, jobs, chunksize=16)
    if progress:
        from tqdm import tqdm  # optional: bk-synth itself needs only numpy and pillow

        it = tqdm(it, total=n_images, desc="synth", unit="img")
    try:
        results = list(it)
    finally:
        if pool is not None:
            pool.shutdown()
    images, annotations = [], []
    for index, name, anns in sorted(results, key=lambda r: r[0]):
        images.append({"id": index + 1, "file_name": name, "width": width, "height": height})
        for ann in anns:
            annotations.append(coco_annotation(ann, len(annotations) + 1, index + 1, width, height))
    cats = [{"id": i + 1, "name": n, "supercategory": "kitchen"} for i, n in enumerate(LABELS)]
    doc = {
        "info": {
            "description": "Bright Kitchen synthetic kitchens",
            "generator": generator,
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
