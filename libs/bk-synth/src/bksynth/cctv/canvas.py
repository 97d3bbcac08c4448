"""The frame being rendered: colour, depth and object-id buffers, and the kitchen's ceiling lights.

Shapes are ray cast one by one inside the pixel rectangle their bounds project to, and each pixel keeps
the nearest hit (a z-buffer), so drawing order does not matter. The id buffer records which labelled
object (and which part of it) is seen at every pixel; the truth boxes, visibility and the attributes a
camera can actually see are read from it after the last shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bksynth.cctv.camera import CeilingCamera
from bksynth.cctv.shapes import Shape

PARTS = 8  # id = object id * PARTS + part


@dataclass
class Lighting:
    """Ceiling lights (points on the ceiling), their falloff and the ambient share; colour is the
    lamps' tint (fluorescent green-white, warm LED, ...)."""

    lights: np.ndarray  # (L, 3) metres
    ambient: float = 0.35
    gain: float = 1.0
    falloff_m: float = 3.0
    colour: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def near(self, p: np.ndarray, count: int = 6) -> np.ndarray:
        """The lamps nearest the middle of these points: far lamps add little and cost as much. (For the
        room shell, lit in one call, that is the lamps nearest the middle of the view: far corners of a
        big kitchen come out a little darker than they would, a cost cut that changes no truth.)"""
        if len(self.lights) <= count:
            return self.lights
        mid = p.mean(0)
        order = np.argsort(((self.lights - mid) ** 2).sum(1))
        return self.lights[order[:count]]

    def irradiance(self, p: np.ndarray, n: np.ndarray) -> np.ndarray:
        v = (self.near(p)[None, :, :] - p[:, None, :]).astype(np.float32)
        dist2 = np.maximum(np.einsum("nlk,nlk->nl", v, v), 1e-6)
        cos = np.clip(np.einsum("nlk,nk->nl", v, n.astype(np.float32)) / np.sqrt(dist2), 0.0, 1.0)
        direct = (cos / (1.0 + dist2 / np.float32(self.falloff_m**2))).sum(1)
        return self.ambient + self.gain * direct

    def highlight(self, p: np.ndarray, n: np.ndarray, d: np.ndarray, sharpness: float) -> np.ndarray:
        """Mirror reflections of the lamps (steel glare, wet floors): how closely the reflected view ray
        points at a lamp."""
        r = (d - 2.0 * (d * n).sum(1, keepdims=True) * n).astype(np.float32)
        v = (self.near(p)[None, :, :] - p[:, None, :]).astype(np.float32)
        cos = np.einsum("nlk,nk->nl", v, r) / np.sqrt(np.maximum(np.einsum("nlk,nlk->nl", v, v), 1e-6))
        return np.exp((cos - 1.0) * np.float32(sharpness)).sum(1)


class Canvas:
    def __init__(self, cam: CeilingCamera, lighting: Lighting) -> None:
        self.cam = cam
        self.lighting = lighting
        self.rays, self.zscale = cam.rays
        h, w = cam.height, cam.width
        self.rgb = np.zeros((h, w, 3), np.float32)
        self.depth = np.full((h, w), np.inf, np.float32)
        self.ids = np.zeros((h, w), np.int32)
        self.own: dict[int, np.ndarray] = {}  # object id -> every pixel it covers, hidden or not

    def draw_all(self, shapes: list[Shape]) -> None:
        for s in shapes:
            self.draw(s)

    def draw(self, shape: Shape) -> None:
        if shape.culled(self.cam.origin):
            return
        box = self.cam.pixel_box(shape.bounds())
        if box is None:
            return
        x0, y0, x1, y1 = box
        d = self.rays[y0:y1, x0:x1].reshape(-1, 3)
        o = self.cam.origin
        t, n, local = shape.intersect(o, d)
        hit = np.isfinite(t)
        if not hit.any():
            return
        if shape.oid:
            own = self.own.setdefault(shape.oid, np.zeros(self.depth.shape, bool))
            own[y0:y1, x0:x1] |= hit.reshape(y1 - y0, x1 - x0)
        depth = (t * self.zscale[y0:y1, x0:x1].ravel()).astype(np.float32)
        region = self.depth[y0:y1, x0:x1].ravel()
        idx = np.nonzero(hit & (depth < region))[0]
        if len(idx) == 0:
            return
        dd = d[idx].astype(np.float64)
        p = o + dd * t[idx, None]
        nn = np.asarray(n)[idx]
        nn = np.where(((nn * dd).sum(1) > 0)[:, None], -nn, nn)  # two-sided: face the viewer
        rgb, part = self.shade(shape, p, nn, np.asarray(local)[idx], dd)
        rows, cols = idx // (x1 - x0) + y0, idx % (x1 - x0) + x0
        self.rgb[rows, cols] = rgb
        self.depth[rows, cols] = depth[idx]
        pid = shape.part if part is None else part
        self.ids[rows, cols] = shape.oid * PARTS + pid if shape.oid else 0

    def shade(
        self, shape: Shape, p: np.ndarray, n: np.ndarray, local: np.ndarray, d: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        if callable(shape.paint):
            base, part = shape.paint(p, n, local)
        else:
            base, part = np.broadcast_to(np.asarray(shape.paint, np.float64), p.shape), None
        if shape.material == "glow":
            return base, part
        light = self.lighting
        col = np.asarray(light.colour)
        irr = light.irradiance(p, n)[:, None]
        if shape.material == "steel":  # dull body, bright mirror images of the lamps
            spec = light.highlight(p, n, d, 30.0)[:, None]
            # steel mostly shows what it mirrors: the bright ceiling above, the darker floor below
            rz = (d[:, 2] - 2.0 * (d * n).sum(1) * n[:, 2])[:, None]
            env = 0.55 + 0.45 * np.clip(rz, -1.0, 1.0)
            out = base * (0.35 * irr + 0.25 + 0.6 * env) + 200.0 * np.minimum(spec, 1.5)
        elif shape.material == "gloss":
            spec = light.highlight(p, n, d, 120.0)[:, None]
            out = base * irr + 120.0 * np.minimum(spec, 1.2)
        else:
            out = base * irr
        return out * col, part

    def visible_box(self, oid: int) -> tuple[int, int, int, int, int] | None:
        """(x0, y0, x1, y1, pixels) of what is seen of an object, x1/y1 exclusive; None if hidden."""
        m = (self.ids // PARTS) == oid
        if not m.any():
            return None
        ys, xs = np.nonzero(m.any(1))[0], np.nonzero(m.any(0))[0]
        return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1, int(m.sum())

    def part_pixels(self, oid: int, part: int) -> int:
        return int((self.ids == oid * PARTS + part).sum())
