"""Stylised kitchen staff: body, head, arms and the things food-safety rules care about.

A person is drawn from a `PersonLook` at a foot point and a scale (pixels per metre). Besides the
person box it may emit phone and cigarette boxes, because those are held by the person.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import ImageDraw

from bksynth.room import Color, jitter
from bksynth.truth import PixelBox

SKINS: tuple[Color, ...] = (
    (241, 204, 170),
    (224, 180, 140),
    (198, 150, 110),
    (160, 110, 80),
    (232, 190, 160),
)
GLOVES: tuple[Color, ...] = ((70, 120, 220), (240, 240, 240), (35, 35, 40), (150, 110, 200), (90, 170, 220))
POSES: tuple[str, ...] = ("down", "work", "work", "hip")


@dataclass
class PersonLook:
    chef_hat: bool
    mask: bool
    uniform: bool
    gloves: bool
    skin: Color
    clothes: Color
    trousers: Color
    hair: Color
    glove: Color
    pose: str = "down"  # down | work | hip | phone | call | smoke | smoke_hand
    bare_chest: bool = False  # 赤膊: no uniform at all
    apron: Color | None = None
    short_sleeves: bool = False
    height_m: float = 1.7
    mask_color: Color = (230, 236, 240)

    @property
    def attributes(self) -> dict[str, int]:
        return {
            "chef_hat": int(self.chef_hat),
            "mask": int(self.mask),
            "uniform": int(self.uniform),
            "gloves": int(self.gloves),
        }


def random_look(rng: np.random.Generator, p_worn: float = 0.6) -> PersonLook:
    worn = rng.random(4) < p_worn
    street = (int(rng.integers(20, 230)), int(rng.integers(20, 230)), int(rng.integers(20, 200)))
    if min(street) > 170:  # street clothes must not pass for a white uniform
        street = (street[0], street[1], 90)
    pose = str(
        rng.choice(
            ["down", "work", "work", "hip", "phone", "call", "smoke", "smoke_hand"],
            p=[0.25, 0.3, 0.1, 0.1, 0.09, 0.04, 0.07, 0.05],
        )
    )
    return PersonLook(
        chef_hat=bool(worn[0]),
        mask=bool(worn[1]),
        uniform=bool(worn[2]),
        gloves=bool(worn[3]),
        skin=jitter(rng, SKINS[int(rng.integers(len(SKINS)))], 10),
        clothes=street,
        trousers=jitter(
            rng, ((40, 40, 50), (30, 45, 80), (90, 90, 95), (235, 235, 235))[int(rng.integers(4))]
        ),
        hair=jitter(rng, ((25, 20, 18), (60, 40, 25), (40, 35, 30))[int(rng.integers(3))], 8),
        glove=jitter(rng, GLOVES[int(rng.integers(len(GLOVES)))], 10),
        pose=pose,
        bare_chest=bool(not worn[2] and rng.random() < 0.12),
        apron=jitter(rng, ((240, 240, 240), (40, 40, 45), (30, 60, 110))[int(rng.integers(3))])
        if rng.random() < 0.3
        else None,
        short_sleeves=bool(rng.random() < 0.25),
        height_m=float(rng.uniform(1.55, 1.85)),
        mask_color=jitter(rng, ((232, 238, 242), (170, 205, 235), (60, 60, 66))[int(rng.integers(3))], 6),
    )


def _limb(d: ImageDraw.ImageDraw, pts: list[tuple[float, float]], color: Color, width: float) -> None:
    d.line(pts, fill=color, width=max(1, int(width)), joint="curve")


def draw_person(
    d: ImageDraw.ImageDraw,
    look: PersonLook,
    fx: float,
    fy: float,
    ppm: float,
    t: float = 0.0,
    track_id: int | None = None,
) -> list[PixelBox]:
    """Draw at foot (fx, fy) in pixels with `ppm` pixels per metre; returns person (+ held object) boxes."""
    m = ppm
    top = fy - look.height_m * m
    hr = 0.115 * m  # head radius
    hx, hy = fx, top + hr
    sh_y = hy + hr + 0.06 * m
    hip_y = fy - 0.5 * look.height_m * m
    shw = 0.21 * m
    skin = look.skin
    shirt = (246, 246, 244) if look.uniform else (skin if look.bare_chest else look.clothes)
    sleeve = skin if (look.short_sleeves or look.bare_chest) else shirt
    hand = look.glove if look.gloves else skin
    # legs
    leg_w = 0.11 * m
    for side in (-1, 1):
        _limb(d, [(fx + side * 0.08 * m, hip_y), (fx + side * 0.09 * m, fy - 0.04 * m)], look.trousers, leg_w)
        d.ellipse(
            [fx + side * 0.09 * m - 0.07 * m, fy - 0.06 * m, fx + side * 0.09 * m + 0.07 * m, fy],
            fill=(30, 30, 30),
        )
    # torso (a trapezoid: wide shoulders, narrower waist)
    d.polygon(
        [
            (fx - shw, sh_y),
            (fx + shw, sh_y),
            (fx + 0.17 * m, hip_y + 0.05 * m),
            (fx - 0.17 * m, hip_y + 0.05 * m),
        ],
        fill=shirt,
    )
    if look.uniform:  # double-breasted chef jacket: two button columns
        for bx in (-0.06, 0.06):
            for k in range(4):
                by = sh_y + (0.08 + 0.09 * k) * m
                d.ellipse([fx + bx * m - 1.5, by - 1.5, fx + bx * m + 1.5, by + 1.5], fill=(120, 120, 120))
    if look.apron is not None:
        d.rectangle([fx - 0.15 * m, sh_y + 0.22 * m, fx + 0.15 * m, hip_y + 0.35 * m], fill=look.apron)
    d.rectangle([fx - 0.04 * m, hy + hr * 0.7, fx + 0.04 * m, sh_y + 2], fill=skin)  # neck
    boxes: list[PixelBox] = []
    arm_w = 0.085 * m
    mouth = (hx + 0.35 * hr, hy + 0.55 * hr)
    # hand targets per pose, in metres from the shoulder
    poses = {
        "down": ((-0.05, 0.62), (0.05, 0.62)),
        "hip": ((0.12, 0.5), (-0.12, 0.5)),
        "work": ((0.18, 0.42), (-0.18, 0.42)),
        "phone": ((0.16, 0.25), (-0.12, 0.3)),
        "call": ((-0.05, 0.62), None),
        "smoke": ((-0.05, 0.62), None),
        "smoke_hand": ((0.0, 0.62), (-0.05, 0.4)),
    }
    hands: list[tuple[float, float]] = []
    for i, side in enumerate((-1, 1)):
        sx, sy = fx + side * (shw - 0.03 * m), sh_y + 0.04 * m
        target = poses.get(look.pose, poses["down"])[i]
        if target is None:  # hand raised to the face (call / smoke)
            hxp, hyp = (
                (hx + side * hr * 1.05, hy + 0.2 * hr)
                if look.pose == "call"
                else (mouth[0] + 0.04 * m, mouth[1] + 0.05 * m)
            )
            ex, ey = sx + side * 0.12 * m, sy + 0.25 * m
        else:
            dx, dy = target
            hxp, hyp = sx + side * abs(dx) * m * (1 if dx >= 0 else -0.3), sy + dy * m
            ex, ey = (sx + hxp) / 2 + side * 0.05 * m, (sy + hyp) / 2
        _limb(d, [(sx, sy), (ex, ey)], shirt, arm_w)
        _limb(d, [(ex, ey), (hxp, hyp)], sleeve, arm_w * 0.85)
        hs = 0.05 * m
        d.ellipse([hxp - hs, hyp - hs, hxp + hs, hyp + hs], fill=hand)
        hands.append((hxp, hyp))
    # head
    d.ellipse([hx - hr * 0.85, hy - hr, hx + hr * 0.85, hy + hr], fill=skin)
    if look.chef_hat:
        hat_h = 0.22 * m
        d.rectangle(
            [hx - hr * 0.9, hy - hr - hat_h * 0.6, hx + hr * 0.9, hy - hr * 0.45], fill=(250, 250, 250)
        )
        d.ellipse(
            [hx - hr * 1.25, hy - hr - hat_h, hx + hr * 1.25, hy - hr - hat_h * 0.3], fill=(252, 252, 252)
        )
        d.line(
            [(hx - hr * 0.9, hy - hr * 0.5), (hx + hr * 0.9, hy - hr * 0.5)], fill=(200, 200, 200), width=1
        )
        head_top = hy - hr - hat_h
    else:
        d.chord([hx - hr * 0.9, hy - hr * 1.08, hx + hr * 0.9, hy + hr * 0.4], 180, 360, fill=look.hair)
        head_top = hy - hr * 1.08
    eye = max(1.0, 0.12 * hr)
    for ex_ in (-0.35, 0.35):
        d.ellipse(
            [hx + ex_ * hr - eye, hy - 0.1 * hr - eye, hx + ex_ * hr + eye, hy - 0.1 * hr + eye],
            fill=(20, 20, 20),
        )
    if look.mask:
        d.rectangle([hx - hr * 0.78, hy + 0.15 * hr, hx + hr * 0.78, hy + 0.85 * hr], fill=look.mask_color)
        d.line([(hx - hr * 0.78, hy + 0.3 * hr), (hx - hr * 0.85, hy - 0.05 * hr)], fill=(200, 200, 200))
        d.line([(hx + hr * 0.78, hy + 0.3 * hr), (hx + hr * 0.85, hy - 0.05 * hr)], fill=(200, 200, 200))
    else:
        d.line([(hx - 0.3 * hr, hy + 0.5 * hr), (hx + 0.3 * hr, hy + 0.5 * hr)], fill=(150, 70, 70), width=1)
    boxes.extend(_held_objects(d, look, hands, mouth, hx, hy, hr, m, t))
    x0 = min(fx - shw - 0.02 * m, *(p[0] - 0.05 * m for p in hands))
    x1 = max(fx + shw + 0.02 * m, *(p[0] + 0.05 * m for p in hands))
    boxes.insert(0, PixelBox("person", x0, head_top, x1, fy, look.attributes, track_id))
    return boxes


def _held_objects(
    d: ImageDraw.ImageDraw,
    look: PersonLook,
    hands: list[tuple[float, float]],
    mouth: tuple[float, float],
    hx: float,
    hy: float,
    hr: float,
    m: float,
    t: float,
) -> list[PixelBox]:
    out: list[PixelBox] = []
    if look.pose == "phone":  # phone held in front of the chest, screen lit
        px, py = hands[1]
        pw, ph = 0.075 * m, 0.14 * m
        d.rectangle([px - pw / 2, py - ph * 0.8, px + pw / 2, py + ph * 0.2], fill=(20, 20, 25))
        d.rectangle([px - pw * 0.38, py - ph * 0.72, px + pw * 0.38, py + ph * 0.1], fill=(150, 200, 235))
        out.append(PixelBox("phone", px - pw / 2, py - ph * 0.8, px + pw / 2, py + ph * 0.2))
    elif look.pose == "call":  # phone against the ear
        px, py = hx - hr * 1.0, hy
        pw, ph = 0.06 * m, 0.14 * m
        d.rectangle([px - pw / 2, py - ph / 2, px + pw / 2, py + ph / 2], fill=(25, 25, 30))
        d.ellipse(
            [hands[1][0] - 0.05 * m, py, hands[1][0] + 0.05 * m, py + 0.1 * m],
            fill=look.glove if look.gloves else look.skin,
        )
        out.append(PixelBox("phone", px - pw / 2, py - ph / 2, px + pw / 2, py + ph / 2))
    elif look.pose in ("smoke", "smoke_hand"):
        if look.pose == "smoke":  # in the mouth
            x0, y0 = mouth
            x1, y1 = x0 + 0.085 * m, y0 + 0.01 * m
        else:  # between the fingers
            x0, y0 = hands[1][0] + 0.03 * m, hands[1][1]
            x1, y1 = x0 + 0.085 * m, y0 - 0.015 * m
        cw = max(1.0, 0.014 * m)
        d.line([(x0, y0), (x1, y1)], fill=(245, 245, 240), width=max(1, int(cw)))
        g = max(1.5, 0.012 * m * (1.2 + 0.3 * np.sin(t * 7.0)))
        d.ellipse([x1 - g, y1 - g, x1 + g, y1 + g], fill=(255, 120, 30))
        for k in range(3):  # a thin plume of smoke rising and drifting
            sr = (0.012 + 0.01 * k) * m
            sx, sy = x1 + 0.02 * m * np.sin(t * 2 + k), y1 - (0.04 + 0.05 * k) * m
            d.ellipse([sx - sr, sy - sr, sx + sr, sy + sr], outline=(205, 205, 210))
        out.append(PixelBox("cigarette", min(x0, x1) - cw, min(y0, y1) - g, max(x0, x1) + g, max(y0, y1) + g))
    return out
