"""A commercial kitchen in metres: tiled walls and floor, ceiling lamps, steel counters along the walls
with wok stoves under hoods, sinks and fridges, a prep table or island, shelves and racks.

`build_room` lays it out and adds its shapes to the scene; `draw_shell` ray casts the six planes of the
room (floor, walls, ceiling) for every pixel in one pass, since everything else stands inside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from bksynth.cctv.canvas import Canvas
from bksynth.cctv.scene import Scene
from bksynth.cctv.shapes import Capsule, box
from bksynth.cctv.textures import footprint, grout, tiles

Colour = tuple[float, float, float]

FLOOR_TILES: tuple[Colour, ...] = (
    (150, 72, 52),  # red quarry tile
    (120, 62, 48),
    (112, 112, 106),  # grey anti-slip
    (150, 146, 134),
    (170, 160, 140),  # beige
    (92, 96, 100),
)
WALL_TILES: tuple[Colour, ...] = (
    (236, 236, 230),
    (228, 232, 236),
    (238, 232, 214),
    (210, 222, 214),
    (246, 246, 244),
)
STEEL: Colour = (170, 174, 178)


@dataclass
class Counter:
    """A counter module: footprint, height, what it is, and the direction a cook faces it from."""

    x0: float
    y0: float
    x1: float
    y1: float
    height: float
    kind: str  # plain | stove | sink | fridge | table | island
    facing: tuple[float, float]  # unit vector from the cook towards the counter
    burners: list[tuple[float, float, float]] = field(default_factory=list)


@dataclass
class Room:
    counters: list[Counter]
    surfaces: list[tuple[float, float, float, float, float]]  # x0, y0, x1, y1, z where things can sit
    lights: np.ndarray
    wall_look: dict
    floor_look: dict


def _rand_colour(rng: np.random.Generator, base: Colour, amount: float = 14.0) -> np.ndarray:
    return np.clip(np.asarray(base) + rng.uniform(-amount, amount, 3), 0, 255)


def steel_paint(scene: Scene, base: np.ndarray, along: int, seams: float = 0.0, kick: bool = False):
    """Brushed steel along world axis `along`; optional door seams every `seams` metres and a dark kick
    plate at the floor."""
    noise, origin, focal = scene.noise, scene.origin, scene.focal

    def paint(p: np.ndarray, n: np.ndarray, local: np.ndarray) -> tuple[np.ndarray, None]:
        a = local[:, 0]
        col = base[None, :] * noise.streaks(p[:, along], p[:, 2] + p[:, (along + 1) % 2])[:, None]
        col = col * noise.grime(p[:, 0] + p[:, 2], p[:, 1], 0.9)[:, None] ** 0.5
        if seams > 0:
            fp = footprint(p, n, origin, focal)
            g = grout(a, seams, 0.01, fp)[:, None]
            col = col * (1 - 0.6 * g)
            handle = (np.mod(a, seams) > 0.05) & (np.mod(a, seams) < 0.2) & (np.abs(p[:, 2] - 0.72) < 0.015)
            col[handle] *= 0.55
        if kick:
            col[p[:, 2] < 0.1] *= 0.45
        return col, None

    return paint


def _stove_top(scene: Scene, burners: list[tuple[float, float, float]]):
    noise = scene.noise
    bx = np.array([[b[0], b[1]] for b in burners]) if burners else np.zeros((0, 2))

    def paint(p: np.ndarray, n: np.ndarray, local: np.ndarray) -> tuple[np.ndarray, None]:
        col = np.full((len(p), 3), 52.0) * noise.grime(p[:, 0], p[:, 1], 0.3)[:, None]
        grate = (np.mod(p[:, 0], 0.09) < 0.012) | (np.mod(p[:, 1], 0.09) < 0.012)
        col[grate] *= 1.6
        for x, y in bx:
            r = np.hypot(p[:, 0] - x, p[:, 1] - y)
            col[r < 0.2] = [30, 30, 32]  # the burner's well
            col[(r > 0.05) & (r < 0.065)] = [75, 70, 66]
        return col, None

    return paint


def _sink_top(scene: Scene, base: np.ndarray, x0: float, y0: float, x1: float, y1: float):
    steel = steel_paint(scene, base, 0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hx, hy = (x1 - x0) * 0.3, (y1 - y0) * 0.3

    def paint(p: np.ndarray, n: np.ndarray, local: np.ndarray) -> tuple[np.ndarray, None]:
        col, _ = steel(p, n, local)
        basin = (np.abs(p[:, 0] - cx) < hx) & (np.abs(p[:, 1] - cy) < hy)
        col[basin] *= 0.55
        col[np.hypot(p[:, 0] - cx, p[:, 1] - cy) < 0.03] = [25, 25, 25]
        return col, None

    return paint


def _run(
    rng: np.random.Generator, start: float, end: float, kinds: list[str], probs: list[float]
) -> list[tuple[float, float, str]]:
    out, x = [], start
    while x < end - 0.5:
        length = min(float(rng.uniform(0.7, 1.8)), end - x)
        out.append((x, x + length, str(rng.choice(kinds, p=probs))))
        x += length
    return out


def build_room(scene: Scene) -> Room:
    rng, W, D, H = scene.rng, scene.width_m, scene.depth_m, scene.ceiling_m
    steel = _rand_colour(rng, STEEL, 12)
    depth = float(rng.uniform(0.62, 0.78))
    height = float(rng.uniform(0.84, 0.92))
    counters: list[Counter] = []
    surfaces: list[tuple[float, float, float, float, float]] = []
    kinds = ["plain", "stove", "sink", "fridge", "gap"]
    probs = [0.38, 0.27, 0.15, 0.08, 0.12]
    runs: list[tuple[str, float, float]] = []
    if rng.random() < 0.92:
        runs.append(("back", float(rng.uniform(0, 0.6)), W - float(rng.uniform(0, 0.6))))
    for wall in ("left", "right"):
        if rng.random() < 0.6:
            runs.append((wall, float(rng.uniform(0.6, 2.2)), D - depth - 0.02))
    for wall, s, e in runs:
        for a, b, kind in _run(rng, s, e, kinds, probs):
            if kind == "gap":
                continue
            if wall == "back":
                fp, facing, front, along = (a, D - depth, b, D), (0.0, 1.0), "y", 0
            elif wall == "left":
                fp, facing, front, along = (0.0, a, depth, b), (-1.0, 0.0), "X", 1
            else:
                fp, facing, front, along = (W - depth, a, W, b), (1.0, 0.0), "x", 1
            counters.append(_module(scene, kind, fp, height, facing, front, along, steel, surfaces))
    if rng.random() < 0.7 and W > 3.6 and D > 4.2:
        counters += _island(scene, steel, height, depth, surfaces)
    for _ in range(int(rng.choice([0, 0, 1, 1, 2]))):
        _rack(scene, steel, surfaces)
    lights = _lamps(rng, W, D, H)
    wall_look = {
        "tile": _rand_colour(rng, WALL_TILES[int(rng.integers(len(WALL_TILES)))], 8),
        "grout": _rand_colour(rng, (150, 150, 146), 30),
        "tile_a": float(rng.choice([0.1, 0.15, 0.2, 0.3, 0.3])),
        "tile_b": float(rng.choice([0.1, 0.15, 0.2, 0.1])),
        "tile_top": float(rng.uniform(1.8, H + 0.5)),
        "paint": _rand_colour(rng, (226, 226, 220), 16),
        "steel": steel,
        "stoves": [c for c in counters if c.kind == "stove"],
        "door": (str(rng.choice(["left", "right", "front", "none"])), float(rng.uniform(0.3, 0.7))),
    }
    floor_tile = float(rng.choice([0.15, 0.2, 0.3, 0.3, 0.45, 0.6]))
    floor_look = {
        "tile": _rand_colour(rng, FLOOR_TILES[int(rng.integers(len(FLOOR_TILES)))], 12),
        "grout": None,
        "size": floor_tile,
        "wet": float(rng.uniform(0.0, 1.0)),
    }
    floor_look["grout"] = floor_look["tile"] * float(rng.uniform(0.55, 0.8))
    return Room(counters, surfaces, lights, wall_look, floor_look)


def _module(
    scene: Scene,
    kind: str,
    fp: tuple[float, float, float, float],
    height: float,
    facing: tuple[float, float],
    front: str,
    along: int,
    steel: np.ndarray,
    surfaces: list,
) -> Counter:
    rng = scene.rng
    x0, y0, x1, y1 = fp
    scene.block(x0 - 0.05, y0 - 0.05, x1 + 0.05, y1 + 0.05)
    scene.footprints.append(fp)
    doors = steel_paint(scene, steel * 0.92, along, seams=float(rng.uniform(0.45, 0.65)), kick=True)
    sides = steel_paint(scene, steel * 0.9, along)
    if kind == "fridge":
        top = float(rng.uniform(1.85, 2.05))
        scene.add(box((x0, y0, 0), (x1, y1, top), sides, "steel", faces="xXyYZ"))
        tall = steel_paint(scene, steel, along, seams=(abs(x1 - x0) if along == 0 else abs(y1 - y0)) / 2)
        scene.add(box((x0, y0, 0), (x1, y1, top), tall, "steel", faces=front))
        return Counter(x0, y0, x1, y1, top, kind, (-facing[0], -facing[1]))
    body_faces = "xXyY".replace(front, "")
    scene.add(box((x0, y0, 0), (x1, y1, height - 0.04), sides, "steel", faces=body_faces))
    scene.add(box((x0, y0, 0), (x1, y1, height - 0.04), doors, "steel", faces=front))
    burners: list[tuple[float, float, float]] = []
    if kind == "stove":
        n = int(rng.integers(1, 4))
        length = (x1 - x0) if along == 0 else (y1 - y0)
        for i in range(n):
            t = (i + 0.5) / n
            if along == 0:
                burners.append((x0 + t * length, (y0 + y1) / 2, height))
            else:
                burners.append(((x0 + x1) / 2, y0 + t * length, height))
        scene.add(box((x0, y0, height - 0.04), (x1, y1, height), _stove_top(scene, burners), "matte"))
        _hood(scene, fp, facing, steel)
    elif kind == "sink":
        scene.add(box((x0, y0, height - 0.04), (x1, y1, height), _sink_top(scene, steel, *fp), "steel"))
        cx, cy = (x0 + x1) / 2 + facing[0] * 0.25, (y0 + y1) / 2 + facing[1] * 0.25
        tap_top = height + float(rng.uniform(0.25, 0.45))
        scene.add(
            Capsule(
                (150, 150, 155), "steel", a=np.array([cx, cy, height]), b=np.array([cx, cy, tap_top]), r=0.015
            )
        )
        scene.add(
            Capsule(
                (150, 150, 155),
                "steel",
                a=np.array([cx, cy, tap_top]),
                b=np.array([cx - facing[0] * 0.2, cy - facing[1] * 0.2, tap_top]),
                r=0.013,
            )
        )
        scene.steam.append(
            (cx - facing[0] * 0.25, cy - facing[1] * 0.25, height + 0.05, float(rng.uniform(0, 0.4)))
        )
    else:
        scene.add(
            box((x0, y0, height - 0.04), (x1, y1, height), steel_paint(scene, steel * 1.05, along), "steel")
        )
        surfaces.append((x0 + 0.05, y0 + 0.05, x1 - 0.05, y1 - 0.05, height))
        if rng.random() < 0.35:  # a wall shelf above
            z = float(rng.uniform(1.45, 1.8))
            sd = 0.32
            if along == 0:
                sfp = (x0, y1 - sd, x1, y1)
            elif facing[0] < 0:
                sfp = (x0, y0, x0 + sd, y1)
            else:
                sfp = (x1 - sd, y0, x1, y1)
            scene.add(box((sfp[0], sfp[1], z - 0.03), (sfp[2], sfp[3], z), sides, "steel"))
            surfaces.append((sfp[0] + 0.02, sfp[1] + 0.02, sfp[2] - 0.02, sfp[3] - 0.02, z))
    return Counter(x0, y0, x1, y1, height, kind, (-facing[0], -facing[1]), burners)


def _hood(
    scene: Scene, fp: tuple[float, float, float, float], facing: tuple[float, float], steel: np.ndarray
) -> None:
    rng = scene.rng
    x0, y0, x1, y1 = fp
    lo = float(rng.uniform(1.95, 2.15))
    hi = min(scene.ceiling_m, lo + float(rng.uniform(0.35, 0.6)))
    reach = float(rng.uniform(0.85, 1.05))
    if facing[1] > 0:  # back wall: the hood reaches towards -y
        hb = (x0 - 0.05, y1 - reach, lo), (x1 + 0.05, y1, hi)
    elif facing[0] < 0:
        hb = (x0, y0 - 0.05, lo), (x0 + reach, y1 + 0.05, hi)
    else:
        hb = (x1 - reach, y0 - 0.05, lo), (x1, y1 + 0.05, hi)
    along = 0 if facing[1] > 0 else 1
    scene.add(box(hb[0], hb[1], steel_paint(scene, steel, along), "steel", faces="xXyYZ"))
    under = steel_paint(scene, steel * 0.6, along, seams=0.4)
    scene.add(box(hb[0], hb[1], under, "steel", faces="z"))


def _island(scene: Scene, steel: np.ndarray, height: float, depth: float, surfaces: list) -> list[Counter]:
    rng, W, D = scene.rng, scene.width_m, scene.depth_m
    length = float(rng.uniform(1.2, min(2.8, W - 2.4)))
    wide = float(rng.uniform(0.7, 0.95))
    x0 = float(rng.uniform(1.2, max(1.25, W - 1.2 - length)))
    y0 = float(rng.uniform(1.8, max(1.85, D - depth - 1.1 - wide)))
    x1, y1 = x0 + length, y0 + wide
    scene.block(x0 - 0.05, y0 - 0.05, x1 + 0.05, y1 + 0.05)
    top = steel_paint(scene, steel * 1.05, 0)
    kind = "table" if rng.random() < 0.6 else "island"
    if kind == "table":  # open prep table: top, four legs, an under-shelf with stock on it
        scene.add(box((x0, y0, height - 0.04), (x1, y1, height), top, "steel"))
        leg = steel_paint(scene, steel * 0.9, 2)
        for lx, ly in (
            (x0 + 0.03, y0 + 0.03),
            (x1 - 0.07, y0 + 0.03),
            (x0 + 0.03, y1 - 0.07),
            (x1 - 0.07, y1 - 0.07),
        ):
            scene.add(box((lx, ly, 0), (lx + 0.04, ly + 0.04, height - 0.04), leg, "steel", faces="xXyY"))
        scene.add(box((x0 + 0.03, y0 + 0.03, 0.17), (x1 - 0.03, y1 - 0.03, 0.2), top, "steel"))
        surfaces.append((x0 + 0.08, y0 + 0.08, x1 - 0.08, y1 - 0.08, 0.2))
        scene.shadows.append(((x0 + x1) / 2, (y0 + y1) / 2, max(length, wide) * 0.5, 0.25))
    else:
        doors = steel_paint(scene, steel * 0.92, 0, seams=0.55, kick=True)
        scene.add(box((x0, y0, 0), (x1, y1, height - 0.04), doors, "steel", faces="xXyY"))
        scene.add(box((x0, y0, height - 0.04), (x1 + 0.02, y1 + 0.02, height), top, "steel"))
        scene.footprints.append((x0, y0, x1, y1))
    surfaces.append((x0 + 0.05, y0 + 0.05, x1 - 0.05, y1 - 0.05, height))
    return [
        Counter(x0, y0, x1, y1, height, kind, (0.0, 1.0)),  # worked from the near side
        Counter(x0, y0, x1, y1, height, kind, (0.0, -1.0)),  # and from the far side, back to the wall
    ]


def _rack(scene: Scene, steel: np.ndarray, surfaces: list) -> None:
    """Open wire shelving, 1.7-1.9 m tall: the big see-through occluder of storerooms."""
    rng = scene.rng
    length, deep = float(rng.uniform(0.9, 1.5)), float(rng.uniform(0.45, 0.6))
    along_x = bool(rng.random() < 0.5)
    sx, sy = (length, deep) if along_x else (deep, length)
    for _ in range(20):
        x0 = float(rng.uniform(0.05, scene.width_m - sx - 0.05))
        y0 = float(rng.uniform(1.0, scene.depth_m - sy - 0.05))
        if scene.is_free(x0 + sx / 2, y0 + sy / 2, max(sx, sy) / 2 + 0.05):
            break
    else:
        return
    scene.block(x0 - 0.05, y0 - 0.05, x0 + sx + 0.05, y0 + sy + 0.05)
    top = float(rng.uniform(1.7, 1.9))
    post = steel_paint(scene, steel * 0.8, 2)
    for px, py in ((x0, y0), (x0 + sx - 0.03, y0), (x0, y0 + sy - 0.03), (x0 + sx - 0.03, y0 + sy - 0.03)):
        scene.add(box((px, py, 0), (px + 0.03, py + 0.03, top), post, "steel", faces="xXyY"))
    shelf = steel_paint(scene, steel * 0.85, 0 if along_x else 1, seams=0.03)
    for z in np.linspace(0.15, top - 0.05, int(rng.integers(4, 6))):
        scene.add(box((x0, y0, z - 0.02), (x0 + sx, y0 + sy, z), shelf, "steel"))
        surfaces.append((x0 + 0.03, y0 + 0.03, x0 + sx - 0.03, y0 + sy - 0.03, float(z)))


def _lamps(rng: np.random.Generator, W: float, D: float, H: float) -> np.ndarray:
    nx, ny = max(1, round(W / float(rng.uniform(1.8, 2.8)))), max(1, round(D / float(rng.uniform(1.8, 2.8))))
    xs = (np.arange(nx) + 0.5) * W / nx
    ys = (np.arange(ny) + 0.5) * D / ny
    return np.array([[x, y, H - 0.03] for x in xs for y in ys])


def draw_shell(canvas: Canvas, scene: Scene, room: Room, lamps_on: bool = True) -> None:
    """Floor, walls and ceiling for every pixel: the nearest of the six planes along each ray."""
    d = canvas.rays.reshape(-1, 3)
    o = scene.origin.astype(np.float32)
    lo, hi = (0.0, 0.0, 0.0), (scene.width_m, scene.depth_m, scene.ceiling_m)
    # the camera is inside a box: each ray leaves through the nearest of the three planes it heads for
    ts = np.empty((len(d), 3), np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        for axis in range(3):
            bound = np.where(d[:, axis] > 0, np.float32(hi[axis]), np.float32(lo[axis]))
            ts[:, axis] = (bound - o[axis]) / d[:, axis]
    ts[~(ts > 1e-6)] = np.inf  # parallel rays (nan or inf)
    axis = ts.argmin(1)
    rows = np.arange(len(d))
    best = ts[rows, axis]
    best[~np.isfinite(best)] = 100.0
    plane_of = np.array([[2, 3], [4, 5], [0, 1]])  # axis x: walls x=0 / x=W; y: y=0 / y=D; z: floor / ceiling
    which = plane_of[axis, (d[rows, axis] > 0).astype(int)]
    p = o + d * best[:, None]
    # metres of surface per pixel, for box-filtering the grout lines
    fp = best / np.float32(scene.focal) / np.maximum(np.abs(d[rows, axis]), 0.15)
    albedo = np.zeros((len(d), 3), np.float32)
    for k in range(6):
        idx = np.nonzero(which == k)[0]
        if len(idx) == 0:
            continue
        if k == 0:
            albedo[idx] = _floor(scene, room, p[idx], fp[idx])
        elif k == 1:
            albedo[idx] = _ceiling(scene, room, p[idx], fp[idx], lamps_on)
        else:
            albedo[idx] = _wall(scene, room, p[idx], fp[idx], k)
    light, glare = _shell_light(canvas, scene, room, p, d, which)
    rgb = albedo * light.reshape(-1, 1) + glare.reshape(-1, 1)
    canvas.rgb[:] = (rgb * np.asarray(canvas.lighting.colour)).reshape(canvas.rgb.shape)
    canvas.depth[:] = (best * canvas.zscale.ravel()).reshape(canvas.depth.shape)


LIGHT_STEP = 4  # the shell's light is smooth: work it out on every 4th pixel and interpolate


def _shell_light(
    canvas: Canvas, scene: Scene, room: Room, p: np.ndarray, d: np.ndarray, which: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Irradiance (with soft floor shadows) and wet-floor glare of the shell, at full resolution."""
    h, w = canvas.depth.shape
    s = LIGHT_STEP
    grid = (slice(s // 2, None, s), slice(s // 2, None, s))
    ps, ds, ks = p.reshape(h, w, 3)[grid], d.reshape(h, w, 3)[grid], which.reshape(h, w)[grid]
    shape = ks.shape
    ps, ds, ks = ps.reshape(-1, 3), ds.reshape(-1, 3), ks.ravel()
    normals = np.array([(0, 0, 1), (0, 0, -1), (1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0)], float)
    ns = normals[np.clip(ks, 0, 5)]
    light = canvas.lighting.irradiance(ps, ns)
    light[ks == 1] = 1.0  # the ceiling is lit by its own lamps' spill: keep its painted brightness
    # grime is as smooth as the light: fold it in here rather than per pixel
    along_wall = np.where(ks <= 1, ps[:, 0], np.where(ks <= 3, ps[:, 1], ps[:, 0]))
    across = np.where(ks <= 1, ps[:, 1], ps[:, 2])
    light *= np.where(ks == 1, 1.0, scene.noise.grime(along_wall, across))
    glare = np.zeros(len(ps))
    floor = np.nonzero(ks == 0)[0]
    if len(floor):
        pf = ps[floor]
        dark = np.ones(len(floor))
        for x, y, r, strength in scene.shadows:  # soft shadows under people, bins and tables
            dark -= strength * np.exp(-((pf[:, 0] - x) ** 2 + (pf[:, 1] - y) ** 2) / (r * r))
        for x0, y0, x1, y1 in scene.footprints:  # contact shadow along the foot of counters
            dx = np.maximum(np.maximum(x0 - pf[:, 0], pf[:, 0] - x1), 0)
            dy = np.maximum(np.maximum(y0 - pf[:, 1], pf[:, 1] - y1), 0)
            dark -= 0.35 * np.exp(-np.hypot(dx, dy) / 0.12)
        light[floor] *= np.clip(dark, 0.25, 1.0)
        wet = scene.noise.smooth(pf[:, 0] + 40, pf[:, 1], 1.2) * room.floor_look["wet"]
        glare[floor] = 90.0 * wet * np.minimum(canvas.lighting.highlight(pf, ns[floor], ds[floor], 60.0), 1.5)
    return _upsample(light.reshape(shape), w, h), _upsample(glare.reshape(shape), w, h)


def _upsample(a: np.ndarray, w: int, h: int) -> np.ndarray:
    return np.asarray(Image.fromarray(a.astype(np.float32), mode="F").resize((w, h), Image.BILINEAR))


def _floor(scene: Scene, room: Room, p: np.ndarray, fp: np.ndarray) -> np.ndarray:
    look = room.floor_look
    return tiles(
        p[:, 0],
        p[:, 1],
        fp,
        scene.noise,
        look["tile"],
        look["grout"],
        look["size"],
        look["size"],
        0.1,
        grimy=False,
    )


def _ceiling(scene: Scene, room: Room, p: np.ndarray, fp: np.ndarray, lamps_on: bool) -> np.ndarray:
    col = tiles(
        p[:, 0],
        p[:, 1],
        fp,
        scene.noise,
        np.array([205.0, 205, 200]),
        np.array([150.0, 150, 150]),
        0.6,
        0.6,
        0.03,
    )
    col *= 0.7
    for lx, ly, _ in room.lights:  # fluorescent fittings: saturate like real lamps in a CCTV frame
        lit = (np.abs(p[:, 0] - lx) < 0.6) & (np.abs(p[:, 1] - ly) < 0.15)
        col[lit] = 330.0 if lamps_on else 60.0
    return col


def _wall(scene: Scene, room: Room, p: np.ndarray, fp: np.ndarray, k: int) -> np.ndarray:
    look = room.wall_look
    a = p[:, 1] if k in (2, 3) else p[:, 0]
    z = p[:, 2]
    col = tiles(
        a, z, fp, scene.noise, look["tile"], look["grout"], look["tile_a"], look["tile_b"], 0.04, grimy=False
    )
    col[z > look["tile_top"]] = look["paint"]
    for c in look["stoves"]:  # steel splash-back behind the woks
        x0, y0, x1, y1 = c.x0, c.y0, c.x1, c.y1
        behind = (z < 2.1) & (
            ((k == 5) & (p[:, 0] > x0) & (p[:, 0] < x1))
            | ((k in (2, 3)) & (p[:, 1] > y0) & (p[:, 1] < y1) & (np.abs(p[:, 0] - (x0 + x1) / 2) < 1.0))
        )
        col[behind] = look["steel"] * 0.8 * scene.noise.streaks(a[behind], z[behind])[:, None]
    side, at = look["door"]
    wall_of = {2: "left", 3: "right", 4: "front"}
    if wall_of.get(k) == side:
        span = scene.depth_m if k in (2, 3) else scene.width_m
        door = (np.abs(a - at * span) < 0.45) & (z < 2.05)
        col[door] = look["steel"] * 0.75
        col[door & (np.abs(a - at * span) > 0.42)] *= 0.5
    return col
