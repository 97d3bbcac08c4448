"""Generator v2 (ceiling CCTV): truth that follows the lens and the occluders, determinism, IR, OSD,
the frozen held-out sets; and generator v1 left exactly as it was."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from bksynth import HELDOUT, LABELS, PERSON_ATTRIBUTES, heldout, render_random
from bksynth.cctv import render_cctv_frame
from bksynth.cctv.camera import CeilingCamera
from bksynth.cctv.camera_effects import osd_box
from bksynth.cctv.canvas import PARTS, Canvas, Lighting
from bksynth.cctv.frame import truth
from bksynth.cctv.scene import Scene
from bksynth.cctv.shapes import box
from bksynth.cctv.staff import Pose, build_person
from bksynth.cctv.textures import Noise
from bksynth.coco import write_coco
from bksynth.people import random_look

# sha256 of render_random(seed, 320, 180) before generator v2 existed (image bytes, then the boxes as
# [label, box, attributes, track_id]); a different numpy or Pillow may legitimately change these.
V1_FRAMES = {
    0: ("8854277e3a4875a2", "2ae5119cdfc821d9"),
    7: ("b317ceba0db36697", "1d183a91272aca74"),
    123: ("e94aa8fa38d6f2ef", "9b4372452a6d136a"),
}


def _digest(img: np.ndarray, anns: list) -> tuple[str, str]:
    boxes = json.dumps([[a.label, list(a.box), a.attributes, a.track_id] for a in anns], sort_keys=True)
    return hashlib.sha256(img.tobytes()).hexdigest()[:16], hashlib.sha256(boxes.encode()).hexdigest()[:16]


@pytest.mark.parametrize("seed", sorted(V1_FRAMES))
def test_v1_frames_are_unchanged_byte_for_byte(seed: int) -> None:
    img, anns = render_random(seed, 320, 180)
    assert _digest(img, anns) == V1_FRAMES[seed]
    assert all(a.visibility is None for a in anns)  # v1 does not measure visibility


def test_v2_is_deterministic_per_seed_also_in_a_fresh_process() -> None:
    a = render_cctv_frame(5, 320, 180)
    b = render_cctv_frame(5, 320, 180)
    assert np.array_equal(a.image, b.image) and a.annotations == b.annotations
    assert not np.array_equal(a.image, render_cctv_frame(6, 320, 180).image)
    code = (
        "import hashlib; from bksynth.cctv import render_cctv_frame as r; "
        "print(hashlib.sha256(r(5, 320, 180).image.tobytes()).hexdigest())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == hashlib.sha256(a.image.tobytes()).hexdigest()


def test_style_and_generator_names_are_checked() -> None:
    img, anns = render_random(5, 320, 180, style="cctv")
    frame = render_cctv_frame(5, 320, 180)
    assert np.array_equal(img, frame.image) and anns == frame.annotations
    with pytest.raises(ValueError, match="unknown style 'fisheye'"):
        render_random(5, 320, 180, style="fisheye")
    with pytest.raises(ValueError, match="unknown generator 'v3'"):
        heldout("v3")


def test_boxes_are_the_visible_pixels_inside_the_frame() -> None:
    """Every box is the extent of its object's pixels in the distorted frame (grown to the class's minimum
    size), inside the frame; labels and attributes are the v1 vocabulary."""
    seen: set[str] = set()
    for seed in range(24):
        f = render_cctv_frame(seed, 320, 180, encode=False)
        h, w = f.ids.shape
        for ann, oid in zip(f.annotations, f.object_ids, strict=True):
            x0, y0, x1, y1 = ann.box
            assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
            assert ann.label in LABELS and set(ann.attributes) <= set(PERSON_ATTRIBUTES)
            assert ann.attributes == {} or ann.label == "person"
            assert 0.25 <= ann.visibility <= 1.0
            ys, xs = np.nonzero((f.ids // PARTS) == oid)
            tight = (xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h)
            assert x0 <= tight[0] + 1e-4 and y0 <= tight[1] + 1e-4
            assert x1 >= tight[2] - 1e-4 and y1 >= tight[3] - 1e-4
            assert (x1 - x0) * w <= max(tight[2] - tight[0], 0) * w + 5  # grown by a few pixels at most
            seen.add(ann.label)
    assert {"person", "flame", "trash_bin_open", "trash_bin_closed"} <= seen


def test_the_lens_bends_straight_lines_and_rays_match_projection() -> None:
    cam = CeilingCamera.aimed((3.0, 0.1, 3.2), (3.0, 5.0, 0.0), 0.0, 90.0, 1.4, 320, 180)
    rays, _ = cam.rays
    rng = np.random.default_rng(0)
    pts = np.column_stack([rng.uniform(0.5, 5.5, 50), rng.uniform(2.0, 8.0, 50), rng.uniform(0, 2, 50)])
    px, z = cam.project(pts)
    inside = (z > 0) & (px[:, 0] >= 0) & (px[:, 0] < 319) & (px[:, 1] >= 0) & (px[:, 1] < 179)
    assert inside.sum() > 20
    for p, q in zip(pts[inside], px[inside], strict=True):
        ray = rays[int(q[1]), int(q[0])]
        to_p = (p - cam.origin) / np.linalg.norm(p - cam.origin)
        assert np.degrees(np.arccos(np.clip(ray @ to_p, -1, 1))) < 0.6  # within about a pixel
    # the floor's edge along a wall is a straight line; through a barrel lens its middle bows out
    line = np.column_stack([np.linspace(0.3, 5.7, 3), np.full(3, 2.5), np.zeros(3)])
    (a, mid, b), _ = cam.project(line)
    assert abs(mid[1] - (a[1] + b[1]) / 2) > 3


def _staged(with_counter: bool, heading: float) -> tuple[Canvas, Scene]:
    """A cook at (3, 5) seen by a camera on the front wall, optionally behind a counter."""
    cam = CeilingCamera.aimed((3.0, 0.1, 3.0), (3.0, 5.0, 0.8), 0.0, 75.0, 1.2, 320, 180)
    rng = np.random.default_rng(1)
    scene = Scene(rng, Noise(rng), cam, 6.0, 8.0, 3.2)
    look = random_look(np.random.default_rng(3))
    person = scene.new_object("person", attributes=look.attributes, min_box_px=6.0)
    build_person(scene, person, look, Pose("stand"), 3.0, 5.0, heading)
    if with_counter:
        scene.add(box((2.0, 4.2, 0.0), (4.0, 4.8, 0.9), (170.0, 170.0, 175.0), "steel"))
    canvas = Canvas(cam, Lighting(np.array([[3.0, 4.0, 3.1]])))
    canvas.draw_all(scene.shapes)
    return canvas, scene


def test_a_counter_in_front_hides_the_legs_in_box_and_visibility() -> None:
    ((_, open_ann),) = truth(*_staged(False, np.pi))
    ((_, hidden_ann),) = truth(*_staged(True, np.pi))
    assert open_ann.visibility > 0.95
    assert 0.25 <= hidden_ann.visibility < 0.8  # the counter hides the legs
    assert hidden_ann.box[1] == pytest.approx(open_ann.box[1], abs=0.01)  # same head
    assert hidden_ann.box[3] < open_ann.box[3] - 0.1  # the box stops at the counter top
    assert "gloves" in open_ann.attributes and "gloves" not in hidden_ann.attributes  # hands behind it


def test_attributes_are_reported_only_when_the_camera_sees_the_evidence() -> None:
    ((_, facing),) = truth(*_staged(False, np.pi))  # facing the camera
    ((_, away),) = truth(*_staged(False, 0.0))  # back to the camera
    assert "mask" in facing.attributes and "chef_hat" in facing.attributes
    assert "mask" not in away.attributes  # no face, no verdict on the mask
    assert "chef_hat" in away.attributes and "uniform" in away.attributes


def test_ir_frames_are_grey_and_day_frames_are_not() -> None:
    night = render_cctv_frame(3, 320, 180, night=True)
    day = render_cctv_frame(3, 320, 180, night=False)
    n = night.image.astype(int)
    assert night.recording.night and not day.recording.night
    assert np.abs(n[..., 0] - n[..., 1]).max() <= 4 and np.abs(n[..., 1] - n[..., 2]).max() <= 4
    d = day.image.astype(int)
    assert np.abs(d[..., 0] - d[..., 2]).mean() > 3
    assert night.annotations == render_cctv_frame(3, 320, 180, night=True, encode=False).annotations


def test_the_timestamp_is_burnt_in() -> None:
    with_osd = render_cctv_frame(8, 320, 180, encode=False)
    without = render_cctv_frame(8, 320, 180, encode=False, osd=False)
    x0, y0, x1, y1 = osd_box(320, 180, with_osd.recording)
    changed = np.abs(with_osd.image.astype(int) - without.image.astype(int)).max(-1) > 40
    text = changed[max(0, y0) : y1, max(0, x0) : x1]
    assert text.mean() > 0.1  # strokes of the digits
    assert re.search(r"\d\d:\d\d:\d\d$", with_osd.recording.osd)
    changed[max(0, y0) : y1, max(0, x0) : x1] = False
    changed[int(180 * 0.9) :, int(320 * 0.6) :] = False  # the channel name, bottom right
    assert not changed.any()  # nothing else of the picture is touched


def test_heldout_sets_are_frozen_and_reused(tmp_path) -> None:
    root = heldout("v2", n=3, out_dir=tmp_path / "h")
    doc = json.loads((root / "annotations.json").read_text())
    manifest = json.loads((root / "heldout.json").read_text())
    assert manifest["seed"] == HELDOUT["v2"].seed and manifest["n"] == 3 and doc["info"]["generator"] == "v2"
    first = (root / "annotations.json").stat().st_mtime_ns
    assert heldout("v2", n=3, out_dir=tmp_path / "h") == root
    assert (root / "annotations.json").stat().st_mtime_ns == first  # reused, not rendered again
    _, anns = render_random(HELDOUT["v2"].seed * 1_000_003 + 1, 640, 360, style="cctv")
    boxes = [a["bbox"] for a in doc["annotations"] if a["image_id"] == 2]  # frame 1 of the set
    assert boxes == [
        [
            round(a.box[0] * 640, 2),
            round(a.box[1] * 360, 2),
            round((a.box[2] - a.box[0]) * 640, 2),
            round((a.box[3] - a.box[1]) * 360, 2),
        ]
        for a in anns
    ]
    with pytest.raises(ValueError, match="has 1000 frames"):
        heldout("v2", n=1001, out_dir=tmp_path / "x")


def test_coco_v2_carries_visibility_and_unknown_attributes(tmp_path) -> None:
    path = write_coco(tmp_path, 6, seed=4, width=320, height=180, progress=False, generator="v2")
    doc = json.loads(path.read_text())
    assert doc["info"]["generator"] == "v2" and [c["name"] for c in doc["categories"]] == list(LABELS)
    assert doc["annotations"] and all(0.25 <= a["visibility"] <= 1 for a in doc["annotations"])
    v1 = json.loads(write_coco(tmp_path / "v1", 2, seed=4, width=320, height=180, progress=False).read_text())
    assert all("visibility" not in a for a in v1["annotations"])
