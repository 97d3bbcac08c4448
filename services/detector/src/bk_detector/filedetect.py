"""``brightkitchen detector detect``: run the detector on picture and video files (试用: how a user
tries the AI on their own picture).

Every JPEG/PNG (any size) and every N-th frame of a video file goes through the same model the
service runs (``model.runtime``), in batches. Results are written as annotated JPEGs and, on
request, as one JSON file:

    {"<file name>": [{"label": "person", "box": [x, y, w, h], "score": 0.87,
                      "attributes": {"chef_hat": 0.91, ...}}, ...], ...}

boxes in the original picture's pixels. A video frame's key is ``<file name>#<frame>``, the frame
counted from 0 in decoding order and written with six digits (``vtest.avi#000120``). A file that
cannot be read is reported on stderr and skipped; the others are still done.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from bk_detector.detections import Detection

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mkv", ".mov", ".ts", ".flv", ".webm", ".h264", ".h265"})
BATCH = 8


class UnreadableFile(Exception):
    """A file that is not a picture or video we can decode (the message says why)."""


@dataclass(frozen=True, slots=True)
class Frame:
    key: str  # JSON key: the file name, or <file name>#<frame> for a video frame
    pixels: np.ndarray  # HxWx3 uint8 RGB


def frame_key(name: str, index: int | None = None) -> str:
    return name if index is None else f"{name}#{index:06d}"


def to_json(detections: Sequence[Detection], width: int, height: int) -> list[dict]:
    """The detections of one picture in the JSON shape: [x, y, w, h] in its own pixels."""
    out = []
    for d in detections:
        x1, y1, x2, y2 = d.box
        out.append(
            {
                "label": d.label,
                "box": [
                    round(x1 * width, 1),
                    round(y1 * height, 1),
                    round((x2 - x1) * width, 1),
                    round((y2 - y1) * height, 1),
                ],
                "score": round(float(d.score), 3),
                "attributes": {k: round(float(v), 3) for k, v in d.attributes.items()},
            }
        )
    return out


def expand(paths: Sequence[Path]) -> list[Path]:
    """Files as given; a directory stands for the pictures and videos directly inside it."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
        else:
            out.append(p)
    return out


def read_frames(path: Path, every: int) -> Iterator[tuple[int | None, np.ndarray]]:
    """(None, pixels) for a picture; (index, pixels) for every ``every``-th frame of a video."""
    if not path.is_file():
        raise UnreadableFile("no such file")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        yield from _video_frames(path, every)
        return
    try:
        with Image.open(path) as img:
            img.load()
            yield None, np.array(img.convert("RGB"))  # a writable copy: torch takes it as is
    except OSError as exc:  # PIL's UnidentifiedImageError is an OSError
        if path.suffix.lower() in IMAGE_SUFFIXES:
            raise UnreadableFile(f"not a readable JPEG/PNG ({exc})") from None
        yield from _video_frames(path, every)  # an unknown suffix: maybe a video after all


def _video_frames(path: Path, every: int) -> Iterator[tuple[int, np.ndarray]]:
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise UnreadableFile(f"neither a picture nor a video we can decode ({exc})") from None
    with container:
        if not container.streams.video:
            raise UnreadableFile("has no video stream")
        try:
            for i, frame in enumerate(container.decode(video=0)):
                if i % every == 0:
                    yield i, frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise UnreadableFile(f"video stops decoding ({exc})") from None


def count_frames(path: Path, every: int) -> int:
    """How many frames ``read_frames`` will yield (for the progress bar; 1 if unknown)."""
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        return 1
    try:
        import av

        with av.open(str(path)) as c:
            n = c.streams.video[0].frames if c.streams.video else 0
        return max(1, -(-n // every)) if n else 1
    except Exception:  # only a progress estimate: reading it properly reports the real problem
        return 1


def draw(pixels: np.ndarray, detections: Sequence[Detection]) -> Image.Image:
    """The picture with every box, its label and score; people also show what they wear."""
    from bk_detector.annotate import OTHER_COLOUR, VIOLATION_COLOUR, _fonts, _label

    img = Image.fromarray(pixels)
    w, h = img.size
    canvas = ImageDraw.Draw(img)
    size = max(11, h // 40)
    fonts = _fonts(None, size)
    line = max(2, h // 300)
    for d in detections:
        x1, y1, x2, y2 = int(d.box[0] * w), int(d.box[1] * h), int(d.box[2] * w), int(d.box[3] * h)
        colour = OTHER_COLOUR if d.label == "person" else VIOLATION_COLOUR
        canvas.rectangle((x1, y1, x2, y2), outline=colour, width=line)
        worn = " ".join(f"{k}{'+' if v >= 0.5 else '-'}" for k, v in d.attributes.items())
        _label(canvas, (x1, max(y1 - size - 4, 0)), f"{d.label} {d.score:.2f} {worn}".strip(), fonts, colour)
    return img


def dumps(results: dict[str, list[dict]]) -> str:
    """The JSON text: one picture per key, one detection per line (readable, and still plain JSON)."""
    if not results:
        return "{}\n"
    parts = []
    for key, dets in results.items():
        body = ",\n".join("  " + json.dumps(d) for d in dets)
        parts.append(f"{json.dumps(key)}: [\n{body}\n ]" if dets else f"{json.dumps(key)}: []")
    return "{\n " + ",\n ".join(parts) + "\n}\n"


def _out_name(key: str) -> str:
    return key.replace("/", "_").replace("#", "_") + ".jpg"


def detect_files(
    model,
    paths: Sequence[Path],
    out_dir: Path,
    every: int = 1,
    json_path: Path | None = None,
    progress: bool = True,
    err=sys.stderr,
) -> tuple[dict[str, list[dict]], list[str]]:
    """Run ``model`` (a ``ModelRuntime``) on ``paths``; returns (results by key, failures)."""
    from tqdm import tqdm

    if every < 1:
        raise ValueError("--every must be at least 1")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = expand(paths)
    results: dict[str, list[dict]] = {}
    failures: list[str] = []
    bar = tqdm(total=sum(count_frames(p, every) for p in files), unit="frame", disable=not progress, file=err)
    pending: list[Frame] = []

    def flush() -> None:
        for frame, dets in zip(pending, model.predict([f.pixels for f in pending]), strict=True):
            h, w = frame.pixels.shape[:2]
            results[frame.key] = to_json(dets, w, h)
            draw(frame.pixels, dets).save(out_dir / _out_name(frame.key), quality=90)
        bar.update(len(pending))
        pending.clear()

    names: set[str] = set()
    for path in files:
        # keys are file names; a second file of the same name (another folder) keeps its path
        name = path.name if path.name not in names else str(path)
        names.add(name)
        try:
            for index, pixels in read_frames(path, every):
                pending.append(Frame(frame_key(name, index), pixels))
                if len(pending) >= BATCH:
                    flush()
        except UnreadableFile as exc:
            bar.update(1)
            failures.append(f"{path}: {exc}")
            print(f"skipped {path}: {exc}", file=err)
        flush()
    bar.close()
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(dumps(results))
    return results, failures
