"""Make a frozen held-out set for the promotion gate (``bk_detector.training.gate``) from bk-synth.

    python services/detector/tests/data/heldout/freeze.py synth-v1 --seed 33 --pool 400 --keep 64

Renders ``pool`` frames with the generator, keeps ``keep`` of them chosen so every class has as
many boxes as it can (a class with six boxes makes mAP jump with one box; twenty do not), stores
them at the model's input size (what the model sees) and writes SHA256SUMS: the gate refuses a set
whose files no longer match (a frozen set that changed is not the set it was).
Run once per set; the output is committed. ``--generator`` names a bk-synth module's renderer
(``bksynth.frame:render_random`` = v1) so a v2 set is made the same way when it exists.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
from collections import Counter
from pathlib import Path

from PIL import Image

from bksynth.coco import coco_annotation
from bksynth.truth import LABELS, PERSON_ATTRIBUTES

HERE = Path(__file__).resolve().parent


def sha256sums(folder: Path) -> str:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    return "".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(folder).as_posix()}\n" for p in files
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name")
    ap.add_argument("--seed", type=int, default=33)
    ap.add_argument("--pool", type=int, default=400)
    ap.add_argument("--keep", type=int, default=64)
    ap.add_argument("--render-size", default="640x360", help="generator's frame size")
    ap.add_argument("--store-size", default="512x288", help="stored size (the model's input)")
    ap.add_argument("--generator", default="bksynth.frame:render_random")
    a = ap.parse_args()
    module, func = a.generator.split(":")
    render = getattr(importlib.import_module(module), func)
    rw, rh = (int(v) for v in a.render_size.split("x"))
    sw, sh = (int(v) for v in a.store_size.split("x"))
    pool = [render(a.seed * 1_000_003 + i, rw, rh) for i in range(a.pool)]
    counts = Counter[str]()
    chosen: list[int] = []
    left = set(range(a.pool))
    for _ in range(a.keep):  # greedy: the frame that adds most to the rarest classes

        def gain(i: int) -> float:
            return sum(1.0 / (1 + counts[ann.label]) for ann in pool[i][1])

        best = max(sorted(left), key=gain)
        chosen.append(best)
        left.discard(best)
        counts.update(ann.label for ann in pool[best][1])
    out = HERE / a.name
    (out / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for n, i in enumerate(sorted(chosen), start=1):
        arr, anns = pool[i]
        name = f"{i:07d}.jpg"
        Image.fromarray(arr).resize((sw, sh), Image.BILINEAR).save(out / "images" / name, quality=92)
        images.append({"id": n, "file_name": name, "width": sw, "height": sh})
        annotations += [coco_annotation(x, len(annotations) + 1, n, sw, sh) for x in anns]
    doc = {
        "info": {
            "description": f"frozen held-out set {a.name}",
            "generator": a.generator,
            "seed": a.seed,
            "pool": a.pool,
            "render_size": a.render_size,
            "person_attributes": list(PERSON_ATTRIBUTES),
            "boxes_per_class": {k: counts[k] for k in LABELS},
        },
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": n, "supercategory": "kitchen"} for i, n in enumerate(LABELS)],
    }
    (out / "annotations.json").write_text(json.dumps(doc))
    (out / "SHA256SUMS").write_text(sha256sums(out))
    print(f"{out}: {len(images)} frames, boxes per class {dict(counts)}")


if __name__ == "__main__":
    main()
