"""A kitchen room: wall, floor, counters with stoves and sinks, shelves, in normalised units.

The room is resolution independent (fractions of the frame, metres through a perspective scale) so a
scenario can be rendered at any camera resolution. Perspective is a ground plane seen by a camera above
the floor: pixels-per-metre grows linearly with the image row below the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

Color = tuple[int, int, int]


def jitter(rng: np.random.Generator, base: Color, amount: int = 18) -> Color:
    c = np.clip(np.array(base) + rng.integers(-amount, amount + 1, 3), 0, 255)
    return (int(c[0]), int(c[1]), int(c[2]))


WALL_TILES: tuple[Color, ...] = (
    (232, 232, 226),
    (214, 226, 232),
    (205, 225, 205),
    (236, 226, 206),
    (190, 196, 200),
    (245, 245, 245),
)
FLOOR_TILES: tuple[Color, ...] = (
    (150, 150, 146),
    (160, 92, 70),
    (120, 118, 110),
    (188, 180, 160),
    (96, 100, 104),
    (170, 120, 90),
)
STEEL: Color = (176, 180, 184)


@dataclass
class Segment:
    """A stretch of the back counter: 'plain', 'stove', 'sink' or 'gap' (no counter)."""

    kind: str
    x0: float
    x1: float
    burners: list[float] = field(default_factory=list)  # burner x centres (fraction of width)


@dataclass
class Room:
    """Fractions of frame height (y) or width (x); ppm_wall = px-per-metre / frame height at the wall."""

    wall_y: float  # row where the back wall meets the floor
    horizon_y: float  # row of the vanishing line (can be above the frame: camera looks down)
    ppm_wall: float
    vanish_x: float
    wall_color: Color
    grout: Color
    tile_m: float
    floor_color: Color
    floor_tile_m: float
    counter_color: Color
    counter_top_m: float  # how deep the counter's top surface looks, in metres of height (camera tilt)
    segments: list[Segment]
    shelves: list[tuple[float, float, float]]  # (x0, x1, height above floor in metres)
    shelf_items: list[tuple[float, int, Color]]  # (x, shelf index, colour)
    island: tuple[float, float, float] | None  # foreground counter (x0, x1, top row fraction)
    night: bool = False  # infrared camera at night: grey, noisy

    def ppm(self, y: float) -> float:
        """Pixels per metre (as a fraction of frame height) for something standing at row y."""
        return self.ppm_wall * (y - self.horizon_y) / (self.wall_y - self.horizon_y)

    def counter_rows(self) -> tuple[float, float]:
        """(top of counter surface, front edge) rows, as fractions of height."""
        front = self.wall_y - 0.9 * self.ppm_wall
        return front - self.counter_top_m * self.ppm_wall, front

    def burner_points(self) -> list[tuple[float, float]]:
        top, front = self.counter_rows()
        return [(bx, (top + front) / 2) for s in self.segments if s.kind == "stove" for bx in s.burners]


def random_room(rng: np.random.Generator) -> Room:
    wall_y = float(rng.uniform(0.38, 0.66))
    ppm_wall = float(rng.uniform(0.12, 0.26))  # a 1.7 m cook at the wall is 20..45% of the frame
    horizon_y = wall_y - float(rng.uniform(0.12, 0.7))
    segments: list[Segment] = []
    x = float(rng.uniform(-0.2, 0.05))
    while x < 1.0:
        width = float(rng.uniform(0.2, 0.5))
        kind = str(rng.choice(["plain", "stove", "sink", "gap", "stove"], p=[0.3, 0.25, 0.2, 0.1, 0.15]))
        burners: list[float] = []
        if kind == "stove":
            n = int(rng.integers(1, 4))
            burners = [x + width * (i + 0.5) / n for i in range(n)]
        segments.append(Segment(kind, x, x + width, burners))
        x += width
    shelves = []
    for _ in range(int(rng.integers(0, 3))):
        x0 = float(rng.uniform(-0.1, 0.7))
        shelves.append((x0, x0 + float(rng.uniform(0.2, 0.5)), float(rng.uniform(1.4, 2.1))))
    items = [
        (
            float(rng.uniform(0, 1)),
            int(rng.integers(0, max(1, len(shelves)))),
            jitter(
                rng, (int(rng.integers(40, 220)), int(rng.integers(40, 220)), int(rng.integers(40, 220))), 0
            ),
        )
        for _ in range(int(rng.integers(0, 14)) if shelves else 0)
    ]
    island = None
    if rng.random() < 0.25:
        x0 = float(rng.uniform(-0.2, 0.5))
        island = (x0, x0 + float(rng.uniform(0.3, 0.8)), float(rng.uniform(0.72, 0.9)))
    return Room(
        wall_y=wall_y,
        horizon_y=horizon_y,
        ppm_wall=ppm_wall,
        vanish_x=float(rng.uniform(0.1, 0.9)),
        wall_color=jitter(rng, WALL_TILES[int(rng.integers(len(WALL_TILES)))]),
        grout=jitter(rng, (150, 150, 150), 40),
        tile_m=float(rng.uniform(0.1, 0.3)),
        floor_color=jitter(rng, FLOOR_TILES[int(rng.integers(len(FLOOR_TILES)))]),
        floor_tile_m=float(rng.uniform(0.3, 0.6)),
        counter_color=jitter(rng, STEEL, 25),
        counter_top_m=float(rng.uniform(0.15, 0.5)),
        segments=segments,
        shelves=shelves,
        shelf_items=items,
        island=island,
        night=bool(rng.random() < 0.1),
    )


def _shade(c: Color, f: float) -> Color:
    return (min(255, int(c[0] * f)), min(255, int(c[1] * f)), min(255, int(c[2] * f)))


def draw_room(room: Room, w: int, h: int) -> Image.Image:
    """The static background: wall tiles, floor grid, back counter with stoves and sinks, shelves."""
    img = Image.new("RGB", (w, h), room.wall_color)
    d = ImageDraw.Draw(img)
    wy = room.wall_y * h
    tile = max(4.0, room.tile_m * room.ppm_wall * h)
    for yy in np.arange(wy, -tile, -tile):
        d.line([(0, yy), (w, yy)], fill=room.grout)
    for xx in np.arange(0, w + tile, tile):
        d.line([(xx, 0), (xx, wy)], fill=room.grout)
    d.rectangle([0, wy, w, h], fill=room.floor_color)
    vx, vy = room.vanish_x * w, room.horizon_y * h
    line = _shade(room.floor_color, 0.8)
    step = room.floor_tile_m * room.ppm_wall * h
    for i in range(-40, 41):  # floor lines converge to the vanishing point
        x_at_wall = vx + i * step
        t = (h - vy) / max(1.0, wy - vy)
        d.line([(x_at_wall, wy), (vx + (x_at_wall - vx) * t, h)], fill=line)
    y = wy
    while y < h:  # rows of floor tiles get taller towards the camera
        d.line([(0, y), (w, y)], fill=line)
        y += max(2.0, step * (y - vy) / max(1.0, wy - vy))
    for x0, x1, hm in room.shelves:
        sy = wy - hm * room.ppm_wall * h
        d.rectangle([x0 * w, sy, x1 * w, sy + 0.03 * room.ppm_wall * h], fill=_shade(room.counter_color, 0.8))
    for x, idx, col in room.shelf_items:
        if idx >= len(room.shelves):
            continue
        x0, x1, hm = room.shelves[idx]
        if not x0 <= x <= x1:
            continue
        sy = wy - hm * room.ppm_wall * h
        bw, bh = 0.12 * room.ppm_wall * h, 0.2 * room.ppm_wall * h * (1 + (idx % 2))
        d.rectangle([x * w - bw / 2, sy - bh, x * w + bw / 2, sy], fill=col, outline=_shade(col, 0.6))
    top, front = room.counter_rows()
    for s in room.segments:
        if s.kind == "gap":
            continue
        x0, x1 = s.x0 * w, s.x1 * w
        body = room.counter_color if s.kind != "stove" else _shade(room.counter_color, 0.75)
        d.rectangle([x0, front * h, x1, wy], fill=_shade(body, 0.85), outline=_shade(body, 0.6))
        surface = body if s.kind != "stove" else (40, 40, 44)
        d.rectangle([x0, top * h, x1, front * h], fill=_shade(surface, 1.1))
        for dx in np.linspace(x0, x1, 3)[1:-1]:  # cabinet doors and handles below the counter
            d.line([(dx, front * h + 2), (dx, wy - 2)], fill=_shade(body, 0.55))
            d.rectangle(
                [dx - 8, front * h + 0.1 * room.ppm_wall * h, dx - 6, front * h + 0.25 * room.ppm_wall * h],
                fill=_shade(body, 0.5),
            )
        if s.kind == "stove":
            r = 0.1 * room.ppm_wall * h
            for bx in s.burners:
                cy = (top + front) / 2 * h
                d.ellipse(
                    [bx * w - r, cy - r * 0.4, bx * w + r, cy + r * 0.4],
                    fill=(15, 15, 15),
                    outline=(90, 90, 90),
                )
            hood = wy - 2.0 * room.ppm_wall * h
            d.polygon(
                [
                    (x0 + 10, hood),
                    (x1 - 10, hood),
                    (x1, hood + 0.3 * room.ppm_wall * h),
                    (x0, hood + 0.3 * room.ppm_wall * h),
                ],
                fill=_shade(room.counter_color, 0.9),
            )
        if s.kind == "sink":
            cx, cy = (x0 + x1) / 2, (top + front) / 2 * h
            bw, bh = (x1 - x0) * 0.3, (front - top) * h * 0.35
            d.rectangle([cx - bw, cy - bh, cx + bw, cy + bh], fill=_shade(room.counter_color, 0.6))
            tap = 0.3 * room.ppm_wall * h
            d.line(
                [(cx, top * h), (cx, top * h - tap), (cx + tap * 0.4, top * h - tap)],
                fill=(120, 120, 125),
                width=max(1, int(0.03 * room.ppm_wall * h)),
            )
    return img


def draw_island(room: Room, d: ImageDraw.ImageDraw, w: int, h: int) -> tuple[float, float, float] | None:
    """The foreground counter, drawn last so it hides whatever stands behind it; returns its pixel rect."""
    if room.island is None:
        return None
    x0, x1, top = room.island
    d.rectangle([x0 * w, top * h, x1 * w, h], fill=_shade(room.counter_color, 0.95), outline=(90, 90, 95))
    d.rectangle([x0 * w, top * h, x1 * w, top * h + 0.06 * h], fill=_shade(room.counter_color, 1.15))
    return x0 * w, x1 * w, top * h
