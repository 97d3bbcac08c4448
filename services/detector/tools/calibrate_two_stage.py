"""Set the two-stage model's kitchen-class thresholds from real photographs that contain none of
those objects, and measure what that costs on synthetic frames.

KitchenNet learnt its kitchen classes (cigarette, rodent, flame, bins) from synthetic frames only;
on real photographs it sees rodents in fur and cigarettes in foliage. In the two-stage model each
kitchen class's threshold is raised to just above the highest score KitchenNet gives that class on
a calibration set of real photos (none of them in the evaluation set, tests/data/real), each also
flipped and in grey (IR cameras). The synthetic recall at the new thresholds is measured on a
synthetic COCO folder and recorded beside them.

    .venv/bin/python services/detector/tools/calibrate_two_stage.py SYNTHETIC_COCO_DIR [--write]

Photos: Debian's opencv-doc 4.6.0 (Apache-2.0 AND BSD-3-Clause) and matplotlib's sample data,
listed below; none shows a cigarette, rodent, flame or bin.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bk_detector.model.artifact import ATTRIBUTES, LABELS, SHIPPED, load_artifact
from bk_detector.model.runtime import ModelRuntime
from bk_detector.model.two_stage import TWO_STAGE
from bk_detector.training.data import load_coco
from bk_detector.training.evaluate import evaluate
from bk_detector.training.predict import ground_truth, predict_set

OPENCV = Path("/usr/share/doc/opencv-doc/examples")
CALIBRATION = [
    *(
        f"data/{n}"
        for n in (
            "aero1.jpg",
            "aero3.jpg",
            "aloeL.jpg",
            "basketball2.png",
            "blox.jpg",
            "board.jpg",
            "building.jpg",
            "cards.png",
            "ela_original.jpg",
            "graf1.png",
            "leuvenB.jpg",
            "licenseplate_motion.jpg",
            "ml.png",
            "pca_test1.jpg",
            "rubberwhale1.png",
            "smarties.png",
            "starry_night.jpg",
            "sudoku.png",
            "Blender_Suzanne1.jpg",
            "HappyFish.jpg",
            "notes.png",
            "text_defocus.jpg",
        )
    ),
    "hfs/data/001.jpg",
    "hfs/data/002.jpg",
    "alphamat/input_images/plant.jpg",
    "dnn_superres/butterfly.png",
    *(f"text/scenetext0{i}.jpg" for i in range(2, 7)),
]
KITCHEN = ["cigarette", "rodent", "trash_bin_open", "trash_bin_closed", "flame"]
MARGIN = 0.01


def calibration_images() -> list[tuple[str, np.ndarray]]:
    import matplotlib

    paths = [OPENCV / p for p in CALIBRATION if (OPENCV / p).is_file()]
    paths.append(Path(matplotlib.get_data_path()) / "sample_data" / "Minduka_Present_Blue_Pack.png")
    out = []
    for p in paths:
        arr = np.asarray(Image.open(p).convert("RGB"))
        grey = np.repeat(arr.mean(2, keepdims=True), 3, 2).astype(np.uint8)
        out += [
            (p.name, arr),
            (p.name + " flipped", np.ascontiguousarray(arr[:, ::-1])),
            (p.name + " grey", grey),
        ]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("synthetic", help="a synthetic COCO folder (bk-synth) to measure the recall cost on")
    ap.add_argument("--limit", type=int, default=800)
    ap.add_argument(
        "--write", action="store_true", help="write the thresholds into weights/two-stage/model.json"
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    kitchen_meta = json.loads((SHIPPED / "model.json").read_text())
    rt = ModelRuntime.load(None, device="cpu")
    rt.thresholds = torch.zeros_like(rt.thresholds)  # every score: we want the highest per class
    images = calibration_images()
    highest = dict.fromkeys(KITCHEN, 0.0)
    where: dict[str, str] = {}
    for name, arr in images:
        for det in rt.predict([arr])[0]:
            if det.label in highest and det.score > highest[det.label]:
                highest[det.label], where[det.label] = det.score, name
    thresholds = dict(json.loads((TWO_STAGE / "model.json").read_text())["thresholds"])
    for c in KITCHEN:
        thresholds[c] = round(max(kitchen_meta["thresholds"][c], highest[c] + MARGIN), 3)
        print(
            f"{c:17s} highest on real photos {highest[c]:.3f} ({where.get(c, '-')})"
            f" -> threshold {thresholds[c]}"
        )
    net, meta = load_artifact(SHIPPED)
    data = load_coco(
        args.synthetic, LABELS, ATTRIBUTES, meta["input_width"], meta["input_height"], args.limit
    )
    preds, gts = predict_set(net, data, LABELS, ATTRIBUTES, "cpu"), ground_truth(data, LABELS, ATTRIBUTES)
    before = evaluate(preds, gts, LABELS, ATTRIBUTES, kitchen_meta["thresholds"])
    after = evaluate(preds, gts, LABELS, ATTRIBUTES, thresholds)
    b, a = before["classes"], after["classes"]
    cost = {
        c: {
            "recall_kitchen_v1": round(b[c]["recall"], 4),
            "recall_two_stage": round(a[c]["recall"], 4),
            "precision_two_stage": round(a[c]["precision"], 4),
        }
        for c in KITCHEN
    }
    for c, v in cost.items():
        print(f"{c:17s} synthetic recall {v['recall_kitchen_v1']:.3f} -> {v['recall_two_stage']:.3f}")
    if args.write:
        doc = json.loads((TWO_STAGE / "model.json").read_text())
        doc["thresholds"] = thresholds
        doc.setdefault("metrics", {})["kitchen_calibration"] = {
            "rule": f"max(kitchen-v1 threshold, highest score on the real calibration photos + {MARGIN})",
            "photos": f"{len(images) // 3} real photos (opencv-doc 4.6.0, matplotlib 3.11.2), each also "
            "flipped "
            "and grey; none in the evaluation set",
            "highest_real_scores": {c: round(highest[c], 4) for c in KITCHEN},
            "synthetic_cost": cost,
            "synthetic_set": f"{len(data)} frames of {args.synthetic}",
        }
        (TWO_STAGE / "model.json").write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
