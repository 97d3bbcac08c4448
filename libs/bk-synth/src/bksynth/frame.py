"""Random training frames: a random room, staff, rodents, bins and flames, with ground truth."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from bksynth.effects import Camera, apply_camera
from bksynth.objects import BIN_COLORS, draw_bin, draw_distractor, draw_flame, draw_rodent
from bksynth.people import draw_person, random_look
from bksynth.room import Room, draw_island, draw_room, jitter, random_room
from bksynth.truth import Annotation, PixelBox

Draw = tuple[float, str, dict]  # (depth row for painter's order, kind, parameters)


def _floor_y(room: Room, rng: np.random.Generator, h: int, lo: float = 0.02, hi: float = 1.12) -> float:
    return float(rng.uniform(room.wall_y + lo * (1 - room.wall_y), room.wall_y + hi * (1 - room.wall_y))) * h


def compose(
    room: Room, items: list[Draw], w: int, h: int, t: float, background: Image.Image | None = None
) -> tuple[list[PixelBox], Image.Image]:
    """Paint the room then items from far to near; clip boxes hidden behind the foreground island."""
    img = background.copy() if background is not None else draw_room(room, w, h)
    d = ImageDraw.Draw(img)
    boxes: list[PixelBox] = []
    for _, kind, p in sorted(items, key=lambda it: it[0]):
        if kind == "person":
            boxes += draw_person(d, p["look"], p["x"], p["y"], p["ppm"], t, p.get("track_id"))
        elif kind == "rodent":
            boxes.append(
                draw_rodent(d, p["x"], p["y"], p["ppm"], p["facing"], p["color"], t, p.get("track_id"))
            )
        elif kind == "bin":
            boxes.append(
                draw_bin(d, p["x"], p["y"], p["ppm"], p["color"], p["open"], p["seed"], p.get("track_id"))
            )
        elif kind == "flame":
            boxes.append(
                draw_flame(d, p["x"], p["y"], p["ppm"], t, p["phase"], p["size"], p["pot"], p.get("track_id"))
            )
        elif kind == "distractor":
            draw_distractor(d, np.random.default_rng(p["seed"]), p["x"], p["y"], p["ppm"])
    island = draw_island(room, d, w, h)
    if island is not None:
        x0, x1, top = island
        kept = []
        for b in boxes:
            if b.y1 > top and b.x0 >= x0 - 2 and b.x1 <= x1 + 2:
                b.clip_bottom(top)  # the island hides the lower part of whatever stands behind it
            if b.label != "person" and b.y1 - b.y0 < 3:
                continue
            kept.append(b)
        boxes = kept
    return boxes, img


def random_items(room: Room, rng: np.random.Generator, w: int, h: int) -> list[Draw]:
    items: list[Draw] = []
    ppm = lambda y: room.ppm(y / h) * h  # noqa: E731 - pixel scale at row y
    for _ in range(int(rng.choice([0, 1, 1, 2, 2, 3, 4]))):
        y = _floor_y(room, rng, h)
        if ppm(y) * 1.7 > 1.25 * h:
            y = room.wall_y * h + 0.1 * (h - room.wall_y * h)
        items.append(
            (
                y,
                "person",
                {"look": random_look(rng), "x": float(rng.uniform(0.05, 0.95)) * w, "y": y, "ppm": ppm(y)},
            )
        )
    top, front = room.counter_rows()
    counters = [s for s in room.segments if s.kind in ("plain", "sink")]
    for _ in range(int(rng.choice([0, 0, 1, 1, 2]))):
        if counters and rng.random() < 0.3:  # on a counter top
            s = counters[int(rng.integers(len(counters)))]
            x, y = float(rng.uniform(s.x0, s.x1)) * w, float(rng.uniform(top, front)) * h
            sc = room.ppm_wall * h
        else:
            y = _floor_y(room, rng, h, 0.02, 0.95)
            x, sc = float(rng.uniform(0.03, 0.97)) * w, ppm(y)
        items.append(
            (
                y,
                "rodent",
                {
                    "x": x,
                    "y": y,
                    "ppm": sc * float(rng.uniform(0.8, 1.3)),
                    "facing": int(rng.choice([-1, 1])),
                    "color": jitter(rng, (95, 85, 78), 30),
                },
            )
        )
    for _ in range(int(rng.choice([0, 1, 1, 2]))):
        y = _floor_y(room, rng, h, 0.0, 0.8)
        items.append(
            (
                y,
                "bin",
                {
                    "x": float(rng.uniform(0.05, 0.95)) * w,
                    "y": y,
                    "ppm": ppm(y),
                    "color": jitter(rng, BIN_COLORS[int(rng.integers(len(BIN_COLORS)))]),
                    "open": bool(rng.random() < 0.5),
                    "seed": int(rng.integers(1 << 30)),
                },
            )
        )
    for bx, by in room.burner_points():
        if rng.random() < 0.6:
            items.append(
                (
                    by * h,
                    "flame",
                    {
                        "x": bx * w,
                        "y": by * h,
                        "ppm": room.ppm_wall * h,
                        "phase": float(rng.uniform(0, 6)),
                        "size": float(rng.uniform(0.7, 1.4)),
                        "pot": bool(rng.random() < 0.4),
                    },
                )
            )
    for _ in range(int(rng.integers(0, 6))):
        if counters and rng.random() < 0.6:
            s = counters[int(rng.integers(len(counters)))]
            x, y, sc = (
                float(rng.uniform(s.x0, s.x1)) * w,
                float(rng.uniform(top, front)) * h,
                room.ppm_wall * h,
            )
        else:
            y = _floor_y(room, rng, h, 0.0, 0.9)
            x, sc = float(rng.uniform(0, 1)) * w, ppm(y)
        items.append((y, "distractor", {"x": x, "y": y, "ppm": sc, "seed": int(rng.integers(1 << 30))}))
    return items


STYLES: tuple[str, ...] = ("flat", "cctv")


def render_random(
    seed: int, width: int = 640, height: int = 360, style: str = "flat"
) -> tuple[np.ndarray, list[Annotation]]:
    """One random kitchen frame, deterministic for a seed: HxWx3 uint8 RGB and its annotations.

    style "flat" is generator v1 (eye-level paper dolls, this module); "cctv" is generator v2, a
    ceiling-mounted wide-angle camera with H.264 (bksynth.cctv). Both give the same annotation format."""
    if style == "cctv":
        from bksynth.cctv import render_cctv  # imported on demand: v2 needs PyAV, v1 does not

        return render_cctv(seed, width, height)
    if style != "flat":
        raise ValueError(f"unknown style {style!r}: expected one of {', '.join(STYLES)}")
    rng = np.random.default_rng(seed)
    room = random_room(rng)
    items = random_items(room, rng, width, height)
    boxes, img = compose(room, items, width, height, float(rng.uniform(0, 60)))
    arr = apply_camera(img, Camera.random(rng, room.night), rng)
    anns = [a for b in boxes if (a := b.to_annotation(width, height)) is not None]
    return arr, anns
