"""A ceiling-mounted CCTV camera: pose in the room, a wide-angle lens with barrel distortion.

World frame: metres, x along the front wall, y into the room, z up, floor at z = 0. Camera frame: x
right, y down, z forward (depth). The lens follows the one-parameter division model,
``undistorted = distorted / (1 + k * r_d**2)`` with k < 0 for barrel distortion, because it inverts in
closed form both ways: every output pixel gets its exact viewing ray (the renderer casts rays through
the *distorted* image, so straight edges bend as they do in a real wide-angle frame and no resampling
blurs the truth), and every world point gets its exact pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

NEAR = 0.05  # metres: nothing closer to the lens is drawn


@dataclass(frozen=True)
class CeilingCamera:
    position: tuple[float, float, float]  # metres; z is the mounting height (2.5..4 m)
    yaw: float  # heading of the optical axis on the floor plane, radians; 0 looks along +y
    pitch: float  # downward tilt from horizontal, radians
    roll: float
    focal: float  # pixels, at the image centre
    k: float  # division-model distortion (< 0: barrel)
    width: int
    height: int

    @classmethod
    def aimed(
        cls,
        position: tuple[float, float, float],
        target: tuple[float, float, float],
        roll: float,
        hfov_deg: float,
        corner_stretch: float,
        width: int,
        height: int,
    ) -> CeilingCamera:
        """Point from `position` at `target`; hfov_deg is the pinhole field of view at the centre and
        corner_stretch (>= 1) how much wider the corners see than a pinhole would (the barrel)."""
        dx, dy, dz = (t - p for t, p in zip(target, position, strict=True))
        focal = (width / 2) / np.tan(np.radians(hfov_deg) / 2)
        r_corner2 = ((width / 2) ** 2 + (height / 2) ** 2) / focal**2
        k = (1.0 / corner_stretch - 1.0) / r_corner2
        return cls(
            position=position,
            yaw=float(np.arctan2(dx, dy)),
            pitch=float(np.arctan2(-dz, np.hypot(dx, dy))),
            roll=roll,
            focal=float(focal),
            k=float(k),
            width=width,
            height=height,
        )

    @cached_property
    def rotation(self) -> np.ndarray:
        """Rows are the camera's x (right), y (down), z (forward) axes in world coordinates."""
        cp, sp = np.cos(self.pitch), np.sin(self.pitch)
        fwd = np.array([np.sin(self.yaw) * cp, np.cos(self.yaw) * cp, -sp])
        right = np.cross(fwd, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(fwd, right)
        cr, sr = np.cos(self.roll), np.sin(self.roll)
        return np.stack([cr * right + sr * down, -sr * right + cr * down, fwd])

    @property
    def origin(self) -> np.ndarray:
        return np.asarray(self.position, dtype=np.float64)

    @cached_property
    def rays(self) -> tuple[np.ndarray, np.ndarray]:
        """Per output pixel: the unit viewing ray in world coordinates (H, W, 3) and the depth per
        unit of ray length (H, W), so that depth = t * zscale for a hit at distance t."""
        u = (np.arange(self.width, dtype=np.float32) + 0.5 - self.width / 2) / np.float32(self.focal)
        v = (np.arange(self.height, dtype=np.float32) + 0.5 - self.height / 2) / np.float32(self.focal)
        xd, yd = np.meshgrid(u, v)
        s = 1.0 / (1.0 + np.float32(self.k) * (xd * xd + yd * yd))
        xu, yu = xd * s, yd * s
        inv = 1.0 / np.sqrt(xu * xu + yu * yu + 1.0)
        rot = self.rotation.astype(np.float32)
        world = (xu * inv)[..., None] * rot[0] + (yu * inv)[..., None] * rot[1] + inv[..., None] * rot[2]
        return world.astype(np.float32), inv.astype(np.float32)

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, dtype=np.float64) - self.origin) @ self.rotation.T

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points (N, 3) -> distorted pixel coordinates (N, 2) and camera depth (N,)."""
        pc = self.to_camera(np.atleast_2d(points))
        z = pc[:, 2]
        zs = np.where(z > 1e-6, z, 1e-6)
        xu, yu = pc[:, 0] / zs, pc[:, 1] / zs
        ru = np.hypot(xu, yu)
        # invert r_u = r_d / (1 + k r_d^2): k r_u r_d^2 - r_d + r_u = 0, the root that -> r_u as k -> 0
        disc = np.sqrt(np.maximum(1.0 - 4.0 * self.k * ru * ru, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            rd = np.where(np.abs(self.k * ru) > 1e-12, (1.0 - disc) / (2.0 * self.k * ru), ru)
            scale = np.where(ru > 1e-12, rd / ru, 1.0)
        px = np.stack(
            [xu * scale * self.focal + self.width / 2, yu * scale * self.focal + self.height / 2], 1
        )
        return px, z

    def pixel_box(self, points: np.ndarray, pad: float = 2.0) -> tuple[int, int, int, int] | None:
        """Integer pixel rectangle (x0, y0, x1, y1) that holds the image of the convex hull of points,
        clipped to the frame; the whole frame when some point is at or behind the camera; None when the
        hull is out of view."""
        pts = np.atleast_2d(points)
        z = self.to_camera(pts)[:, 2]
        front = z > NEAR
        if not front.any():
            return None
        if not front.all():  # clip the hull at the near plane: keep the front points, add crossings
            fz, bz = z[front], z[~front]
            fp, bp = pts[front], pts[~front]
            w = (fz[:, None] - NEAR) / (fz[:, None] - bz[None, :])  # (front, behind)
            cross = fp[:, None, :] + (bp[None, :, :] - fp[:, None, :]) * w[..., None]
            pts = np.concatenate([fp, cross.reshape(-1, 3)])
        px, _ = self.project(pts)
        lo, hi = px.min(0), px.max(0)
        # straight edges bow outwards under barrel distortion: pad by a share of the extent
        m = pad + 0.04 * (hi - lo)
        x0, y0 = max(0, int(lo[0] - m[0])), max(0, int(lo[1] - m[1]))
        x1, y1 = min(self.width, int(np.ceil(hi[0] + m[0]))), min(self.height, int(np.ceil(hi[1] + m[1])))
        if x1 <= x0 or y1 <= y0:
            return None
        return x0, y0, x1, y1
