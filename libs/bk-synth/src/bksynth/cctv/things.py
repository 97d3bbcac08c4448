"""Everything in the kitchen besides people: rats, bins (open or shut), wok-burner flames under woks and
pots, and the clutter that makes a kitchen busy and teaches the model what is *not* a violation:
towels (not hats), carrots and oranges (not flames), buckets (not bins), black remotes (not phones),
mop heads (not rats)."""

from __future__ import annotations

import numpy as np

from bksynth.cctv.room import Room
from bksynth.cctv.scene import Scene, obox
from bksynth.cctv.shapes import Capsule, Cylinder, Disc, Ellipsoid, box

UP = np.array([0.0, 0.0, 1.0])
BIN_COLOURS = (
    (40, 120, 60),
    (40, 80, 160),
    (90, 90, 95),
    (30, 30, 32),
    (200, 170, 40),
    (180, 50, 40),
    (170, 175, 180),
)
FOOD = ((200, 150, 90), (120, 160, 70), (210, 200, 180), (170, 70, 40), (230, 200, 120), (90, 60, 40))


def _dir(angle: float) -> np.ndarray:
    return np.array([np.sin(angle), np.cos(angle), 0.0])


def _jitter(rng: np.random.Generator, c: tuple, amount: float = 15.0) -> tuple[float, float, float]:
    v = np.clip(np.asarray(c, float) + rng.uniform(-amount, amount, 3), 0, 255)
    return float(v[0]), float(v[1]), float(v[2])


def add_rodent(scene: Scene, x: float, y: float, z: float, heading: float, running: bool) -> None:
    rng = scene.rng
    f, r = _dir(heading), _dir(heading + np.pi / 2)
    base = (45, 42, 40) if rng.random() < 0.25 else (98, 86, 76)
    col = _jitter(rng, base, 18)
    obj = scene.new_object(
        "rodent",
        centre=(x, y, z + 0.03),
        velocity=tuple(0.9 * f) if running else (0.0, 0.0, 0.0),
        min_box_px=3.0,
    )
    s = float(rng.uniform(0.8, 1.2))
    length, high = (0.1, 0.028) if running else (0.085, 0.036)
    c = np.array([x, y, z + high])
    add = lambda sh: (setattr(sh, "oid", obj.oid), scene.add(sh))  # noqa: E731
    add(Ellipsoid(col, centre=c, axes=np.column_stack([f * length * s, r * 0.037 * s, UP * high])))
    head = c + f * 0.1 * s - UP * 0.006
    add(Ellipsoid(col, centre=head, axes=np.column_stack([f * 0.045 * s, r * 0.024 * s, UP * 0.021 * s])))
    for side in (-1, 1):
        ear = head + r * side * 0.016 * s + UP * 0.017 * s - f * 0.012 * s
        add(Ellipsoid(_jitter(rng, (150, 120, 115), 10), centre=ear, axes=np.eye(3) * 0.01 * s))
    p = c - f * length * s
    bend = float(rng.uniform(-0.6, 0.6))
    for k in range(3):  # the tail, curving; outside the box, as in v1 (so it is drawn as scenery)
        q = p + _dir(heading + np.pi + bend * (k + 1) / 3) * 0.06 * s
        q[2] = z + 0.006
        scene.add(Capsule(_jitter(rng, (130, 105, 100), 10), a=p, b=q, r=(0.0065 - 0.0012 * k) * s))
        p = q
    scene.shadows.append((x, y, 0.1, 0.25))


def add_bin(scene: Scene, x: float, y: float, is_open: bool) -> None:
    rng = scene.rng
    steel = rng.random() < 0.25
    col = _jitter(rng, (172, 176, 180) if steel else BIN_COLOURS[int(rng.integers(len(BIN_COLOURS)))])
    mat = "steel" if steel else "matte"
    h = float(rng.uniform(0.5, 0.85))
    rad = float(rng.uniform(0.19, 0.28))
    obj = scene.new_object("trash_bin_open" if is_open else "trash_bin_closed", centre=(x, y, h / 2))
    oid = obj.oid
    back = _dir(float(rng.uniform(-np.pi, np.pi)))
    hinge_axis = np.cross(UP, back)
    lid_col = tuple(c * 0.8 for c in col)
    square = rng.random() < 0.35
    if square:
        scene.add(box((x - rad, y - rad, 0), (x + rad, y + rad, h), col, mat, oid, faces="xXyYz"))
    else:
        scene.add(
            Cylinder(
                col, mat, oid, a=np.array([x, y, 0.0]), b=np.array([x, y, h]), r=rad, caps=(True, not is_open)
            )
        )
    if is_open:
        top = np.array([x, y, h - 0.03])
        if square:
            scene.add(
                box(
                    (x - rad + 0.01, y - rad + 0.01, h - 0.04),
                    (x + rad - 0.01, y + rad - 0.01, h - 0.03),
                    (20.0, 18.0, 16.0),
                    oid=oid,
                    faces="Z",
                )
            )
        else:
            scene.add(Disc((20.0, 18.0, 16.0), oid=oid, centre=top, r=rad - 0.01))
        for _ in range(int(rng.integers(2, 6))):  # rubbish bags and scraps poking out
            off = rng.uniform(-0.6, 0.6, 2) * rad
            size = float(rng.uniform(0.04, 0.09))
            colour = _jitter(
                rng, ((30, 30, 30), (220, 220, 215), (60, 90, 60), (150, 120, 80))[int(rng.integers(4))], 20
            )
            centre = top + np.array([off[0], off[1], size * 0.3])
            scene.add(Ellipsoid(colour, oid=oid, centre=centre, axes=np.eye(3) * size))
        angle = float(rng.uniform(1.1, 1.9))  # lid swung up about its back hinge
        hinge = np.array([x, y, h + 0.01]) + back * rad
        swing = -back * np.cos(angle) + UP * np.sin(angle)
        if square:
            scene.add(
                obox(
                    hinge + swing * rad,
                    np.stack([hinge_axis, swing, np.cross(hinge_axis, swing)]),
                    (rad, rad, 0.012),
                    {"*": lid_col},
                    mat,
                    oid,
                )
            )
        else:
            scene.add(
                Disc(lid_col, mat, oid, centre=hinge + swing * rad, u=hinge_axis, v=swing, r=rad + 0.01)
            )
    else:
        if square:
            scene.add(
                box(
                    (x - rad - 0.01, y - rad - 0.01, h),
                    (x + rad + 0.01, y + rad + 0.01, h + 0.04),
                    lid_col,
                    mat,
                    oid,
                )
            )
        else:
            scene.add(
                Cylinder(
                    lid_col, mat, oid, a=np.array([x, y, h]), b=np.array([x, y, h + 0.04]), r=rad + 0.012
                )
            )
        if rng.random() < 0.5:
            scene.add(
                Capsule(
                    lid_col,
                    mat,
                    oid,
                    a=np.array([x, y, h + 0.05]) - hinge_axis * 0.06,
                    b=np.array([x, y, h + 0.05]) + hinge_axis * 0.06,
                    r=0.012,
                )
            )
    scene.block(x - rad - 0.05, y - rad - 0.05, x + rad + 0.05, y + rad + 0.05)
    scene.shadows.append((x, y, rad * 1.3, 0.3))


def add_burner(scene: Scene, bx: float, by: float, bz: float, lit: bool) -> None:
    """A wok burner: flames when lit, under a wok or a pot, or bare; cookware also sits on cold ones."""
    rng = scene.rng
    ware = str(rng.choice(["wok", "pot", "none"], p=[0.45, 0.25, 0.3]))
    centre = np.array([bx, by, bz])
    if lit:
        size = float(rng.uniform(0.7, 1.4)) * (1.3 if ware == "wok" else 1.0)
        obj = scene.new_object("flame", centre=(bx, by, bz + 0.08), min_box_px=3.0)
        n = int(rng.integers(7, 13))
        ring = float(rng.uniform(0.05, 0.09)) * size
        for k in range(n):
            a = 2 * np.pi * (k + float(rng.uniform(-0.3, 0.3))) / n
            radial = np.array([np.cos(a), np.sin(a), 0.0])
            tall = float(rng.uniform(0.07, 0.2)) * size
            axis = UP * np.cos(0.35) + radial * np.sin(0.35)
            tangent = np.cross(UP, radial)
            c = centre + radial * ring + axis * tall * 0.5
            outer = (255.0, float(rng.uniform(110, 170)), float(rng.uniform(20, 50)))
            scene.add(
                Ellipsoid(
                    outer,
                    "glow",
                    obj.oid,
                    centre=c,
                    axes=np.column_stack([radial * 0.02 * size, tangent * 0.024 * size, axis * tall * 0.5]),
                )
            )
            scene.add(
                Ellipsoid(
                    (255.0, 232.0, 140.0),
                    "glow",
                    obj.oid,
                    centre=c - axis * tall * 0.15,
                    axes=np.column_stack([radial * 0.011 * size, tangent * 0.013 * size, axis * tall * 0.28]),
                )
            )
        scene.add(Disc((70.0, 100.0, 235.0), "glow", obj.oid, centre=centre + UP * 0.004, r=ring + 0.015))
    if ware == "wok":
        rad = float(rng.uniform(0.17, 0.23))
        c = centre + UP * (0.1 + rad * 0.6)
        food = np.asarray(FOOD[int(rng.integers(len(FOOD)))], float)

        def wok_paint(p: np.ndarray, n: np.ndarray, local: np.ndarray) -> tuple[np.ndarray, None]:
            inside = local[:, 3] > 0.5
            col = np.where(
                inside[:, None], food * scene.noise.grime(p[:, 0] * 7, p[:, 1] * 7, 0.3)[:, None], 40.0
            )
            return col, None

        scene.add(
            Ellipsoid(wok_paint, centre=c, axes=np.diag([rad, rad, rad * 0.6]), clip_n=UP, clip_d=float(c[2]))
        )
        handle = _dir(float(rng.uniform(-np.pi, np.pi)))
        scene.add(
            Capsule((35.0, 30.0, 28.0), a=c + handle * rad, b=c + handle * (rad + 0.25) + UP * 0.05, r=0.015)
        )
        if lit:
            scene.steam.append((bx, by, c[2] + 0.05, float(rng.uniform(0.3, 1.0))))
    elif ware == "pot":
        rad, tall = float(rng.uniform(0.14, 0.24)), float(rng.uniform(0.18, 0.4))
        scene.add(
            Cylinder(
                (175.0, 178.0, 182.0), "steel", a=centre + UP * 0.07, b=centre + UP * (0.07 + tall), r=rad
            )
        )
        if lit:
            scene.steam.append((bx, by, bz + 0.1 + tall, float(rng.uniform(0.3, 1.0))))


def add_clutter(scene: Scene, x: float, y: float, z: float) -> None:
    """One unlabelled thing on a surface at (x, y, z)."""
    rng = scene.rng
    kind = int(rng.integers(11))
    a = float(rng.uniform(-np.pi, np.pi))
    u, v = _dir(a), _dir(a + np.pi / 2)
    axes = np.stack([u, v, UP])
    c = np.array([x, y, z])
    if kind == 0:  # gastronorm pan with food
        hz = float(rng.uniform(0.03, 0.05))
        food = _jitter(rng, FOOD[int(rng.integers(len(FOOD)))])
        scene.add(obox(c + UP * hz, axes, (0.16, 0.13, hz), {"*": (170.0, 174.0, 178.0), "Z": food}, "steel"))
    elif kind == 1:  # cutting board
        col = _jitter(
            rng,
            ((235, 235, 230), (60, 140, 70), (190, 50, 50), (60, 90, 180), (200, 160, 110))[
                int(rng.integers(5))
            ],
            8,
        )
        scene.add(obox(c + UP * 0.01, axes, (0.22, 0.15, 0.01), {"*": col}))
    elif kind == 2:  # steel bowl
        rad = float(rng.uniform(0.1, 0.2))
        ce = c + UP * rad * 0.55
        scene.add(
            Ellipsoid(
                (170.0, 172.0, 176.0),
                "steel",
                centre=ce,
                axes=np.diag([rad, rad, rad * 0.55]),
                clip_n=UP,
                clip_d=float(ce[2]),
            )
        )
    elif kind == 3:  # bottles
        col = _jitter(
            rng, ((70, 40, 20), (200, 170, 60), (40, 110, 50), (230, 230, 230))[int(rng.integers(4))], 10
        )
        h = float(rng.uniform(0.18, 0.3))
        scene.add(Cylinder(col, a=c, b=c + UP * h, r=0.035))
        scene.add(Capsule(col, a=c + UP * h, b=c + UP * (h + 0.06), r=0.013))
    elif kind == 4:  # plastic container
        col = _jitter(
            rng, ((230, 230, 225), (200, 60, 50), (60, 100, 190), (240, 200, 60))[int(rng.integers(4))], 10
        )
        rad, h = float(rng.uniform(0.08, 0.15)), float(rng.uniform(0.08, 0.25))
        scene.add(Cylinder(col, a=c, b=c + UP * h, r=rad))
    elif kind == 5:  # cardboard box
        half = (float(rng.uniform(0.15, 0.25)), float(rng.uniform(0.12, 0.2)), float(rng.uniform(0.08, 0.18)))
        scene.add(obox(c + UP * half[2], axes, half, {"*": _jitter(rng, (165, 125, 85), 15)}))
    elif kind == 6:  # stack of plates
        scene.add(
            Cylinder((240.0, 240.0, 236.0), "gloss", a=c, b=c + UP * float(rng.uniform(0.04, 0.15)), r=0.12)
        )
    elif kind == 7:  # a towel: white, folded, about the size of a chef's hat from above
        col = _jitter(
            rng, ((246, 246, 244), (246, 246, 244), (90, 120, 180), (200, 60, 60))[int(rng.integers(4))], 6
        )
        scene.add(
            obox(
                c + UP * 0.012,
                axes,
                (float(rng.uniform(0.1, 0.2)), float(rng.uniform(0.08, 0.15)), 0.012),
                {"*": col},
            )
        )
    elif kind == 8:  # carrots, oranges, peppers: orange but not flames
        for _ in range(int(rng.integers(3, 7))):
            off = rng.uniform(-0.12, 0.12, 2)
            col = _jitter(
                rng, ((240, 130, 30), (235, 90, 30), (220, 40, 30), (90, 160, 60))[int(rng.integers(4))], 12
            )
            r0 = float(rng.uniform(0.025, 0.045))
            scene.add(Ellipsoid(col, centre=c + np.array([off[0], off[1], r0]), axes=np.eye(3) * r0))
    elif kind == 9:  # a black remote / scale display: phone-sized, not a phone
        scene.add(obox(c + UP * 0.01, axes, (0.04, 0.08, 0.01), {"*": (28.0, 28.0, 32.0)}))
    else:  # a sack of rice or flour
        col = (
            _jitter(rng, ((225, 220, 205), (200, 185, 150)), 8)
            if False
            else _jitter(rng, (222, 216, 200), 10)
        )
        scene.add(Ellipsoid(col, centre=c + UP * 0.1, axes=np.column_stack([u * 0.3, v * 0.2, UP * 0.1])))


def add_floor_clutter(scene: Scene, x: float, y: float) -> None:
    rng = scene.rng
    kind = int(rng.integers(4))
    c = np.array([x, y, 0.0])
    if kind == 0:  # bucket: a bin look-alike with a handle
        col = _jitter(rng, BIN_COLOURS[int(rng.integers(len(BIN_COLOURS)))])
        h = float(rng.uniform(0.25, 0.4))
        scene.add(Cylinder(col, a=c, b=c + UP * h, r=0.15, caps=(True, False)))
        scene.add(Disc(tuple(v * 0.5 for v in col), centre=c + UP * (h - 0.05), r=0.14))
    elif kind == 1:  # stacked crates
        a = float(rng.uniform(-np.pi, np.pi))
        axes = np.stack([_dir(a), _dir(a + np.pi / 2), UP])
        col = _jitter(rng, ((40, 90, 160), (200, 60, 50), (60, 60, 64), (40, 130, 70))[int(rng.integers(4))])
        n = int(rng.integers(1, 4))
        scene.add(obox(c + UP * 0.15 * n, axes, (0.3, 0.2, 0.15 * n), {"*": col}))
    elif kind == 2:  # mop head: grey-brown lump on the floor, not a rat
        col = _jitter(rng, (110, 100, 90), 20)
        scene.add(Ellipsoid(col, centre=c + UP * 0.03, axes=np.diag([0.12, 0.08, 0.035])))
        scene.add(Capsule((150.0, 150.0, 155.0), a=c + UP * 0.05, b=c + np.array([0.3, 0.2, 1.2]), r=0.012))
    else:  # yellow wet-floor sign
        a = float(rng.uniform(-np.pi, np.pi))
        u = _dir(a)
        for side in (-1, 1):
            n = _dir(a + np.pi / 2) * side * 0.12 + UP * 0.6
            scene.add(
                obox(
                    c + n * 0.5,
                    np.stack([u, _unit(n), np.cross(u, _unit(n))]),
                    (0.15, 0.32, 0.01),
                    {"*": (235.0, 200.0, 40.0)},
                )
            )
    scene.block(x - 0.3, y - 0.3, x + 0.3, y + 0.3)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def place_things(scene: Scene, room: Room) -> None:
    """Bins, rats, flames on burners, and clutter on every surface, at random."""
    rng = scene.rng
    for c in room.counters:
        for bx, by, bz in c.burners:
            add_burner(scene, bx, by, bz, bool(rng.random() < 0.6))
    for _ in range(int(rng.choice([0, 1, 1, 2, 2, 3]))):
        spot = scene.free_spot(0.32, view_margin=0.02)
        if spot is not None:
            add_bin(scene, *spot, is_open=bool(rng.random() < 0.5))
    for _ in range(int(rng.choice([0, 0, 0, 1, 1, 2]))):
        _place_rodent(scene, room)
    for x0, y0, x1, y1, z in room.surfaces:
        for _ in range(int(rng.poisson(max(0.5, (x1 - x0) * (y1 - y0) * 4)))):
            add_clutter(scene, float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1)), z)
    for _ in range(int(rng.integers(0, 4))):
        spot = scene.free_spot(0.35)
        if spot is not None:
            add_floor_clutter(scene, *spot)


def _place_rodent(scene: Scene, room: Room) -> None:
    rng = scene.rng
    where = rng.random()
    heading = float(rng.uniform(-np.pi, np.pi))
    if where < 0.3 and room.surfaces:  # on a counter top or shelf
        x0, y0, x1, y1, z = room.surfaces[int(rng.integers(len(room.surfaces)))]
        x, y = float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))
    elif where < 0.65 and room.counters:  # running along the foot of a counter
        c = room.counters[int(rng.integers(len(room.counters)))]
        fx, fy = c.facing
        t = float(rng.uniform(0, 1))
        if fy != 0:
            x, y = c.x0 + t * (c.x1 - c.x0), (c.y0 - 0.08 if fy > 0 else c.y1 + 0.08)
            heading = float(rng.choice([np.pi / 2, -np.pi / 2]))
        else:
            x, y = (c.x1 + 0.08 if fx < 0 else c.x0 - 0.08), c.y0 + t * (c.y1 - c.y0)
            heading = float(rng.choice([0.0, np.pi]))
        z = 0.0
    else:
        spot = scene.free_spot(0.15, view_margin=0.0)
        if spot is None:
            return
        (x, y), z = spot, 0.0
    if not scene.in_view((x, y, z), 0.0):
        return
    add_rodent(scene, x, y, z, heading, running=bool(rng.random() < 0.5))
