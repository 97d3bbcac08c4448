"""Frames for the detector: JPEG at the detector's size (small on the wire, any decoder reads it)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def to_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality, optimize=False)
    return buf.getvalue()
