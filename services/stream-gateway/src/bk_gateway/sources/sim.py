"""Simulated cameras (``sim:<scenario>``): a bksynth kitchen scenario rendered on its own clock.

Used by the embedded demo and tests, so the whole pipeline runs without a single real camera.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from bk_gateway.sources.base import FrameSource, RawFrame, SourceError, SourceInfo
from bk_gateway.sources.frames import ArrayFrame

Renderer = Callable[[float, int, int], np.ndarray]


def load_scenario(name: str, seed: int = 7) -> Renderer:
    """The bksynth demo scenario ``name``; ``pattern*`` is a cheap moving test pattern (tests)."""
    if name.startswith("pattern"):
        return _pattern(name)
    from bksynth import demo_scenarios

    scenarios: list[Any] = demo_scenarios(seed)
    # A name picks that scenario; a zone name (prep, cooking, ...) picks the first of that zone.
    found = [s for s in scenarios if s.name == name] or [s for s in scenarios if s.zone == name]
    if not found:
        known = sorted({s.name for s in scenarios} | {s.zone for s in scenarios})
        raise SourceError("not_found", f"no simulated scenario {name!r}; known: {known}")
    scenario = found[0]
    return lambda t, w, h: scenario.render(t, w, h)[0]


def _pattern(name: str) -> Renderer:
    """A deterministic stand-in: tiled background with a block moving across, seeded by the name."""
    seed = sum(name.encode())

    def render(t: float, w: int, h: int) -> np.ndarray:
        yy, xx = np.mgrid[0:h, 0:w]
        tiles = (((xx // 40) + (yy // 40)) % 2 * 30 + 150 + seed % 40).astype(np.uint8)
        img = np.stack([tiles, tiles, (tiles * 0.9).astype(np.uint8)], axis=-1)
        x = int((t * w / 8) % max(1, w - w // 8))
        img[h // 3 : h // 3 + h // 4, x : x + w // 8] = (200, 60, 40)
        return np.ascontiguousarray(img)

    return render


class SimSource(FrameSource):
    def __init__(
        self, scenario: str, *, fps: float, width: int, height: int, stop: threading.Event | None = None
    ) -> None:
        self._scenario = scenario
        self._fps, self._w, self._h = fps, width, height
        self._stop = stop or threading.Event()
        self._render: Renderer | None = None

    @property
    def decoder(self) -> str:
        return "sim"

    def open(self) -> SourceInfo:
        self._render = load_scenario(self._scenario)
        return SourceInfo(codec="sim", width=self._w, height=self._h, nominal_fps=self._fps)

    def frames(self) -> Iterator[RawFrame]:
        assert self._render is not None, "open() first"
        start = time.monotonic()
        n = 0
        while not self._stop.is_set():
            due = start + n / self._fps
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            t = time.monotonic() - start
            yield ArrayFrame(self._render(t, self._w, self._h), t, keyframe=True)
            n += 1

    def close(self) -> None:
        self._render = None
