"""Scripted scenes for simulated cameras: actors that move and change over time, in a loop.

A `Scenario` is what a simulated camera films: a fixed room, actors with keyframed paths, and spans
during which an actor's look changes ("cook takes the hat off at 8 s for 20 s"). Rendering is a pure
function of (scenario, t, size), so the same seed gives the same video everywhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from bksynth.effects import Camera, apply_camera
from bksynth.frame import Draw, compose
from bksynth.people import PersonLook
from bksynth.room import Room, draw_room
from bksynth.truth import Annotation


@dataclass(frozen=True)
class Change:
    """Overrides applied to an actor while start <= t (in the loop) < end. Keys: look fields
    (chef_hat, mask, uniform, gloves, pose ...), 'visible', 'open' (bins), 'on' (flames)."""

    start: float
    end: float
    set: dict[str, Any]


@dataclass
class Actor:
    kind: str  # person | rodent | bin | flame
    track_id: int
    path: list[tuple[float, float, float]]  # (t, x, y): x, y as fractions; y is the row of the feet
    look: PersonLook | None = None
    params: dict[str, Any] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)

    def at(self, t: float) -> tuple[float, float, dict[str, Any]]:
        ts = [p[0] for p in self.path]
        x = float(np.interp(t, ts, [p[1] for p in self.path]))
        y = float(np.interp(t, ts, [p[2] for p in self.path]))
        state: dict[str, Any] = {"visible": True, **self.params}
        for c in self.changes:
            if c.start <= t < c.end:
                state.update(c.set)
        return x, y, state


@dataclass(frozen=True)
class Violation:
    """What a scenario stages, so tests and demos know what the detector should report and when."""

    type: str  # the DOMAIN.md violation type, e.g. no_chef_hat, rodent, fire_unattended
    start: float
    end: float
    track_id: int


@dataclass
class Scenario:
    name: str
    zone: str  # prep | washing | cooking | storage | serving
    room: Room
    camera: Camera
    actors: list[Actor]
    violations: list[Violation]
    period: float = 60.0
    seed: int = 0
    _backgrounds: dict[tuple[int, int], Image.Image] = field(default_factory=dict, repr=False)

    def _items(self, t: float, w: int, h: int) -> list[Draw]:
        items: list[Draw] = []
        for a in self.actors:
            x, y, st = a.at(t)
            if not st.pop("visible"):
                continue
            px, py = x * w, y * h
            on_counter = st.pop("on_counter", False)
            ppm = (self.room.ppm_wall if on_counter else self.room.ppm(y)) * h
            base = {"x": px, "y": py, "ppm": ppm, "track_id": a.track_id}
            if a.kind == "person" and a.look is not None:
                look = dataclasses.replace(a.look, **{k: v for k, v in st.items() if hasattr(a.look, k)})
                items.append((py, "person", {**base, "look": look}))
            elif a.kind == "rodent":
                facing = 1 if len(a.path) < 2 or a.path[-1][1] >= a.path[0][1] else -1
                items.append(
                    (py, "rodent", {**base, "facing": facing, "color": st.get("color", (90, 82, 75))})
                )
            elif a.kind == "bin":
                items.append(
                    (
                        py,
                        "bin",
                        {
                            **base,
                            "color": st.get("color", (40, 120, 60)),
                            "open": bool(st.get("open", False)),
                            "seed": a.track_id,
                        },
                    )
                )
            elif a.kind == "flame" and st.get("on", True):
                items.append(
                    (
                        py,
                        "flame",
                        {
                            **base,
                            "ppm": self.room.ppm_wall * h,
                            "phase": float(a.track_id),
                            "size": st.get("size", 1.0),
                            "pot": st.get("pot", False),
                        },
                    )
                )
        return items

    def render(self, t: float, width: int, height: int) -> tuple[np.ndarray, list[Annotation]]:
        """The frame at time t (seconds; the script loops every `period`) and its ground truth."""
        tl = t % self.period
        bg = self._backgrounds.get((width, height))
        if bg is None:
            bg = self._backgrounds[(width, height)] = draw_room(self.room, width, height)
        boxes, img = compose(self.room, self._items(tl, width, height), width, height, tl, background=bg)
        rng = np.random.default_rng([self.seed, int(tl * 1000)])  # noise loops with the script
        arr = apply_camera(img, self.camera, rng)
        return arr, [a for b in boxes if (a := b.to_annotation(width, height)) is not None]

    def active_violations(self, t: float) -> list[Violation]:
        tl = t % self.period
        return [v for v in self.violations if v.start <= tl < v.end]
