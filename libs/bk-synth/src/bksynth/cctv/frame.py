"""One random ceiling-camera frame with its ground truth (generator v2).

Truth comes from the id buffer, after every occluder has been drawn: a box is what the camera sees of
an object (the part of a cook above the counter, the flame around the wok), and objects seen less than
MIN_VISIBLE of themselves (hidden or out of frame) are left out. Person attributes are reported only
when the camera can see the evidence: a mask when the face shows, gloves when a hand does, a hat when
the head does; an attribute left out is "unknown" to the trainer and the metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bksynth.cctv.camera import CeilingCamera
from bksynth.cctv.camera_effects import (
    Recording,
    develop,
    h264_roundtrip,
    lens_blur,
    motion_blur,
    sensor_frame,
    vapour,
)
from bksynth.cctv.canvas import Canvas, Lighting
from bksynth.cctv.room import build_room, draw_shell
from bksynth.cctv.scene import Scene
from bksynth.cctv.staff import PART_FACE, PART_HAND, PART_HEAD, PART_TORSO, place_staff
from bksynth.cctv.textures import Noise
from bksynth.cctv.things import place_things
from bksynth.truth import Annotation

MIN_VISIBLE = 0.25  # share of an object that must be seen (not hidden, not out of frame) to be labelled
GOP = 3  # frames encoded per picture: the kept one is a P-frame


@dataclass
class CctvFrame:
    image: np.ndarray  # H, W, 3 uint8 RGB
    annotations: list[Annotation]
    camera: CeilingCamera
    recording: Recording
    ids: np.ndarray  # H, W object id * PARTS + part, 0 = scenery (before effects)
    object_ids: list[int]  # the id in `ids` of each annotation, in order


def place_camera(
    rng: np.random.Generator, w_m: float, d_m: float, h_m: float, width: int, height: int
) -> CeilingCamera:
    mount = str(rng.choice(["wall", "corner", "overhead"], p=[0.5, 0.32, 0.18]))
    if mount == "wall":
        pos = (float(rng.uniform(0.2, 0.8)) * w_m, 0.12, h_m)
        target = (
            float(rng.uniform(0.25, 0.75)) * w_m,
            float(rng.uniform(0.4, 0.85)) * d_m,
            float(rng.uniform(0, 0.9)),
        )
    elif mount == "corner":
        pos = (0.12 if rng.random() < 0.5 else w_m - 0.12, 0.12, h_m)
        target = (
            float(rng.uniform(0.35, 0.65)) * w_m,
            float(rng.uniform(0.45, 0.85)) * d_m,
            float(rng.uniform(0, 0.9)),
        )
    else:  # in the middle of the ceiling, looking steeply down
        pos = (float(rng.uniform(0.3, 0.7)) * w_m, float(rng.uniform(0.25, 0.6)) * d_m, h_m)
        a = float(rng.uniform(-np.pi, np.pi))
        reach = float(rng.uniform(0.3, 1.6))
        target = (pos[0] + reach * np.sin(a), pos[1] + reach * np.cos(a), 0.0)
    return CeilingCamera.aimed(
        pos,
        target,
        roll=float(rng.normal(0, 0.025)),
        hfov_deg=float(rng.uniform(70, 100)),
        corner_stretch=float(rng.uniform(1.05, 1.5)),
        width=width,
        height=height,
    )


def render_cctv_frame(
    seed: int,
    width: int = 640,
    height: int = 360,
    *,
    night: bool | None = None,
    encode: bool = True,
    osd: bool = True,
) -> CctvFrame:
    """Deterministic per seed. night forces (True) or forbids (False) the infrared mode; encode=False
    skips H.264 and osd=False the burnt-in text (for tests); neither changes the scene."""
    rng = np.random.default_rng(seed)
    w_m, d_m = float(rng.uniform(4.0, 9.0)), float(rng.uniform(4.5, 10.0))
    cam_h = float(rng.uniform(2.5, 4.0))
    ceiling = max(cam_h + float(rng.uniform(0.05, 0.6)), 2.7)
    cam = place_camera(rng, w_m, d_m, cam_h, width, height)
    scene = Scene(rng, Noise(rng), cam, w_m, d_m, ceiling)
    room = build_room(scene)
    rec = Recording.random(rng, width, height, night)
    lighting = Lighting(
        room.lights,
        ambient=float(rng.uniform(0.3, 0.5)),
        gain=float(rng.uniform(0.5, 0.9)),
        falloff_m=float(rng.uniform(2.5, 4.0)),
        colour=(
            float(rng.uniform(0.92, 1.05)),
            float(rng.uniform(0.97, 1.05)),
            float(rng.uniform(0.88, 1.05)),
        ),
    )
    place_staff(scene, room, int(rng.choice([0, 1, 1, 2, 2, 3, 3, 4, 5])))
    place_things(scene, room)
    canvas = Canvas(cam, lighting)
    draw_shell(canvas, scene, room, lamps_on=not rec.night)
    canvas.draw_all(scene.shapes)
    labelled = truth(canvas, scene)
    img = canvas.rgb.copy()
    motion_blur(img, canvas, scene, rec.exposure_s)
    vapour(img, scene, rng)
    img = lens_blur(develop(img, canvas, rec), rec.defocus * width / 640)
    frames = [sensor_frame(img, rec, rng, rec.night, osd) for _ in range(GOP if encode else 1)]
    image = h264_roundtrip(frames, rec.kbps) if encode else frames[-1]
    return CctvFrame(image, [a for _, a in labelled], cam, rec, canvas.ids, [oid for oid, _ in labelled])


def render_cctv(seed: int, width: int = 640, height: int = 360) -> tuple[np.ndarray, list[Annotation]]:
    """One random ceiling-camera frame: HxWx3 uint8 RGB and its annotations (same format as v1)."""
    f = render_cctv_frame(seed, width, height)
    return f.image, f.annotations


def _in_frame_share(canvas: Canvas, scene: Scene, oid: int) -> float:
    """How much of the object's projected extent lies inside the frame (1 = not cut by the edges)."""
    pts = np.concatenate([s.bounds() for s in scene.shapes if s.oid == oid])
    px, z = canvas.cam.project(pts)
    if (z <= 0.05).any():
        return 0.0
    (x0, y0), (x1, y1) = px.min(0), px.max(0)
    area = max((x1 - x0) * (y1 - y0), 1e-6)
    ix = max(0.0, min(x1, canvas.cam.width) - max(x0, 0.0))
    iy = max(0.0, min(y1, canvas.cam.height) - max(y0, 0.0))
    return float(min(1.0, ix * iy / area))


def truth(canvas: Canvas, scene: Scene) -> list[tuple[int, Annotation]]:
    """(object id, annotation) for every labelled object the camera sees enough of."""
    w, h = canvas.cam.width, canvas.cam.height
    px_scale = (w / 640) ** 2  # evidence thresholds below are in pixels of a 640-wide frame
    out: list[tuple[int, Annotation]] = []
    for obj in scene.objects:
        seen = canvas.visible_box(obj.oid)
        own = canvas.own.get(obj.oid)
        if seen is None or own is None:
            continue
        x0, y0, x1, y1, pixels = seen
        visibility = pixels / max(int(own.sum()), 1) * _in_frame_share(canvas, scene, obj.oid)
        if visibility < MIN_VISIBLE or max(x1 - x0, y1 - y0) < obj.min_box_px:
            continue
        # tiny things (a cigarette is a few pixels) get a box of at least min_box_px a side
        grow_x, grow_y = max(0.0, obj.min_box_px - (x1 - x0)) / 2, max(0.0, obj.min_box_px - (y1 - y0)) / 2
        bx0, bx1 = max(0.0, x0 - grow_x), min(float(w), x1 + grow_x)
        by0, by1 = max(0.0, y0 - grow_y), min(float(h), y1 + grow_y)
        attrs: dict[str, int] = {}
        if obj.label == "person":
            seen_part = {
                p: canvas.part_pixels(obj.oid, p) / px_scale
                for p in (PART_FACE, PART_HAND, PART_HEAD, PART_TORSO)
            }
            evidence = {
                "chef_hat": seen_part[PART_HEAD] + seen_part[PART_FACE] >= 6,
                "mask": seen_part[PART_FACE] >= 6,
                "uniform": seen_part[PART_TORSO] >= 12,
                "gloves": seen_part[PART_HAND] >= 3,
            }
            attrs = {k: v for k, v in obj.attributes.items() if evidence[k]}
        box = (round(bx0 / w, 5), round(by0 / h, 5), round(bx1 / w, 5), round(by1 / h, 5))
        out.append((obj.oid, Annotation(obj.label, box, attrs, None, round(float(visibility), 3))))
    return out
