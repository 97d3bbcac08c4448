"""Face blurring on real photographs: the figures of docs/privacy.md.

    nice .venv/bin/python bench/face_blur.py [--mtcnn]

For each copy of the real-photo set (colour, grey, IR-like): faces of 16 px and wider blurred, small
faces blurred, share of the rest of the picture changed (all pictures, and the worst one), and the
time to blur one picture on this machine. ``--mtcnn`` also runs the candidate it was chosen against,
MTCNN from facenet-pytorch (MIT; not a dependency: ``pip install --no-deps facenet-pytorch==2.6.0``),
with the same growth and pixelation, so only the detector differs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from PIL import Image

from bk_public.blur import blur_boxes, blur_picture
from bk_public.faces import Face, FacePolicy
from bk_public.faces.evaluation import VARIANTS, evaluate, load_face_photos


def mtcnn_blur() -> Callable[[Image.Image], Image.Image]:
    import torch
    from facenet_pytorch import MTCNN

    torch.set_num_threads(1)
    net = MTCNN(keep_all=True, device="cpu", min_face_size=16)
    policy = FacePolicy()

    def blur(img: Image.Image) -> Image.Image:
        boxes, probs = net.detect(img.convert("RGB"))
        faces = (
            [Face(float(p), *map(float, b)) for b, p in zip(boxes, probs, strict=True)]
            if boxes is not None
            else []
        )
        return blur_boxes(img.convert("RGB"), [f.grown(policy, img.width, img.height) for f in faces])

    return blur


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mtcnn", action="store_true", help="also measure MTCNN (facenet-pytorch)")
    args = ap.parse_args()
    photos = load_face_photos()
    blurs: dict[str, Callable[[Image.Image], Image.Image]] = {"BlazeFace": lambda img: blur_picture(img)[0]}
    if args.mtcnn:
        blurs["MTCNN"] = mtcnn_blur()
    print(f"{len(photos)} photographs, {sum(1 for p in photos if p.faces)} with faces")
    print(
        "| detector | copy | faces >= 16 px blurred | smaller faces blurred | rest changed (all) "
        "| worst picture | ms per picture |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, blur in blurs.items():
        for v in VARIANTS:
            t0 = time.perf_counter()
            r = evaluate(photos, v, blur)
            ms = (time.perf_counter() - t0) / r.images * 1000
            print(
                f"| {name} | {v} | {r.blurred}/{r.faces} ({r.recall:.0%}) "
                f"| {r.small_blurred}/{r.small_faces} | {r.rest_changed:.1%} "
                f"| {r.worst_rest[0]:.1%} ({r.worst_rest[1]}) | {ms:.0f} |",
                flush=True,
            )
            for m in r.missed:
                print(f"|   | missed: {m} | | | | | |")


if __name__ == "__main__":
    main()
