"""Kitchen staff as solid bodies: legs, trunk, arms, head, hat; standing, walking, working at a counter,
bent over it, crouching, reaching, on the phone, smoking. Seen from a ceiling camera they show the
tops of their heads and hats, their backs and shoulders, hands on the counter.

A person's parts carry ids (see PART_*) so the truth can say which attributes the camera can see: a
mask only when the face shows, gloves only when a hand does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from bksynth.cctv.room import Counter, Room
from bksynth.cctv.scene import Labelled, Scene, obox
from bksynth.cctv.shapes import Capsule, Cylinder, Disc, Ellipsoid, Shape
from bksynth.people import PersonLook, random_look

PART_LIMB, PART_HAND, PART_FACE, PART_HEAD, PART_TORSO = 0, 1, 2, 3, 4
HELD_POSES = ("phone", "call", "smoke", "smoke_hand")  # v1's poses that put a labelled object in hand


@dataclass
class Pose:
    name: str
    bend: float = 0.0  # trunk pitch forward, radians
    head_down: float = 0.0  # extra head pitch
    head_turn: float = 0.0  # head yaw relative to the body
    squat: float = 0.0  # 0 standing .. 1 crouched
    stride: float = 0.0  # walking phase amplitude (m)
    phase: float = 0.0


@dataclass
class Body:
    """The world-frame joints a pose resolves to (used to hang phones and cigarettes on)."""

    right: np.ndarray
    forward: np.ndarray
    head: np.ndarray
    head_axes: np.ndarray  # rows: right, forward, up of the head
    hands: tuple[np.ndarray, np.ndarray]  # left, right
    scale: float


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _ik(
    joint: np.ndarray, target: np.ndarray, l1: float, l2: float, pole: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two-bone reach: the middle joint (elbow/knee) bends towards `pole`; returns (middle, end)."""
    d = target - joint
    dist = float(np.clip(np.linalg.norm(d), 1e-3, l1 + l2 - 1e-3))
    axis = _unit(d)
    end = joint + axis * dist
    a = (l1 * l1 - l2 * l2 + dist * dist) / (2 * dist)
    h = np.sqrt(max(l1 * l1 - a * a, 0.0))
    side = pole - (pole @ axis) * axis
    side = _unit(side) if np.linalg.norm(side) > 1e-6 else np.array([0.0, 0.0, 1.0])
    return joint + axis * a + side * h, end


def _head_paint(look: PersonLook):
    skin, hair, mask = (np.asarray(c, float) for c in (look.skin, look.hair, look.mask_color))

    def paint(p: np.ndarray, n: np.ndarray, local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y, z = local[:, 0], local[:, 1], local[:, 2]
        face = (y > 0.25) & (z < 0.55) & (z > -0.9)
        col = np.where(face[:, None], skin, hair)
        col = np.where(((z < -0.45) & ~face)[:, None], skin * 0.9, col)  # nape and jaw
        eyes = face & (y > 0.55) & (z > 0.08) & (z < 0.26) & (np.abs(x) > 0.2) & (np.abs(x) < 0.5)
        col[eyes] = [30, 26, 24]
        if look.mask:
            col[face & (z < 0.04) & (np.abs(x) < 0.92)] = mask
        else:
            col[face & (np.abs(z + 0.42) < 0.07) & (np.abs(x) < 0.3)] = skin * 0.7  # lips
        return col, np.where(face, PART_FACE, PART_HEAD)

    return paint


def _trunk_paint(look: PersonLook, shirt: np.ndarray):
    apron = None if look.apron is None else np.asarray(look.apron, float)

    def paint(p: np.ndarray, n: np.ndarray, local: np.ndarray) -> tuple[np.ndarray, None]:
        x, y, z = local[:, 0], local[:, 1], local[:, 2]
        col = np.broadcast_to(shirt, (len(p), 3)).copy()
        if look.uniform:  # double-breasted jacket: two columns of buttons down the front
            buttons = (y > 0.7) & (np.abs(np.abs(x) - 0.3) < 0.07) & (np.mod(z + 1, 0.28) < 0.09) & (z < 0.75)
            col[buttons] = [120, 120, 118]
        if apron is not None:
            col[(y > 0.2) & (z < 0.35)] = apron
        return col, None

    return paint


def build_person(
    scene: Scene,
    obj: Labelled,
    look: PersonLook,
    pose: Pose,
    x: float,
    y: float,
    heading: float,
    work_height: float = 0.9,
    extras: dict | None = None,
) -> Body:
    """Add a person standing at (x, y) facing `heading` (0 = +y) to the scene."""
    extras = extras or {}
    oid, s = obj.oid, look.height_m / 1.75
    base = np.array([x, y, 0.0])
    f = np.array([np.sin(heading), np.cos(heading), 0.0])
    r = np.array([np.cos(heading), -np.sin(heading), 0.0])
    up = np.array([0.0, 0.0, 1.0])
    skin = np.asarray(look.skin, float)
    shirt = np.asarray(
        (244, 244, 240) if look.uniform else (look.skin if look.bare_chest else look.clothes), float
    )
    sleeve = skin if (look.short_sleeves or look.bare_chest) else shirt
    hand_col = np.asarray(look.glove if look.gloves else look.skin, float)
    trousers = np.asarray(look.trousers, float)
    shapes: list[Shape] = []

    def add(shape: Shape, part: int) -> None:
        shape.oid, shape.part = oid, part
        shapes.append(shape)

    # legs and feet
    hip_z = (0.93 - 0.42 * pose.squat) * s
    b, cb, sb = pose.bend, np.cos(pose.bend), np.sin(pose.bend)
    pelvis = base + up * hip_z - f * (0.12 * s * sb + 0.1 * s * pose.squat)
    for side in (-1, 1):
        stride = pose.stride * np.sin(pose.phase) * side
        foot = base + r * side * 0.1 * s + f * stride + up * 0.05
        hip = pelvis + r * side * 0.09 * s
        knee, ankle = _ik(hip, foot, 0.46 * s, 0.44 * s, f + up * 0.1)
        add(Capsule(tuple(trousers), a=hip, b=knee, r=0.075 * s), PART_LIMB)
        add(Capsule(tuple(trousers * 0.95), a=knee, b=ankle, r=0.055 * s), PART_LIMB)
        shoe = np.column_stack([r * 0.05 * s, f * 0.13 * s, up * 0.045])
        add(Ellipsoid((32, 30, 30), centre=ankle + f * 0.05 * s - up * 0.01, axes=shoe), PART_LIMB)
    # trunk
    spine = up * cb + f * sb
    chest_fwd = f * cb - up * sb
    axes = np.column_stack([r * 0.175 * s, chest_fwd * 0.115 * s, spine * 0.3 * s])
    trunk = _trunk_paint(look, shirt)
    add(Ellipsoid(trunk, centre=pelvis + spine * 0.27 * s, axes=axes), PART_TORSO)
    hips = np.column_stack([r * 0.165 * s, chest_fwd * 0.11 * s, spine * 0.13 * s])
    add(Ellipsoid(tuple(trousers), centre=pelvis + spine * 0.02 * s, axes=hips), PART_LIMB)
    neck = pelvis + spine * 0.53 * s
    shoulder_c = neck - spine * 0.05 * s
    shoulders = (shoulder_c - r * 0.19 * s, shoulder_c + r * 0.19 * s)
    add(Capsule(tuple(shirt), a=shoulders[0], b=shoulders[1], r=0.062 * s), PART_TORSO)
    add(Capsule(tuple(skin * 0.92), a=neck - spine * 0.02, b=neck + spine * 0.07 * s, r=0.045 * s), PART_LIMB)
    # head: pitch and yaw on top of the trunk's
    turn, pitch = pose.head_turn, b + pose.head_down
    hr = r * np.cos(turn) - f * np.sin(turn)
    hf0 = f * np.cos(turn) + r * np.sin(turn)
    hu = up * np.cos(pitch) + hf0 * np.sin(pitch)
    hf = hf0 * np.cos(pitch) - up * np.sin(pitch)
    head = neck + spine * 0.07 * s + hu * 0.115 * s
    head_axes = np.column_stack([hr * 0.08 * s, hf * 0.097 * s, hu * 0.118 * s])
    add(Ellipsoid(_head_paint(look), centre=head, axes=head_axes), PART_HEAD)
    _headwear(look, extras, head, hr, hf, hu, s, add)
    # arms
    targets = _hand_targets(pose, extras, base, f, r, up, s, shoulders, head, hr, hf, hu, work_height)
    hands = []
    for i, side in enumerate((-1, 1)):
        pole = r * side * 0.5 - f * 0.6 - up * 0.5
        elbow, wrist = _ik(shoulders[i], targets[i], 0.3 * s, 0.27 * s, pole)
        add(Capsule(tuple(shirt), a=shoulders[i], b=elbow, r=0.05 * s), PART_LIMB)
        add(Capsule(tuple(sleeve), a=elbow, b=wrist, r=0.041 * s), PART_LIMB)
        hand = wrist + _unit(wrist - elbow) * 0.05 * s
        add(Ellipsoid(tuple(hand_col), centre=hand, axes=np.eye(3) * 0.046 * s), PART_HAND)
        hands.append(hand)
    scene.add(shapes)
    scene.shadows.append((x, y, 0.38 * s, 0.32))
    return Body(r, f, head, np.stack([hr, hf, hu]), (hands[0], hands[1]), s)


def _headwear(look: PersonLook, extras: dict, head, hr, hf, hu, s, add) -> None:
    white = (250.0, 250.0, 248.0)
    if look.chef_hat:
        kind = extras.get("hat", "toque")
        if kind == "toque":  # tall pleated hat: a band and a puffed top
            tall = extras.get("hat_height", 0.2)
            a, b = head + hu * 0.07 * s, head + hu * (0.07 + tall) * s
            add(Cylinder(white, a=a, b=b, r=0.1 * s), PART_HEAD)
            puff = np.column_stack([hr * 0.125 * s, hf * 0.125 * s, hu * 0.06 * s])
            add(Ellipsoid(white, centre=b, axes=puff), PART_HEAD)
        else:  # skull cap / paper cap: a white dome over the hair
            centre = head + hu * 0.035 * s
            dome = np.column_stack([hr * 0.088 * s, hf * 0.106 * s, hu * 0.105 * s])
            add(
                Ellipsoid(white, centre=centre, axes=dome, clip_n=-hu, clip_d=float(-(hu @ centre))),
                PART_HEAD,
            )
    elif extras.get("cap") is not None:  # a baseball cap: not a chef hat
        centre = head + hu * 0.04 * s
        dome = np.column_stack([hr * 0.087 * s, hf * 0.104 * s, hu * 0.1 * s])
        col = extras["cap"]
        add(Ellipsoid(col, centre=centre, axes=dome, clip_n=-hu, clip_d=float(-(hu @ centre))), PART_HEAD)
        add(Disc(col, centre=centre + hf * 0.12 * s, u=hr, v=hf, r=0.07 * s), PART_HEAD)


def _hand_targets(pose: Pose, extras: dict, base, f, r, up, s, shoulders, head, hr, hf, hu, work_h):
    def hang(i: int, swing: float = 0.0) -> np.ndarray:
        side = (-1, 1)[i]
        return shoulders[i] + r * side * 0.05 * s + f * (0.06 * s + swing) - up * 0.55 * s

    name = pose.name
    if name == "walk":
        sw = 0.16 * s * np.sin(pose.phase)
        return [hang(0, sw), hang(1, -sw)]
    if name in ("work", "bend"):
        reach = 0.45 * s + (0.15 * s if name == "bend" else 0.0)
        z = work_h + 0.06
        return [base + f * reach + r * side * 0.18 * s + up * z for side in (-1, 1)]
    if name == "floor":  # picking something up from the floor or a low shelf
        return [base + f * 0.45 * s + r * side * 0.15 * s + up * 0.3 for side in (-1, 1)]
    if name == "carry":
        return [base + f * 0.38 * s + r * side * 0.2 * s + up * 1.0 * s for side in (-1, 1)]
    if name == "reach":
        return [hang(0), base + f * 0.35 * s + r * 0.15 * s + up * extras.get("reach_z", 1.9)]
    if name == "phone":
        return [base + f * 0.3 * s + r * side * 0.05 * s + up * 1.12 * s for side in (-1, 1)]
    if name == "call":
        return [hang(0), head + hr * 0.13 * s - hu * 0.03 * s]
    if name == "smoke":  # hand to the mouth
        return [hang(0), head + hf * 0.16 * s - hu * 0.07 * s + hr * 0.03 * s]
    if name == "smoke_hand":
        return [hang(0), base + f * 0.28 * s + r * 0.18 * s + up * 0.98 * s]
    return [hang(0), hang(1)]


def add_phone(scene: Scene, body: Body, pose: Pose) -> Labelled:
    """A phone in the right hand: held in front of the chest, screen lit, or against the ear."""
    obj = scene.new_object("phone", min_box_px=3.0)
    hand, s = body.hands[1], body.scale
    hr, hf, hu = body.head_axes
    if pose.name == "call":
        long_ax = _unit(hu * 0.9 + hf * 0.4)
        thin = hr
        centre = body.head + hr * 0.11 * s + hf * 0.02
    else:
        long_ax = _unit(body.forward * 0.75 + np.array([0, 0, 1.0]) * 0.65)
        thin = _unit(np.cross(body.right, long_ax))
        centre = hand + body.forward * 0.04 * s + np.array([0, 0, 0.03])
    wide = _unit(np.cross(long_ax, thin))
    axes = np.stack([wide, long_ax, thin])
    screen = (150.0, 195.0, 235.0) if pose.name != "call" else (30.0, 30.0, 34.0)
    faces = obox(centre, axes, (0.036, 0.074, 0.005), {"*": (28.0, 28.0, 32.0)}, oid=obj.oid)
    top = faces[-1]  # the +z face of the box: the screen
    scene.add(faces[:-1])
    top.paint, top.material = screen, ("glow" if pose.name != "call" else "matte")
    scene.add(top)
    obj.centre = tuple(centre)
    return obj


def add_cigarette(scene: Scene, body: Body, pose: Pose) -> Labelled:
    """A lit cigarette in the mouth or between the fingers; the glowing tip and a thin plume."""
    obj = scene.new_object("cigarette", min_box_px=4.0)
    hr, hf, hu = body.head_axes
    s = body.scale
    if pose.name == "smoke_hand":
        a = body.hands[1] + body.forward * 0.03 * s
        b = a + _unit(body.forward + body.right * 0.5) * 0.09
    else:
        a = body.head + hf * 0.095 * s - hu * 0.065 * s
        b = a + _unit(hf - hu * 0.25 + hr * 0.15) * 0.09
    scene.add(Capsule((240.0, 238.0, 230.0), "glow", oid=obj.oid, a=a, b=b, r=0.0055))
    scene.add(Ellipsoid((255.0, 150.0, 60.0), "glow", obj.oid, 0, centre=b, axes=np.eye(3) * 0.008))
    scene.smoke.append(tuple(b))
    obj.centre = tuple(b)
    return obj


def place_staff(scene: Scene, room: Room, count: int) -> None:
    rng = scene.rng
    workable = [c for c in room.counters if c.kind != "fridge"]
    for _ in range(count):
        look = random_look(rng)
        extras = {
            "hat": str(rng.choice(["toque", "toque", "cap"])),
            "hat_height": float(rng.uniform(0.1, 0.28)),
            "cap": tuple(float(v) for v in rng.integers(20, 230, 3)) if rng.random() < 0.15 else None,
            "reach_z": float(rng.uniform(1.7, 2.0)),
        }
        spot = None
        if workable and rng.random() < 0.6 and look.pose not in ("call", "smoke"):
            spot = _counter_spot(scene, workable[int(rng.integers(len(workable)))])
        if spot is None:
            free = scene.free_spot(0.28, view_margin=0.0)
            if free is None:
                continue
            x, y = free
            heading = float(rng.uniform(-np.pi, np.pi))
            counter = None
        else:
            x, y, heading, counter = spot
        pose = _choose_pose(rng, look, counter)
        scene.block(x - 0.25, y - 0.25, x + 0.25, y + 0.25)
        moving = pose.name == "walk"
        f = (np.sin(heading), np.cos(heading), 0.0)
        obj = scene.new_object(
            "person",
            attributes=look.attributes,
            centre=(x, y, 0.9),
            velocity=tuple(1.3 * v for v in f) if moving else (0.0, 0.0, 0.0),
            min_box_px=6.0,
        )
        if look.pose in ("smoke", "smoke_hand") and pose.name not in HELD_POSES:
            look = dataclasses.replace(look, pose=pose.name)
        body = build_person(scene, obj, look, pose, x, y, heading, counter.height if counter else 0.9, extras)
        if pose.name in ("phone", "call"):
            add_phone(scene, body, pose)
        elif pose.name in ("smoke", "smoke_hand"):
            add_cigarette(scene, body, pose)


def _counter_spot(scene: Scene, c: Counter) -> tuple[float, float, float, Counter] | None:
    rng = scene.rng
    fx, fy = c.facing
    off = float(rng.uniform(0.32, 0.45))
    t = float(rng.uniform(0.15, 0.85))
    if fy > 0:
        x, y = c.x0 + t * (c.x1 - c.x0), c.y0 - off
    elif fy < 0:
        x, y = c.x0 + t * (c.x1 - c.x0), c.y1 + off
    elif fx < 0:
        x, y = c.x1 + off, c.y0 + t * (c.y1 - c.y0)
    else:
        x, y = c.x0 - off, c.y0 + t * (c.y1 - c.y0)
    if not scene.is_free(x, y, 0.2) or not scene.in_view((x, y, 1.0), 0.1):
        return None
    heading = float(np.arctan2(fx, fy) + rng.normal(0, 0.2))
    return x, y, heading, c


def _choose_pose(rng: np.random.Generator, look: PersonLook, counter: Counter | None) -> Pose:
    turn = float(rng.normal(0, 0.35))
    if look.pose in HELD_POSES:
        down = float(rng.uniform(0.3, 0.7)) if look.pose == "phone" else float(rng.uniform(-0.1, 0.2))
        return Pose(look.pose, bend=float(rng.uniform(0, 0.15)), head_down=down, head_turn=turn)
    if counter is not None:
        if rng.random() < 0.35:
            return Pose(
                "bend",
                bend=float(rng.uniform(0.5, 1.15)),
                head_down=float(rng.uniform(0.1, 0.5)),
                head_turn=turn,
            )
        return Pose(
            "work",
            bend=float(rng.uniform(0.05, 0.35)),
            head_down=float(rng.uniform(0.2, 0.6)),
            head_turn=turn,
        )
    name = str(
        rng.choice(["stand", "walk", "walk", "floor", "carry", "reach"], p=[0.3, 0.2, 0.2, 0.12, 0.1, 0.08])
    )
    if name == "floor":
        return Pose(
            name, bend=float(rng.uniform(0.6, 1.2)), head_down=0.3, squat=float(rng.uniform(0.2, 0.7))
        )
    if name == "walk":
        return Pose(name, stride=0.28, phase=float(rng.uniform(0, 2 * np.pi)), head_turn=turn)
    if name == "reach":
        return Pose(name, head_down=-0.4)
    return Pose(
        name, bend=float(rng.uniform(0, 0.1)), head_down=float(rng.uniform(-0.1, 0.4)), head_turn=turn
    )
