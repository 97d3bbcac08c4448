"""Procedural surface patterns evaluated per hit point: tiles with grout, grime, brushed steel.

Patterns are functions of surface coordinates in metres, so they stay fixed to the surface under any
perspective and lens. Grout lines are box-filtered by the pixel's footprint on the surface: far tiles
fade to their average colour instead of flickering into random lines.
"""

from __future__ import annotations

import numpy as np

TABLE = 4096


class Noise:
    """Random values per integer cell, drawn once per frame from the frame's generator."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.table = rng.random(TABLE)

    def cell(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        h = (i.astype(np.int64) * 73856093) ^ (j.astype(np.int64) * 19349663)
        return self.table[h & (TABLE - 1)]

    def smooth(self, x: np.ndarray, y: np.ndarray, cell_m: float) -> np.ndarray:
        """Value noise in 0..1 with features about cell_m across (grime, stains, steam)."""
        gx, gy = x / cell_m, y / cell_m
        i, j = np.floor(gx), np.floor(gy)
        fx, fy = gx - i, gy - j
        fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
        a, b = self.cell(i, j), self.cell(i + 1, j)
        c, d = self.cell(i, j + 1), self.cell(i + 1, j + 1)
        return (a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy

    def grime(self, x: np.ndarray, y: np.ndarray, scale: float = 0.6) -> np.ndarray:
        """Two octaves of value noise centred on 1: multiply a colour by it."""
        g = 0.65 * self.smooth(x, y, scale) + 0.35 * self.smooth(x + 17.3, y - 9.1, scale / 3.1)
        return 0.82 + 0.3 * g

    def streaks(self, along: np.ndarray, across: np.ndarray) -> np.ndarray:
        """Brushed steel: fine lines running along one direction, centred on 1."""
        k = np.floor(across * 900.0)
        s = self.cell(k, np.floor(along * 3.0))
        return 0.93 + 0.14 * s


def grout(a: np.ndarray, tile: float, width: float, footprint: np.ndarray) -> np.ndarray:
    """Share of a pixel covered by grout lines every `tile` metres along one axis (0..1)."""
    fp = np.clip(footprint, 1e-4, tile * 0.5)
    f = a / tile
    f -= np.floor(f)
    dist = (0.5 - np.abs(f - 0.5)) * tile  # distance to the nearest line
    cover = np.clip((width / 2 + fp / 2 - dist) / fp, 0.0, np.minimum(1.0, width / fp))
    # where a pixel spans a good part of a tile the lines alias into arcs: fade to their average share
    fade = np.clip((footprint - 0.2 * tile) / (0.3 * tile), 0.0, 1.0)
    return cover * (1 - fade) + (width / tile) * fade


def footprint(p: np.ndarray, n: np.ndarray, origin: np.ndarray, focal: float) -> np.ndarray:
    """Metres of surface one pixel spans at p (wider at grazing angles)."""
    v = p - origin
    dist = np.linalg.norm(v, axis=1)
    cos = np.abs((v * n).sum(1)) / np.maximum(dist, 1e-6)
    return dist / focal / np.maximum(cos, 0.15)


def tiles(
    a: np.ndarray,
    b: np.ndarray,
    fp: np.ndarray,
    noise: Noise,
    colour: np.ndarray,
    grout_colour: np.ndarray,
    tile_a: float,
    tile_b: float,
    vary: float = 0.06,
    grimy: bool = True,
) -> np.ndarray:
    """Tiled surface colour (N, 3): per-tile shade, grout lines, grime (grimy=False leaves the grime to
    the caller, e.g. the room shell folds it into its low-resolution light)."""
    ia, ib = np.floor(a / tile_a), np.floor(b / tile_b)
    shade = 1.0 + vary * (noise.cell(ia, ib) - 0.5) * 2
    base = colour[None, :] * shade[:, None]
    g = np.maximum(grout(a, tile_a, 0.006, fp), grout(b, tile_b, 0.006, fp))[:, None]
    out = base * (1 - g) + grout_colour[None, :] * g
    return out * noise.grime(a, b)[:, None] if grimy else out
