"""The real-photograph evaluation set: hand-labelled photos from packages (tests/data/real).

``labels.json`` holds the boxes (COCO-style [x, y, w, h] in the original pixels), ``manifest.json``
where each file comes from, its licence and sha256. Public-domain / CC0 photos are committed beside
them; the others are read from the installed package (matplotlib's sample data, Debian's
``opencv-doc``) and refused if their checksum differs. Video frames are named ``<file>#<frame>``.

Scoring is plain and pure (``score_image``): a detection is a hit when it overlaps an unmatched
label of its class by IoU >= 0.5 (greedy, best score first); one that hits nothing and lies mostly
inside an ``ignore`` region (a blurred crowd) counts neither way; every other one is a false alarm.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

XYWH = tuple[float, float, float, float]
OPENCV_DOC = Path("/usr/share/doc/opencv-doc/examples")


class RealSetError(RuntimeError):
    """A file of the set is missing or not the one recorded (with what to install)."""


@dataclass(frozen=True)
class RealImage:
    name: str
    width: int
    height: int
    boxes: dict[str, list[XYWH]]  # person, phone, face
    ignore: list[XYWH] = field(default_factory=list)

    def has(self, label: str) -> bool:
        return bool(self.boxes.get(label))


def default_root() -> Path:
    """services/detector/tests/data/real in a source checkout."""
    return Path(__file__).resolve().parents[3] / "tests" / "data" / "real"


def _source_root(source: str, root: Path) -> Path:
    if source == "scikit-image":
        return root
    if source == "matplotlib":
        import matplotlib

        return Path(matplotlib.get_data_path())
    if source == "opencv-doc":
        if not OPENCV_DOC.is_dir():
            raise RealSetError(
                "Debian's opencv-doc is not installed (apt-get install opencv-doc; "
                "scripts/bootstrap installs it)"
            )
        return OPENCV_DOC
    raise RealSetError(f"unknown source {source!r} in manifest.json")


def resolve(root: Path | None = None) -> dict[str, Path]:
    """file name -> path on this machine, each checked against the manifest's sha256."""
    root = root or default_root()
    manifest = json.loads((root / "manifest.json").read_text())
    out: dict[str, Path] = {}
    for f in manifest["files"]:
        path = _source_root(f["source"], root) / f["path"]
        if not path.is_file():
            raise RealSetError(f"{f['name']}: {path} is missing ({f['source']} not installed?)")
        got = hashlib.sha256(path.read_bytes()).hexdigest()
        if got != f["sha256"]:
            raise RealSetError(f"{f['name']}: {path} has sha256 {got}, the set was labelled on {f['sha256']}")
        out[f["name"]] = path
    return out


def read_labels(root: Path | None = None) -> list[RealImage]:
    doc = json.loads(((root or default_root()) / "labels.json").read_text())
    return [
        RealImage(
            e["file_name"],
            int(e["width"]),
            int(e["height"]),
            {c: [tuple(b) for b in e.get(c, [])] for c in doc["categories"]},  # type: ignore[misc]
            [tuple(b) for b in e.get("ignore", [])],
        )  # type: ignore[misc]
        for e in doc["images"]
    ]


def video_frames(
    path: Path, indices: Sequence[int] | None = None, every: int = 0
) -> Iterator[tuple[int, np.ndarray]]:
    """(index, RGB frame) of a video file: the given ``indices``, or every ``every``-th frame."""
    import av

    wanted = set(indices or ())
    last = max(wanted) if wanted else None
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if (wanted and i in wanted) or (every and i % every == 0):
                yield i, frame.to_ndarray(format="rgb24")
            if last is not None and i >= last:
                return


def load_images(root: Path | None = None) -> list[tuple[RealImage, np.ndarray]]:
    """Every labelled image with its RGB pixels (video frames decoded from the clip)."""
    from PIL import Image

    paths = resolve(root)
    items = read_labels(root)
    frames: dict[str, np.ndarray] = {}
    by_video: dict[str, list[int]] = {}
    for it in items:
        if "#" in it.name:
            video, idx = it.name.split("#")
            by_video.setdefault(video, []).append(int(idx))
    for video, idxs in by_video.items():
        for i, arr in video_frames(paths[video], idxs):
            frames[f"{video}#{i:06d}"] = arr
    out = []
    for it in items:
        arr = frames[it.name] if "#" in it.name else np.array(Image.open(paths[it.name]).convert("RGB"))
        if arr.shape[:2] != (it.height, it.width):
            raise RealSetError(
                f"{it.name}: {arr.shape[1]}x{arr.shape[0]}, labelled as {it.width}x{it.height}"
            )
        out.append((it, arr))
    return out


# -- scoring (pure) ---------------------------------------------------------------------------------


def iou_xywh(a: XYWH, b: XYWH) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _inside(a: XYWH, region: XYWH) -> float:
    """Share of ``a``'s area inside ``region``."""
    ix = max(0.0, min(a[0] + a[2], region[0] + region[2]) - max(a[0], region[0]))
    iy = max(0.0, min(a[1] + a[3], region[1] + region[3]) - max(a[1], region[1]))
    return ix * iy / (a[2] * a[3]) if a[2] * a[3] > 0 else 0.0


@dataclass
class Tally:
    hits: int = 0
    misses: int = 0
    false_alarms: int = 0

    def add(self, other: Tally) -> None:
        self.hits += other.hits
        self.misses += other.misses
        self.false_alarms += other.false_alarms

    @property
    def recall(self) -> float | None:
        n = self.hits + self.misses
        return self.hits / n if n else None

    @property
    def precision(self) -> float | None:
        n = self.hits + self.false_alarms
        return self.hits / n if n else None


def score_image(
    detections: Sequence[tuple[float, XYWH]],
    labels: Sequence[XYWH],
    ignore: Sequence[XYWH] = (),
    iou: float = 0.5,
) -> Tally:
    """One class on one image: (score, box) detections against labelled boxes."""
    free = list(labels)
    tally = Tally()
    for _, box in sorted(detections, key=lambda d: -d[0]):
        best = max(range(len(free)), key=lambda j: iou_xywh(box, free[j]), default=None)
        if best is not None and iou_xywh(box, free[best]) >= iou:
            free.pop(best)
            tally.hits += 1
        elif not any(_inside(box, r) >= 0.5 for r in ignore):
            tally.false_alarms += 1
    tally.misses = len(free)
    return tally


def tally_model(
    predictions: Sequence[Sequence], items: Sequence[RealImage], labels: Sequence[str]
) -> dict[str, Tally]:
    """Per label, over the set: ``predictions[i]`` are the model's detections (``label``, ``score``,
    normalised xyxy ``box``) on ``items[i]``. A label the set never draws (a rodent) can only collect
    false alarms."""
    out = {label: Tally() for label in labels}
    for dets, it in zip(predictions, items, strict=True):
        for label in labels:
            mine = [
                (
                    d.score,
                    (
                        d.box[0] * it.width,
                        d.box[1] * it.height,
                        (d.box[2] - d.box[0]) * it.width,
                        (d.box[3] - d.box[1]) * it.height,
                    ),
                )
                for d in dets
                if d.label == label
            ]
            out[label].add(score_image(mine, it.boxes.get(label, []), it.ignore))
    return out


def report(kinds: Sequence[str] = ("single_stage", "two_stage")) -> str:
    """A Markdown table of both models on the set (the docs' figures): hits / misses / false alarms,
    recall and precision per label, and false alarms on the photos without people."""
    from bk_detector.model.runtime import ModelRuntime

    photos = load_images()
    items = [it for it, _ in photos]
    rows = [
        "| model | label | labelled | hits | misses | false alarms | recall | precision |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind in kinds:
        model = ModelRuntime.load(None, device="cpu", kind=kind)
        preds = [model.predict([arr])[0] for _, arr in photos]
        for label, t in tally_model(preds, items, model.labels).items():
            r = "-" if t.recall is None else f"{t.recall:.3f}"
            p = "-" if t.precision is None else f"{t.precision:.3f}"
            rows.append(
                f"| {kind} | {label} | {t.hits + t.misses} | {t.hits} | {t.misses} | {t.false_alarms} "
                f"| {r} | {p} |"
            )
        empty = sum(
            1
            for d, it in zip(preds, items, strict=True)
            if not it.has("person")
            for x in d
            if x.label == "person"
        )
        rows.append(
            f"| {kind} | person boxes on the {sum(not it.has('person') for it in items)} photos "
            f"without people | | | | {empty} | | |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(report())
