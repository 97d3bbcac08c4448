"""Five demo cameras, one per kitchen zone, each staging violations within the first 20 s of a 60 s loop."""

from __future__ import annotations

import dataclasses

import numpy as np

from bksynth.effects import Camera
from bksynth.people import PersonLook, random_look
from bksynth.room import Room, Segment, random_room
from bksynth.timeline import Actor, Change, Scenario, Violation

ZONES: tuple[str, ...] = ("prep", "washing", "cooking", "storage", "serving")


def _room(rng: np.random.Generator, kinds: list[str], island: bool) -> Room:
    room = random_room(rng)
    room.wall_y, room.horizon_y, room.ppm_wall = 0.5, 0.05, 0.2  # a typical ceiling camera, same per zone
    room.night = False
    edges = np.linspace(0.0, 1.0, len(kinds) + 1)
    room.segments = [
        Segment(k, float(a), float(b), [float(a + (b - a) * f) for f in (0.3, 0.7)] if k == "stove" else [])
        for k, a, b in zip(kinds, edges[:-1], edges[1:], strict=True)
    ]
    room.island = (0.55, 1.05, 0.82) if island else None
    return room


def _cook(rng: np.random.Generator, **kw: object) -> PersonLook:
    """A compliant cook: hat, mask, white uniform, gloves; kw overrides (pose, ...)."""
    look = random_look(rng)
    return dataclasses.replace(
        look, chef_hat=True, mask=True, uniform=True, gloves=True, bare_chest=False, pose="work", **kw
    )


def demo_scenarios(seed: int = 0) -> list[Scenario]:
    """Deterministic per seed; violations start 5..15 s into each 60 s loop."""
    rng = np.random.default_rng(seed)
    cam = Camera(gain=1.0, noise=2.5, jpeg=85)
    out: list[Scenario] = []

    room = _room(rng, ["plain", "plain", "sink"], island=False)
    a = Actor("person", 1, [(0, 0.3, 0.78)], _cook(rng), changes=[Change(8, 28, {"chef_hat": False})])
    b = Actor(
        "person",
        2,
        [(0, 0.62, 0.7), (30, 0.7, 0.72), (60, 0.62, 0.7)],
        _cook(rng),
        changes=[Change(12, 40, {"gloves": False}), Change(30, 45, {"pose": "phone"})],
    )
    out.append(
        Scenario(
            "prep-1",
            "prep",
            room,
            cam,
            [a, b],
            [
                Violation("no_chef_hat", 8, 28, 1),
                Violation("no_gloves", 12, 40, 2),
                Violation("phone_use", 30, 45, 2),
            ],
            seed=seed * 10 + 1,
        )
    )

    room = _room(rng, ["sink", "sink", "plain"], island=False)
    c = Actor("person", 1, [(0, 0.35, 0.75)], _cook(rng), changes=[Change(10, 30, {"mask": False})])
    bin_ = Actor(
        "bin", 2, [(0, 0.8, 0.86)], params={"color": (40, 80, 160)}, changes=[Change(5, 35, {"open": True})]
    )
    out.append(
        Scenario(
            "washing-1",
            "washing",
            room,
            cam,
            [c, bin_],
            [Violation("no_mask", 10, 30, 1), Violation("trash_bin_open", 5, 35, 2)],
            seed=seed * 10 + 2,
        )
    )

    room = _room(rng, ["stove", "stove", "plain"], island=False)
    flames = [
        Actor("flame", 10 + i, [(0, bx, by)], params={"pot": i % 2 == 0})
        for i, (bx, by) in enumerate(room.burner_points())
    ]
    d = Actor(
        "person",
        1,
        [(0, 0.3, 0.72), (12, 0.3, 0.72), (15, 1.3, 0.8), (40, 1.3, 0.8), (43, 0.3, 0.72), (60, 0.3, 0.72)],
        _cook(rng),
        changes=[Change(44, 56, {"pose": "smoke", "mask": False})],
    )
    out.append(
        Scenario(
            "cooking-1",
            "cooking",
            room,
            cam,
            [*flames, d],
            [
                Violation("fire_unattended", 15, 40, flames[0].track_id),
                Violation("smoking", 44, 56, 1),
                Violation("no_mask", 44, 56, 1),
            ],
            seed=seed * 10 + 3,
        )
    )

    room = _room(rng, ["plain", "gap", "plain"], island=False)
    room.shelves = [(0.05, 0.45, 1.6), (0.55, 0.95, 1.5)]
    rat = Actor(
        "rodent",
        1,
        [(10, 0.05, 0.9), (17, 0.95, 0.85), (40, 0.9, 0.44), (46, 0.1, 0.44)],
        params={"visible": False},
        changes=[Change(10, 17, {"visible": True}), Change(40, 46, {"visible": True, "on_counter": True})],
    )
    bin2 = Actor("bin", 2, [(0, 0.5, 0.7)], params={"color": (90, 90, 95)})
    out.append(
        Scenario(
            "storage-1",
            "storage",
            room,
            cam,
            [rat, bin2],
            [Violation("rodent", 10, 17, 1), Violation("rodent", 40, 46, 1)],
            seed=seed * 10 + 4,
        )
    )

    room = _room(rng, ["plain", "plain", "plain"], island=True)
    e = Actor("person", 1, [(0, 0.7, 0.7)], _cook(rng), changes=[Change(40, 50, {"pose": "call"})])
    street = dataclasses.replace(
        random_look(rng),
        chef_hat=False,
        mask=False,
        uniform=False,
        gloves=False,
        pose="down",
        bare_chest=False,
        apron=None,
    )
    f = Actor(
        "person",
        2,
        [(10, -0.1, 0.8), (16, 0.3, 0.8), (29, 0.3, 0.8), (35, -0.1, 0.8)],
        street,
        params={"visible": False},
        changes=[Change(10, 35, {"visible": True})],
    )
    out.append(
        Scenario(
            "serving-1",
            "serving",
            room,
            cam,
            [e, f],
            [Violation("no_uniform", 10, 35, 2), Violation("phone_use", 40, 50, 1)],
            seed=seed * 10 + 5,
        )
    )
    return out
