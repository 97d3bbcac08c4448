"""Things in the kitchen besides people: rodents, trash bins, flames, and look-alike distractors."""

from __future__ import annotations

import numpy as np
from PIL import ImageDraw

from bksynth.room import Color, jitter
from bksynth.truth import PixelBox

BIN_COLORS: tuple[Color, ...] = (
    (40, 120, 60),
    (40, 80, 160),
    (90, 90, 95),
    (30, 30, 32),
    (200, 170, 40),
    (180, 50, 40),
    (170, 175, 180),
)


def draw_rodent(
    d: ImageDraw.ImageDraw,
    x: float,
    y: float,
    ppm: float,
    facing: int,
    color: Color,
    t: float = 0.0,
    track_id: int | None = None,
) -> PixelBox:
    """A rat seen from the side, standing on row y; the box covers body and head, not the tail."""
    bl, bh = 0.2 * ppm, 0.08 * ppm
    bx0, bx1 = x - bl / 2, x + bl / 2
    d.ellipse([bx0, y - bh, bx1, y], fill=color)
    hx = x + facing * bl * 0.5
    hs = 0.045 * ppm
    d.ellipse([hx - hs * 1.3, y - bh * 0.85, hx + hs * 1.3, y - bh * 0.85 + hs * 1.6], fill=color)
    ear = max(1.0, 0.018 * ppm)
    ex = hx - facing * hs * 0.5
    d.ellipse([ex - ear, y - bh - ear, ex + ear, y - bh + ear], fill=tuple(min(255, c + 40) for c in color))
    nose = hx + facing * hs * 1.3
    d.ellipse([nose - 1, y - bh * 0.45 - 1, nose + 1, y - bh * 0.45 + 1], fill=(230, 160, 160))
    tail = [(x - facing * bl * 0.48, y - bh * 0.3)]
    for k in range(1, 5):  # the tail swings while the rat runs
        tail.append((tail[0][0] - facing * k * 0.05 * ppm, y - bh * 0.2 + 0.02 * ppm * np.sin(t * 9 + k)))
    d.line(tail, fill=tuple(max(0, c - 15) for c in color), width=max(1, int(0.012 * ppm)))
    for k in (-0.3, 0.25):
        fx = x + k * bl
        d.line(
            [(fx, y - bh * 0.2), (fx + 0.01 * ppm * np.sin(t * 20 + k), y + 0.01 * ppm)], fill=(60, 50, 50)
        )
    lo, hi = min(bx0, nose - 1), max(bx1, nose + 1)
    return PixelBox("rodent", lo, y - bh - ear, hi, y + 0.01 * ppm, track_id=track_id)


def draw_bin(
    d: ImageDraw.ImageDraw,
    x: float,
    y: float,
    ppm: float,
    color: Color,
    is_open: bool,
    rng_seed: int = 0,
    track_id: int | None = None,
) -> PixelBox:
    """A lidded kitchen bin standing on row y; open = lid up and rubbish showing."""
    w, h = 0.42 * ppm, 0.65 * ppm
    dark = tuple(int(c * 0.7) for c in color)
    d.polygon([(x - w / 2, y - h), (x + w / 2, y - h), (x + w * 0.42, y), (x - w * 0.42, y)], fill=color)
    d.line([(x - w * 0.3, y - h * 0.85), (x - w * 0.3, y - h * 0.1)], fill=dark, width=1)
    rim = 0.06 * ppm
    top = y - h
    if is_open:
        d.ellipse([x - w / 2, top - rim, x + w / 2, top + rim], fill=(20, 18, 16))
        rng = np.random.default_rng(rng_seed)
        for _ in range(4):  # rubbish poking out of the opening
            cx = x + float(rng.uniform(-0.35, 0.35)) * w
            s = float(rng.uniform(0.03, 0.07)) * ppm
            col = (int(rng.integers(60, 250)), int(rng.integers(60, 250)), int(rng.integers(60, 250)))
            d.ellipse([cx - s, top - s * 1.2, cx + s, top + s * 0.4], fill=col)
        lid_top = top - 0.45 * ppm
        d.polygon(
            [
                (x - w / 2, top - rim * 0.5),
                (x + w / 2, top - rim * 0.5),
                (x + w * 0.45, lid_top),
                (x - w * 0.45, lid_top),
            ],
            fill=dark,
            outline=color,
        )
        return PixelBox("trash_bin_open", x - w / 2 - 1, lid_top, x + w / 2 + 1, y, track_id=track_id)
    d.rectangle([x - w / 2 - 0.02 * ppm, top - rim, x + w / 2 + 0.02 * ppm, top + rim * 0.5], fill=dark)
    d.rectangle([x - w * 0.12, top - rim * 1.8, x + w * 0.12, top - rim], fill=dark)
    return PixelBox(
        "trash_bin_closed",
        x - w / 2 - 0.02 * ppm,
        top - rim * 1.8,
        x + w / 2 + 0.02 * ppm,
        y,
        track_id=track_id,
    )


def draw_flame(
    d: ImageDraw.ImageDraw,
    x: float,
    y: float,
    ppm: float,
    t: float,
    phase: float,
    size: float = 1.0,
    pot: bool = False,
    track_id: int | None = None,
) -> PixelBox:
    """A gas flame on a burner at (x, y); flickers with t. A pot above hides nothing of the box."""
    w = 0.2 * ppm * size
    h = 0.22 * ppm * size * (1.0 + 0.15 * np.sin(t * 11 + phase))
    layers = (((255, 90, 20), 1.0), ((255, 160, 30), 0.72), ((255, 235, 120), 0.42))
    for color, f in layers:
        pts = [(x - w / 2 * f, y)]
        n = 5
        for k in range(n):
            px = x - w / 2 * f + w * f * (k + 0.5) / n
            tongue = h * f * (0.55 + 0.45 * abs(np.sin(phase + k * 1.7 + t * (6 + k))))
            pts += [(px, y - tongue), (x - w / 2 * f + w * f * (k + 1) / n, y - h * f * 0.3)]
        pts.append((x + w / 2 * f, y))
        d.polygon(pts, fill=color)
    d.ellipse([x - w / 2, y - 0.02 * ppm, x + w / 2, y + 0.015 * ppm], fill=(70, 110, 255))
    if pot:  # a wok or pot sits on the flame's tips
        pw = 0.45 * ppm
        d.chord(
            [x - pw / 2, y - h * 0.75 - 0.25 * ppm, x + pw / 2, y - h * 0.75 + 0.1 * ppm],
            0,
            180,
            fill=(45, 45, 48),
        )
        return PixelBox(
            "flame", x - w / 2, y - h * 0.75 + 0.03 * ppm, x + w / 2, y + 0.015 * ppm, track_id=track_id
        )
    return PixelBox("flame", x - w / 2, y - h, x + w / 2, y + 0.015 * ppm, track_id=track_id)


def draw_distractor(d: ImageDraw.ImageDraw, rng: np.random.Generator, x: float, y: float, ppm: float) -> None:
    """Look-alikes that teach the model what is *not* a violation: pots, towels, fruit, buckets, mops."""
    kind = int(rng.integers(8))
    c = jitter(rng, (int(rng.integers(30, 230)), int(rng.integers(30, 230)), int(rng.integers(30, 230))), 0)
    s = ppm * float(rng.uniform(0.6, 1.4))
    if kind == 0:  # pot
        d.rectangle([x - 0.15 * s, y - 0.2 * s, x + 0.15 * s, y], fill=(150, 150, 155), outline=(90, 90, 90))
    elif kind == 1:  # white towel / cloth (not a hat)
        d.rectangle([x - 0.15 * s, y - 0.05 * s, x + 0.15 * s, y], fill=(245, 245, 245))
    elif kind == 2:  # oranges / carrots (not flames)
        for k in range(3):
            d.ellipse(
                [x + (k - 1) * 0.07 * s - 0.04 * s, y - 0.08 * s, x + (k - 1) * 0.07 * s + 0.04 * s, y],
                fill=jitter(rng, (240, 130, 30), 15),
            )
    elif kind == 3:  # bucket (not a bin)
        d.rectangle([x - 0.13 * s, y - 0.25 * s, x + 0.13 * s, y], fill=c)
    elif kind == 4:  # grey sponge / mop head on the floor (not a rodent)
        d.ellipse([x - 0.1 * s, y - 0.05 * s, x + 0.1 * s, y], fill=jitter(rng, (110, 100, 90), 20))
    elif kind == 5:  # bottle
        d.rectangle([x - 0.035 * s, y - 0.25 * s, x + 0.035 * s, y], fill=c)
        d.rectangle([x - 0.015 * s, y - 0.32 * s, x + 0.015 * s, y - 0.25 * s], fill=c)
    elif kind == 6:  # dark box, remote, cutting board handle (not a phone)
        d.rectangle([x - 0.05 * s, y - 0.03 * s, x + 0.05 * s, y], fill=(25, 25, 30))
    else:  # cutting board with greens
        d.rectangle([x - 0.2 * s, y - 0.03 * s, x + 0.2 * s, y], fill=(200, 170, 120))
        d.ellipse(
            [x - 0.06 * s, y - 0.07 * s, x + 0.06 * s, y - 0.01 * s], fill=jitter(rng, (60, 150, 60), 20)
        )
