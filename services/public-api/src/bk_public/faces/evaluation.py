"""How well public pictures are blurred, measured on real photographs with hand-labelled faces.

The photographs are the shared real-photo set (``services/detector/tests/data/real``: a ``face``
list per image in ``labels.json``, files and licences in ``manifest.json``) plus a few more faces
(``services/public-api/tests/data/faces_extra.json``), each also as a grey copy and an IR-like copy
(what a camera sees at night under its infrared lamp: near-infrared brightness, flat, noisy, darker
towards the corners, heavily compressed).

Measured on the pixels the blur produces (before JPEG encoding, which changes every pixel a little):
- a face counts as blurred when its detail is gone everywhere in its box: in each cell of a 3×3 grid
  over the labelled box the high-frequency energy falls to at most half of the original. A face
  blurred only in part, or not at all, fails. Faces narrower than ``MIN_FACE_PX`` are labelled but
  not counted: a 10-pixel face is three pixels between the eyes, nobody's identity;
- the rest of the picture: every pixel outside the labelled faces (each grown by ``ALLOWANCE`` of
  its size on each side, the margin the blur may take) that changed at all.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

XYWH = tuple[int, int, int, int]
MIN_FACE_PX = 16
ALLOWANCE = 0.25
DETAIL_KEPT_MAX = 0.5
OPENCV_DOC = Path("/usr/share/doc/opencv-doc/examples")
_REPO = Path(__file__).resolve().parents[5]
REAL_SET = _REPO / "services" / "detector" / "tests" / "data" / "real"
EXTRA_SET = _REPO / "services" / "public-api" / "tests" / "data" / "faces_extra.json"
VARIANTS = ("colour", "grey", "ir")


class FaceSetError(RuntimeError):
    """A photograph of the set is missing or not the one labelled (with what to install)."""


@dataclass(frozen=True)
class FacePhoto:
    name: str
    image: Image.Image  # RGB
    faces: list[XYWH]


# -- the pictures ------------------------------------------------------------------------------------


def grey(img: Image.Image) -> Image.Image:
    return img.convert("L").convert("RGB")


def ir_like(img: Image.Image, seed: int = 0) -> Image.Image:
    """An infrared night picture of the same scene, as near as a colour photo allows."""
    a = np.asarray(img.convert("RGB"), dtype=np.float32)
    nir = 0.75 * a[..., 0] + 0.25 * a[..., 1]  # skin and cloth reflect near-infrared much like red light
    h, w = nir.shape
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot((xx - w / 2) / (w / 2), (yy - h / 2) / (h / 2))
    nir *= 1 - 0.35 * np.clip(r, 0, 1.4) ** 2  # the lamp lights the middle of the scene
    nir = 255 * (nir / 255) ** 0.7 * 0.85 + 20  # flat, with lifted blacks
    nir += np.random.default_rng(seed).normal(0, 7, nir.shape)  # sensor noise at high gain
    out = Image.fromarray(np.clip(nir, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8))
    buf = io.BytesIO()
    out.save(buf, format="JPEG", quality=60)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def variant(img: Image.Image, name: str) -> Image.Image:
    return {"colour": lambda i: i.convert("RGB"), "grey": grey, "ir": ir_like}[name](img)


# -- the measures (pure) -------------------------------------------------------------------------------


def _detail(a: np.ndarray) -> np.ndarray:
    """Per-pixel high-frequency energy of a grey image: distance from its 3×3 neighbourhood mean."""
    p = np.pad(a, 1, mode="edge")
    h, w = a.shape
    mean = sum(p[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)) / 9.0
    return np.abs(a - mean)


def face_blurred(before: np.ndarray, after: np.ndarray, box: XYWH) -> bool:
    """Whether the face in ``box`` lost its detail in every cell of a 3×3 grid over it."""
    x, y, w, h = box
    g0 = before[y : y + h, x : x + w].astype(np.float32).mean(axis=2)
    g1 = after[y : y + h, x : x + w].astype(np.float32).mean(axis=2)
    e0, e1 = _detail(g0), _detail(g1)
    for ys in np.array_split(np.arange(g0.shape[0]), 3):
        for xs in np.array_split(np.arange(g0.shape[1]), 3):
            c0 = e0[np.ix_(ys, xs)].mean()
            if c0 > 1.0 and e1[np.ix_(ys, xs)].mean() > DETAIL_KEPT_MAX * c0:
                return False  # a flat cell (no detail to lose) says nothing either way
    return True


def allowed_mask(shape: tuple[int, int], faces: list[XYWH]) -> np.ndarray:
    """Where blurring is expected: every labelled face grown by ``ALLOWANCE`` on each side."""
    mask = np.zeros(shape, dtype=bool)
    for x, y, w, h in faces:
        gx, gy = round(w * ALLOWANCE), round(h * ALLOWANCE)
        mask[max(0, y - gy) : y + h + gy, max(0, x - gx) : x + w + gx] = True
    return mask


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.any(before != after, axis=2)


# -- one run over the set --------------------------------------------------------------------------


@dataclass
class Report:
    variant: str
    faces: int = 0  # faces >= MIN_FACE_PX
    blurred: int = 0
    small_faces: int = 0
    small_blurred: int = 0
    rest_px: int = 0
    rest_changed_px: int = 0
    images: int = 0
    missed: list[str] = field(default_factory=list)
    worst_rest: tuple[float, str] = (0.0, "")

    @property
    def recall(self) -> float:
        return self.blurred / self.faces if self.faces else 1.0

    @property
    def rest_changed(self) -> float:
        return self.rest_changed_px / self.rest_px if self.rest_px else 0.0


def evaluate(
    photos: list[FacePhoto], variant_name: str, blur: Callable[[Image.Image], Image.Image]
) -> Report:
    """Blur each photo's ``variant_name`` copy with ``blur`` and measure both targets."""
    rep = Report(variant_name)
    for photo in photos:
        src = variant(photo.image, variant_name)
        before = np.asarray(src)
        after = np.asarray(blur(src).convert("RGB"))
        if after.shape != before.shape:
            raise ValueError(f"{photo.name}: the blur changed the size {before.shape} -> {after.shape}")
        for box in photo.faces:
            hit = face_blurred(before, after, box)
            if box[2] >= MIN_FACE_PX:
                rep.faces += 1
                rep.blurred += hit
                if not hit:
                    rep.missed.append(f"{photo.name} {list(box)}")
            else:
                rep.small_faces += 1
                rep.small_blurred += hit
        rest = ~allowed_mask(before.shape[:2], photo.faces)
        n_changed = int((changed(before, after) & rest).sum())
        rep.rest_px += int(rest.sum())
        rep.rest_changed_px += n_changed
        rep.images += 1
        share = n_changed / max(1, int(rest.sum()))
        if share > rep.worst_rest[0]:
            rep.worst_rest = (share, photo.name)
    return rep


# -- loading the set -------------------------------------------------------------------------------


def _checked(path: Path, sha256: str, name: str) -> Path:
    if not path.is_file():
        raise FaceSetError(
            f"{name}: {path} is missing (Debian opencv-doc installed? scripts/bootstrap does it)"
        )
    got = hashlib.sha256(path.read_bytes()).hexdigest()
    if got != sha256:
        raise FaceSetError(f"{name}: {path} has sha256 {got}, the faces were labelled on {sha256}")
    return path


def _source_root(source: str) -> Path:
    if source == "scikit-image":
        return REAL_SET
    if source == "matplotlib":
        import matplotlib  # its sample data ships grace_hopper.jpg

        return Path(matplotlib.get_data_path())
    if source == "opencv-doc":
        return OPENCV_DOC
    raise FaceSetError(f"unknown source {source!r} in {REAL_SET / 'manifest.json'}")


def _video_frames(path: Path, wanted: set[int]) -> dict[int, Image.Image]:
    import av

    out: dict[int, Image.Image] = {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                out[i] = frame.to_image().convert("RGB")
            if i >= max(wanted):
                break
    return out


def load_face_photos() -> list[FacePhoto]:
    """Every photograph of both sets (with faces or without), RGB, with its face boxes."""
    manifest = json.loads((REAL_SET / "manifest.json").read_text())
    labels = json.loads((REAL_SET / "labels.json").read_text())
    files = {
        f["name"]: _checked(_source_root(f["source"]) / f["path"], f["sha256"], f["name"])
        for f in manifest["files"]
    }
    wanted: dict[str, set[int]] = {}
    for e in labels["images"]:
        if "#" in e["file_name"]:
            video, idx = e["file_name"].split("#")
            wanted.setdefault(video, set()).add(int(idx))
    frames = {v: _video_frames(files[v], idxs) for v, idxs in wanted.items()}
    photos = []
    for e in labels["images"]:
        name = e["file_name"]
        if "#" in name:
            video, idx = name.split("#")
            img = frames[video][int(idx)]
        else:
            img = Image.open(files[name]).convert("RGB")
        photos.append(_photo(name, img, e))
    extra = json.loads(EXTRA_SET.read_text())
    root = Path(extra["source"]["root"])
    for e in extra["images"]:
        path = _checked(root / e["path"], e["sha256"], e["file_name"])
        photos.append(_photo(e["file_name"], Image.open(path).convert("RGB"), e))
    return photos


def _photo(name: str, img: Image.Image, entry: dict) -> FacePhoto:  # type: ignore[type-arg]
    if img.size != (entry["width"], entry["height"]):
        raise FaceSetError(f"{name}: {img.size}, labelled as {entry['width']}x{entry['height']}")
    return FacePhoto(name, img, [tuple(int(v) for v in b) for b in entry.get("face", [])])  # type: ignore[misc]
