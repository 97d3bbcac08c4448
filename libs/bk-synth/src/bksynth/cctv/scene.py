"""What every builder of the scene shares: the frame's noise, the camera, and a floor-space ledger.

`Scene` keeps the shapes to draw, the labelled objects to report, the soft shadows on the floor and
the free floor cells, so builders (room, staff, things) never need to know about each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bksynth.cctv.camera import CeilingCamera
from bksynth.cctv.shapes import Rect, Shape
from bksynth.cctv.textures import Noise

CELL = 0.1  # metres per cell of the floor ledger


@dataclass
class Labelled:
    """A labelled object being built: its id in the id buffer and what the truth will say."""

    oid: int
    label: str
    attributes: dict[str, int] = field(default_factory=dict)
    centre: tuple[float, float, float] = (0.0, 0.0, 0.0)
    velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)  # m/s, for motion blur
    min_box_px: float = 3.0  # a labelled box is grown to at least this many pixels a side


@dataclass
class Scene:
    rng: np.random.Generator
    noise: Noise
    cam: CeilingCamera
    width_m: float
    depth_m: float
    ceiling_m: float
    shapes: list[Shape] = field(default_factory=list)
    objects: list[Labelled] = field(default_factory=list)
    shadows: list[tuple[float, float, float, float]] = field(default_factory=list)  # x, y, radius, depth
    footprints: list[tuple[float, float, float, float]] = field(default_factory=list)  # contact shadows
    steam: list[tuple[float, float, float, float]] = field(default_factory=list)  # x, y, z, strength
    smoke: list[tuple[float, float, float]] = field(default_factory=list)  # cigarette tips
    blocked: np.ndarray = field(default_factory=lambda: np.zeros((1, 1), bool))

    def __post_init__(self) -> None:
        nx, ny = int(np.ceil(self.width_m / CELL)), int(np.ceil(self.depth_m / CELL))
        self.blocked = np.zeros((ny, nx), bool)

    @property
    def origin(self) -> np.ndarray:
        return self.cam.origin

    @property
    def focal(self) -> float:
        return self.cam.focal

    def new_object(self, label: str, **kw: object) -> Labelled:
        obj = Labelled(len(self.objects) + 1, label, **kw)  # type: ignore[arg-type]
        self.objects.append(obj)
        return obj

    def add(self, shapes: list[Shape] | Shape) -> None:
        self.shapes.extend(shapes if isinstance(shapes, list) else [shapes])

    def _cells(self, x0: float, y0: float, x1: float, y1: float) -> tuple[slice, slice]:
        ny, nx = self.blocked.shape
        i0, i1 = max(0, int(np.floor(x0 / CELL))), min(nx, int(np.ceil(x1 / CELL)))
        j0, j1 = max(0, int(np.floor(y0 / CELL))), min(ny, int(np.ceil(y1 / CELL)))
        return slice(j0, j1), slice(i0, i1)

    def block(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.blocked[self._cells(x0, y0, x1, y1)] = True

    def is_free(self, x: float, y: float, r: float) -> bool:
        if not (r <= x <= self.width_m - r and r <= y <= self.depth_m - r):
            return False
        return not self.blocked[self._cells(x - r, y - r, x + r, y + r)].any()

    def in_view(self, point: tuple[float, float, float], margin: float = 0.0) -> bool:
        """Whether a world point lands inside the frame (margin: share of the frame allowed outside)."""
        px, z = self.cam.project(np.array([point]))
        if z[0] <= 0.3:
            return False
        mx, my = margin * self.cam.width, margin * self.cam.height
        return bool(-mx <= px[0, 0] <= self.cam.width + mx and -my <= px[0, 1] <= self.cam.height + my)

    def free_spot(self, r: float, tries: int = 40, view_margin: float = 0.05) -> tuple[float, float] | None:
        """A random free floor point with clearance r that the camera sees."""
        for _ in range(tries):
            x = float(self.rng.uniform(r, self.width_m - r))
            y = float(self.rng.uniform(r, self.depth_m - r))
            if self.is_free(x, y, r) and self.in_view((x, y, 0.5), view_margin):
                return x, y
        return None


def obox(
    centre: np.ndarray,
    axes: np.ndarray,
    half: tuple[float, float, float],
    paints: dict[str, object],
    material: str = "matte",
    oid: int = 0,
    part: int = 0,
) -> list[Rect]:
    """An oriented box: rows of `axes` are its unit x, y, z directions; paints per face key
    ('x', 'X', 'y', 'Y', 'z', 'Z'; missing keys use paints['*'])."""
    c, (ax, ay, az) = np.asarray(centre, float), np.asarray(axes, float)
    hx, hy, hz = half
    spec = {  # corner, u, v, lengths, and the outward normal
        "x": (c - ax * hx - ay * hy - az * hz, ay, az, 2 * hy, 2 * hz, -ax),
        "X": (c + ax * hx - ay * hy - az * hz, ay, az, 2 * hy, 2 * hz, ax),
        "y": (c - ax * hx - ay * hy - az * hz, ax, az, 2 * hx, 2 * hz, -ay),
        "Y": (c - ax * hx + ay * hy - az * hz, ax, az, 2 * hx, 2 * hz, ay),
        "z": (c - ax * hx - ay * hy - az * hz, ax, ay, 2 * hx, 2 * hy, -az),
        "Z": (c - ax * hx - ay * hy + az * hz, ax, ay, 2 * hx, 2 * hy, az),
    }
    out = []
    for f, (o, u, v, a, b, outward) in spec.items():
        side = 1 if np.cross(u, v) @ outward > 0 else -1
        paint = paints.get(f, paints.get("*"))
        out.append(Rect(paint, material, oid, part, o, u, v, a, b, side))  # type: ignore[arg-type]
    return out
