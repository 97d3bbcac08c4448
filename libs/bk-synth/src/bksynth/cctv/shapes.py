"""Solid shapes the ray caster knows: flat rectangles and discs, ellipsoids, capsules and cylinders.

Each shape answers where a bundle of rays from one origin first hits it (distance t, np.inf on a miss),
the surface normal there, and local coordinates its paint uses (position on a face, a point on the
unit sphere of an ellipsoid, the share along a capsule's axis). Exact intersections, so an arm in front
of a counter and a head above a table hide each other per pixel, not per object.
Formulas for capsule and cylinder: Inigo Quilez, "intersectors" (MIT).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# paint(points, normals, local) -> (rgb 0..255 (N, 3), part per pixel (N,) or None)
PaintFn = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray | None]]
Paint = tuple[float, float, float] | PaintFn
Vec = np.ndarray


def _v(x: object) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _unit_normal(u: object, v: object) -> np.ndarray:
    """u x v, normalised; plain floats, since numpy's cross costs more than the rest on 3-vectors."""
    (ux, uy, uz), (vx, vy, vz) = (float(c) for c in np.ravel(u)), (float(c) for c in np.ravel(v))
    n = (uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx)
    norm = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]) ** 0.5
    return np.array(n) / norm


@dataclass
class Shape(ABC):
    """A surface the ray caster can hit; every concrete shape says where it lies and how a ray meets it."""

    paint: Paint = (128.0, 128.0, 128.0)
    material: str = "matte"  # matte | steel | gloss | glow (emits, no shading)
    oid: int = 0  # the labelled object this belongs to; 0 = scenery
    part: int = 0  # which part of the object (see truth bookkeeping in frame.py)

    @abstractmethod
    def bounds(self) -> np.ndarray:
        """Points (N x 3, metres) whose hull encloses the shape, e.g. its corners."""

    def culled(self, origin: Vec) -> bool:
        """True when the camera sees only the back of this surface (a closed solid's far faces)."""
        return False

    @abstractmethod
    def intersect(self, o: Vec, d: Vec) -> tuple[Vec, Vec, Vec]:
        """Where rays from ``o`` along ``d`` hit the shape (see the concrete shapes for the arrays)."""


def _box_corners(lo: Vec, hi: Vec) -> np.ndarray:
    return np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])


@dataclass
class Rect(Shape):
    """A flat rectangle: corner `origin`, unit edge directions u and v, side lengths a and b."""

    origin: Vec = field(default_factory=lambda: np.zeros(3))
    u: Vec = field(default_factory=lambda: np.array([1.0, 0.0, 0.0]))
    v: Vec = field(default_factory=lambda: np.array([0.0, 1.0, 0.0]))
    a: float = 1.0
    b: float = 1.0
    side: int = 0  # +1 / -1: u x v (or its opposite) points out of a closed solid; 0 = two-sided

    def culled(self, origin: Vec) -> bool:
        if not self.side:
            return False
        n = _unit_normal(self.u, self.v) * self.side
        return bool((origin - _v(self.origin)) @ n <= 0)

    def bounds(self) -> np.ndarray:
        o, u, v = _v(self.origin), _v(self.u), _v(self.v)
        return np.array([o, o + u * self.a, o + v * self.b, o + u * self.a + v * self.b])

    def intersect(self, o: Vec, d: Vec) -> tuple[Vec, Vec, Vec]:
        org, u, v = _v(self.origin), _v(self.u), _v(self.v)
        n = _unit_normal(u, v)
        uvn = np.stack([u, v, n], 1).astype(d.dtype)
        du, dv, dn = (d @ uvn).T  # one pass over the rays for all three directions
        rel = o - org
        with np.errstate(divide="ignore", invalid="ignore"):
            t = -(rel @ n) / dn
        a, b = rel @ u + t * du, rel @ v + t * dv
        ok = (t > 1e-4) & (a >= 0) & (a <= self.a) & (b >= 0) & (b <= self.b) & np.isfinite(t)
        return np.where(ok, t, np.inf), np.broadcast_to(n, d.shape), np.stack([a, b], 1)


@dataclass
class Disc(Shape):
    centre: Vec = field(default_factory=lambda: np.zeros(3))
    u: Vec = field(default_factory=lambda: np.array([1.0, 0.0, 0.0]))
    v: Vec = field(default_factory=lambda: np.array([0.0, 1.0, 0.0]))
    r: float = 0.1

    def bounds(self) -> np.ndarray:
        c, u, v = _v(self.centre), _v(self.u) * self.r, _v(self.v) * self.r
        return np.array([c + u + v, c + u - v, c - u + v, c - u - v])

    def intersect(self, o: Vec, d: Vec) -> tuple[Vec, Vec, Vec]:
        c, u, v = _v(self.centre), _v(self.u), _v(self.v)
        n = _unit_normal(u, v)
        du, dv, dn = (d @ np.stack([u, v, n], 1).astype(d.dtype)).T
        rel = o - c
        with np.errstate(divide="ignore", invalid="ignore"):
            t = -(rel @ n) / dn
        a, b = rel @ u + t * du, rel @ v + t * dv
        ok = (t > 1e-4) & (a * a + b * b <= self.r * self.r) & np.isfinite(t)
        return np.where(ok, t, np.inf), np.broadcast_to(n, d.shape), np.stack([a, b], 1)


@dataclass
class Ellipsoid(Shape):
    """Centre and semi-axes as the columns of `axes`; hits beyond the plane clip_n . p > clip_d are cut
    away, which makes bowls, woks and open containers (the far inner wall shows through the cut)."""

    centre: Vec = field(default_factory=lambda: np.zeros(3))
    axes: Vec = field(default_factory=lambda: np.eye(3) * 0.1)
    clip_n: Vec | None = None
    clip_d: float = 0.0

    def bounds(self) -> np.ndarray:
        ext = np.sqrt((_v(self.axes) ** 2).sum(1))
        return _box_corners(_v(self.centre) - ext, _v(self.centre) + ext)

    def intersect(self, o: Vec, d: Vec) -> tuple[Vec, Vec, Vec]:
        d = d.astype(np.float64)
        inv = np.linalg.inv(_v(self.axes))
        o2 = inv @ (o - _v(self.centre))
        d2 = d @ inv.T
        a = (d2 * d2).sum(1)
        b = d2 @ o2
        c = o2 @ o2 - 1.0
        h = b * b - a * c
        ok = h >= 0
        sh = np.sqrt(np.where(ok, h, 0.0))
        t = np.where(ok, (-b - sh) / a, np.inf)
        inner = np.zeros(len(d))
        if self.clip_n is not None:
            cn = _v(self.clip_n)
            t2 = np.where(ok, (-b + sh) / a, np.inf)
            cut1 = (o + d * np.where(ok, t, 0.0)[:, None]) @ cn > self.clip_d
            cut2 = (o + d * np.where(ok, t2, 0.0)[:, None]) @ cn > self.clip_d
            t = np.where(cut1, np.where(cut2, np.inf, t2), t)
            inner = (cut1 & ~cut2).astype(float)
        t = np.where(t > 1e-4, t, np.inf)
        tt = np.where(np.isfinite(t), t, 0.0)
        local = o2 + d2 * tt[:, None]
        n = local @ inv  # gradient of |inv (p - c)|^2 is inv^T inv (p - c)
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        # local: the hit on the unit sphere (x, y, z along the axes) and 1 where the inside shows
        return t, n, np.concatenate([local, inner[:, None]], 1)


@dataclass
class Capsule(Shape):
    """A segment a-b swept by a sphere of radius r: limbs, a rodent's tail, a cigarette."""

    a: Vec = field(default_factory=lambda: np.zeros(3))
    b: Vec = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))
    r: float = 0.05

    def bounds(self) -> np.ndarray:
        a, b = _v(self.a), _v(self.b)
        return _box_corners(np.minimum(a, b) - self.r, np.maximum(a, b) + self.r)

    def intersect(self, o: Vec, d: Vec) -> tuple[Vec, Vec, Vec]:
        d = d.astype(np.float64)
        pa, pb, r = _v(self.a), _v(self.b), self.r
        ba, oa = pb - pa, o - pa
        baba, baoa, oaoa = ba @ ba, ba @ oa, oa @ oa
        bard, rdoa = d @ ba, d @ oa
        qa = baba - bard * bard
        qb = baba * rdoa - baoa * bard
        qc = baba * oaoa - baoa * baoa - r * r * baba
        h = qb * qb - qa * qc
        t = np.full(len(d), np.inf)
        ok = h >= 0
        with np.errstate(divide="ignore", invalid="ignore"):
            tb = (-qb - np.sqrt(np.where(ok, h, 0.0))) / qa
        y = baoa + tb * bard
        body = ok & (y > 0) & (y < baba) & np.isfinite(tb)
        t = np.where(body, tb, t)
        # the round ends: the sphere at whichever end the body test fell beyond
        oc = np.where((y <= 0)[:, None], oa[None, :], (o - pb)[None, :])
        sb = (d * oc).sum(1)
        sc = (oc * oc).sum(1) - r * r
        sh = sb * sb - sc
        cap = ok & ~body & (sh > 0)
        t = np.where(cap, -sb - np.sqrt(np.where(cap, sh, 0.0)), t)
        t = np.where(t > 1e-4, t, np.inf)
        tt = np.where(np.isfinite(t), t, 0.0)
        p = o + d * tt[:, None]
        s = np.clip(((p - pa) @ ba) / baba, 0.0, 1.0)
        n = p - (pa + s[:, None] * ba)
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        return t, n, s[:, None]


@dataclass
class Cylinder(Shape):
    """A cylinder from a to b of radius r; caps=(bottom, top) closes its ends (an open bin has none on
    top, and its inside is a separate dark disc)."""

    a: Vec = field(default_factory=lambda: np.zeros(3))
    b: Vec = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))
    r: float = 0.1
    caps: tuple[bool, bool] = (True, True)

    def bounds(self) -> np.ndarray:
        a, b = _v(self.a), _v(self.b)
        return _box_corners(np.minimum(a, b) - self.r, np.maximum(a, b) + self.r)

    def intersect(self, o: Vec, d: Vec) -> tuple[Vec, Vec, Vec]:
        d = d.astype(np.float64)
        pa, pb, r = _v(self.a), _v(self.b), self.r
        ba, oc = pb - pa, o - pa
        baba, baoc = ba @ ba, ba @ oc
        bard, rdoc = d @ ba, d @ oc
        k2 = baba - bard * bard
        k1 = baba * rdoc - baoc * bard
        k0 = baba * (oc @ oc) - baoc * baoc - r * r * baba
        h = k1 * k1 - k2 * k0
        ok = h >= 0
        sh = np.sqrt(np.where(ok, h, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            tb = (-k1 - sh) / k2
            y = baoc + tb * bard
            body = ok & (y > 0) & (y < baba) & np.isfinite(tb)
            tc = (np.where(y < 0, 0.0, baba) - baoc) / bard
        cap_ok = np.where(y < 0, self.caps[0], self.caps[1])
        cap = ok & ~body & cap_ok & (np.abs(k1 + k2 * tc) < sh)
        t = np.where(body, tb, np.where(cap, tc, np.inf))
        t = np.where(t > 1e-4, t, np.inf)
        tt = np.where(np.isfinite(t), t, 0.0)
        p = o + d * tt[:, None]
        s = ((p - pa) @ ba) / baba
        axis = ba / np.sqrt(baba)
        radial = p - (pa + np.clip(s, 0, 1)[:, None] * ba)
        radial /= np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-12)
        n = np.where(body[:, None], radial, np.where((y < 0)[:, None], -axis, axis))
        return t, n, s[:, None]


def box(
    lo: tuple[float, float, float],
    hi: tuple[float, float, float],
    paint: Paint,
    material: str = "matte",
    oid: int = 0,
    part: int = 0,
    faces: str = "xXyYzZ",
) -> list[Rect]:
    """An axis-aligned box as up to six faces (x = the -x face, X = the +x face, ...); a face's local
    coordinates run from its lowest corner in metres."""
    (x0, y0, z0), (x1, y1, z1) = lo, hi
    ex, ey, ez = np.eye(3)
    spec = {  # corner, u, v, length along u, along v, sign making u x v point outwards
        "x": ((x0, y0, z0), ey, ez, y1 - y0, z1 - z0, -1),
        "X": ((x1, y0, z0), ey, ez, y1 - y0, z1 - z0, 1),
        "y": ((x0, y0, z0), ex, ez, x1 - x0, z1 - z0, 1),
        "Y": ((x0, y1, z0), ex, ez, x1 - x0, z1 - z0, -1),
        "z": ((x0, y0, z0), ex, ey, x1 - x0, y1 - y0, -1),
        "Z": ((x0, y0, z1), ex, ey, x1 - x0, y1 - y0, 1),
    }
    out = []
    for f in faces:
        o, u, v, a, b, side = spec[f]
        out.append(Rect(paint, material, oid, part, np.array(o, float), u, v, a, b, side))
    return out
