"""Camera effects: uneven lighting, colour cast, sensor noise, blur, JPEG, infrared night mode."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

_NOISE_BANK: np.ndarray | None = None


def _noise_bank() -> np.ndarray:
    # One fixed block of Gaussian noise per process, sampled at random offsets: drawing fresh noise for
    # every frame would cost more than the whole drawing of the scene.
    global _NOISE_BANK
    if _NOISE_BANK is None:
        _NOISE_BANK = np.random.default_rng(1234).standard_normal((1200, 2000, 3)).astype(np.float32)
    return _NOISE_BANK


@dataclass(frozen=True)
class Camera:
    """How a camera sees: fixed per simulated camera, random per training frame."""

    gain: float = 1.0
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    gradient: float = 0.0  # brightness change from top to bottom of the frame
    noise: float = 3.0  # sigma in 8-bit levels
    blur: float = 0.0  # Gaussian radius in pixels at 640 px width
    jpeg: int = 0  # quality, 0 = no re-encoding
    night: bool = False

    @classmethod
    def random(cls, rng: np.random.Generator, night: bool = False) -> Camera:
        return cls(
            gain=float(rng.uniform(0.55, 1.25)),
            tint=(
                float(rng.uniform(0.88, 1.12)),
                float(rng.uniform(0.92, 1.08)),
                float(rng.uniform(0.85, 1.12)),
            ),
            gradient=float(rng.uniform(-0.35, 0.35)),
            noise=float(rng.uniform(1.0, 9.0 if not night else 16.0)),
            blur=float(rng.choice([0.0, 0.0, 0.6, 1.0, 1.6])),
            jpeg=int(rng.choice([0, 0, 30, 50, 75, 90])),
            night=night,
        )


def apply_camera(img: Image.Image, cam: Camera, rng: np.random.Generator) -> np.ndarray:
    w, h = img.size
    if cam.blur > 0:  # down-and-up resampling: a soft focus at a fraction of a Gaussian's cost
        f = 1.0 + cam.blur
        img = img.resize((max(1, int(w / f)), max(1, int(h / f))), Image.BILINEAR).resize(
            (w, h), Image.BILINEAR
        )
    arr = np.asarray(img, dtype=np.float32)
    if cam.night:  # IR cameras see grey, flat and noisy
        arr = arr.mean(axis=2, keepdims=True) * np.ones((1, 1, 3), np.float32)
    rows = 1.0 + cam.gradient * (np.linspace(-0.5, 0.5, h, dtype=np.float32))
    tint = np.ones(3, np.float32) if cam.night else np.asarray(cam.tint, np.float32)
    arr *= (rows[:, None, None] * tint[None, None, :]) * cam.gain
    if cam.noise > 0:
        bank = _noise_bank()
        oy = int(rng.integers(0, max(1, bank.shape[0] - h)))
        ox = int(rng.integers(0, max(1, bank.shape[1] - w)))
        patch = bank[oy : oy + h, ox : ox + w]
        if patch.shape[:2] == (h, w):
            arr += patch * np.float32(cam.noise)
    out = np.clip(arr, 0, 255, out=arr).astype(np.uint8)
    if cam.jpeg:
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, format="JPEG", quality=cam.jpeg)
        out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return out
