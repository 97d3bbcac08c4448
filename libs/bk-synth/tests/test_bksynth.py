"""bk-synth: determinism, sane ground truth, valid COCO, and a speed print."""

from __future__ import annotations

import json
import time

import numpy as np

from bksynth import LABELS, PERSON_ATTRIBUTES, demo_scenarios, render_random
from bksynth.coco import write_coco


def test_random_frames_are_deterministic() -> None:
    a, anns_a = render_random(7, 320, 180)
    b, anns_b = render_random(7, 320, 180)
    assert a.shape == (180, 320, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and anns_a == anns_b
    assert not np.array_equal(a, render_random(8, 320, 180)[0])


def test_annotations_are_sane() -> None:
    seen: set[str] = set()
    for seed in range(60):
        _, anns = render_random(seed, 320, 180)
        for ann in anns:
            x0, y0, x1, y1 = ann.box
            assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
            assert ann.label in LABELS
            if ann.label == "person":
                assert set(ann.attributes) == set(PERSON_ATTRIBUTES)
            seen.add(ann.label)
    assert seen == set(LABELS)  # every class shows up in a modest sample


def test_scenarios_stage_their_violations() -> None:
    scenarios = demo_scenarios(3)
    assert {s.zone for s in scenarios} == {"prep", "washing", "cooking", "storage", "serving"}
    for s in scenarios:
        assert min(v.start for v in s.violations) <= 20
        f1, a1 = s.render(12.5, 320, 180)
        f2, a2 = s.render(12.5 + s.period, 320, 180)  # loops
        assert np.array_equal(f1, f2) and a1 == a2
    prep = next(s for s in scenarios if s.zone == "prep")
    hat = {a.track_id: a.attributes["chef_hat"] for a in prep.render(15, 640, 360)[1] if a.label == "person"}
    assert hat[1] == 0 and hat[2] == 1  # cook 1 took the hat off at 8 s
    storage = next(s for s in scenarios if s.zone == "storage")
    assert any(a.label == "rodent" for a in storage.render(12, 640, 360)[1])
    assert not any(a.label == "rodent" for a in storage.render(25, 640, 360)[1])


def test_coco_writer(tmp_path) -> None:
    path = write_coco(tmp_path, 12, seed=1, width=320, height=180, progress=False)
    doc = json.loads(path.read_text())
    assert len(doc["images"]) == 12 and [c["name"] for c in doc["categories"]] == list(LABELS)
    ids = {im["id"] for im in doc["images"]}
    for a in doc["annotations"]:
        assert a["image_id"] in ids and a["bbox"][2] > 0 and a["bbox"][3] > 0
        assert isinstance(a["attributes"], dict)
    assert all((tmp_path / "images" / im["file_name"]).exists() for im in doc["images"])


def test_speed_print() -> None:
    render_random(0)
    t = time.perf_counter()
    for i in range(40):
        render_random(i)
    fps = 40 / (time.perf_counter() - t)
    scen = demo_scenarios(0)[0]
    t = time.perf_counter()
    for i in range(40):
        scen.render(i * 0.5, 640, 360)
    print(f"random frames {fps:.0f}/s, scenario frames {40 / (time.perf_counter() - t):.0f}/s at 640x360")
    assert fps > 5
