"""A scripted stand-in for the model, for tests and demos that must not load torch weights.

It follows ``modelapi.DetectionModel``; what it "sees" is decided by a script over the image, e.g.
by the image's colour, so a test can drive the whole pipeline through real JPEG frames.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from bk_detector.detections import Detection


@dataclass(frozen=True)
class FakeDetection:
    label: str
    score: float
    box: tuple[float, float, float, float]
    attributes: dict[str, float] = field(default_factory=dict)


Script = Callable[[np.ndarray], Sequence[FakeDetection]]


class ScriptedModel:
    labels = ["person", "phone", "cigarette", "rodent", "trash_bin_open", "trash_bin_closed", "flame"]
    name = "scripted"
    version = "test-1"
    device = "cpu"
    precision = "fp32"
    input_width = 320
    input_height = 192

    def __init__(
        self,
        script: Script | None = None,
        *,
        delay_s: float = 0.0,
        fail: Callable[[list[np.ndarray]], bool] | None = None,
    ) -> None:
        self.script = script or (lambda _img: [])
        self.delay_s = delay_s
        self.fail = fail
        self.batch_sizes: list[int] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def predict(self, images: list[np.ndarray]) -> list[list[FakeDetection]]:
        with self._lock:
            self.batch_sizes.append(len(images))
            self.threads.add(threading.current_thread().name)
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail is not None and self.fail(images):
            raise RuntimeError("scripted model failure")
        return [list(self.script(img)) for img in images]


def solid_jpeg(rgb: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    """A one-colour JPEG: the colour is the scene code a colour script reacts to."""
    out = io.BytesIO()
    Image.new("RGB", size, rgb).save(out, format="JPEG", quality=95)
    return out.getvalue()


def by_colour(scenes: dict[tuple[int, int, int], Sequence[FakeDetection]], tolerance: int = 24) -> Script:
    """A script answering with the scene whose colour is closest to the image's mean colour."""

    def script(img: np.ndarray) -> Sequence[FakeDetection]:
        mean = img.reshape(-1, 3).mean(axis=0)
        for colour, dets in scenes.items():
            if np.abs(mean - np.array(colour)).max() <= tolerance:
                return dets
        return []

    return script


def noise_jpeg(width: int = 64, height: int = 48, *, seed: int = 0, mode: str = "RGB") -> bytes:
    """A JPEG of random pixels (RGB or greyscale ``mode="L"``)."""
    rng = np.random.default_rng(seed)
    shape = (height, width, 3) if mode == "RGB" else (height, width)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode=mode).save(out, format="JPEG")
    return out.getvalue()


def kitchen_detections(step: int) -> list[Detection]:
    """What a model sees in a working kitchen: two cooks with everything worn and a closed bin.
    The cooks move a little with ``step`` (a camera's consecutive frames), so a tracker has work."""
    shift = (step % 7) * 0.01
    worn = {"chef_hat": 0.9, "mask": 0.9, "uniform": 0.9, "gloves": 0.9}
    return [
        Detection("person", 0.9, (0.1 + shift, 0.1, 0.3 + shift, 0.9), dict(worn)),
        Detection("person", 0.8, (0.5 + shift, 0.2, 0.7 + shift, 0.95), dict(worn)),
        Detection("trash_bin_closed", 0.7, (0.8, 0.7, 0.9, 0.95), {}),
    ]


def demo_jpegs(n: int, width: int = 640, height: int = 360, quality: int = 85) -> list[bytes]:
    """``n`` JPEG frames of bksynth's demo kitchen scenes (cooks, and the scripted violations),
    one second apart: real pictures for tests of the real model."""
    from bksynth import demo_scenarios

    scenes = demo_scenarios(0)
    out = []
    for i in range(n):
        arr, _ = scenes[i % len(scenes)].render(3.0 + i, width, height)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
        out.append(buf.getvalue())
    return out


def assert_same_detections(
    got: Sequence[Sequence[object]], want: Sequence[Sequence[object]], tol: float = 1e-3
) -> None:
    """Frame by frame, the same labels in the same order, with scores, boxes and attributes
    within ``tol`` (two runs of the same model on different paths or precisions)."""
    import pytest

    assert len(got) == len(want)
    for frame_got, frame_want in zip(got, want, strict=True):
        assert [d.label for d in frame_got] == [d.label for d in frame_want]  # type: ignore[attr-defined]
        for a, b in zip(frame_got, frame_want, strict=True):
            assert a.score == pytest.approx(b.score, abs=tol)  # type: ignore[attr-defined]
            assert a.box == pytest.approx(b.box, abs=tol)  # type: ignore[attr-defined]
            assert a.attributes == pytest.approx(b.attributes, abs=tol)  # type: ignore[attr-defined]
