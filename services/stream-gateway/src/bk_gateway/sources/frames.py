"""RawFrame implementations: one over a numpy image (simulated), one over a PyAV frame."""

from __future__ import annotations

import av
import numpy as np
from PIL import Image

from bk_gateway.sources.base import PROBE_H, PROBE_W, RawFrame


class ArrayFrame(RawFrame):
    def __init__(self, image: np.ndarray, time_s: float, keyframe: bool = True) -> None:
        self._image = image
        self.time_s = time_s
        self.keyframe = keyframe

    def rgb(self, width: int, height: int) -> np.ndarray:
        if self._image.shape[1] == width and self._image.shape[0] == height:
            return self._image
        return np.asarray(Image.fromarray(self._image).resize((width, height), Image.BILINEAR))

    def probe(self) -> np.ndarray:
        gray = Image.fromarray(self._image).convert("L").resize((PROBE_W, PROBE_H), Image.BILINEAR)
        return np.asarray(gray)


class AvFrame(RawFrame):
    def __init__(self, frame: av.VideoFrame, time_s: float) -> None:
        self._frame = frame
        self.time_s = time_s
        self.keyframe = bool(frame.key_frame)

    def rgb(self, width: int, height: int) -> np.ndarray:
        # swscale converts and scales in one pass: far cheaper than full-size RGB then PIL.
        return self._frame.to_ndarray(format="rgb24", width=width, height=height)

    def probe(self) -> np.ndarray:
        return self._frame.to_ndarray(format="gray", width=PROBE_W, height=PROBE_H)
