"""RawFrame implementations: one over a numpy image (simulated), one over a PyAV frame."""

from __future__ import annotations

import threading

import av
import numpy as np
from av.video.reformatter import VideoReformatter
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


class Scaler:
    """One swscale context kept across a camera's frames. Building it costs more than the scaling it
    does (measured per 1080p frame, depending on the CPU: 1-5 ms more for the 64x36 probe, 2-6 ms more
    for the 640x360 RGB), and a camera's frames share a size and format, so it is built once, not per
    frame. A viewer's snapshot at another size rebuilds it, once per snapshot."""

    def __init__(self) -> None:
        self._reformatter = VideoReformatter()
        self._lock = threading.Lock()  # a viewer's snapshot is encoded on another thread

    def to_ndarray(self, frame: av.VideoFrame, fmt: str, width: int, height: int) -> np.ndarray:
        with self._lock:
            return self._reformatter.reformat(frame, format=fmt, width=width, height=height).to_ndarray()


class AvFrame(RawFrame):
    def __init__(self, frame: av.VideoFrame, time_s: float, *, rgb: Scaler, probe: Scaler) -> None:
        self._frame = frame
        self.time_s = time_s
        self.keyframe = bool(frame.key_frame)
        self._rgb, self._probe = rgb, probe

    def rgb(self, width: int, height: int) -> np.ndarray:
        # swscale converts and scales in one pass: far cheaper than full-size RGB then PIL.
        return self._rgb.to_ndarray(self._frame, "rgb24", width, height)

    def probe(self) -> np.ndarray:
        return self._probe.to_ndarray(self._frame, "gray", PROBE_W, PROBE_H)
