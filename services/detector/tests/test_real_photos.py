"""The two-stage detector on real photographs (tests/data/real): the issue's targets.

Person recall >= 0.9 and precision >= 0.8 at IoU 0.5; no rodent box on any photo; no person box
on a photo without people. The photos come from packages (scikit-image, matplotlib, Debian's
opencv-doc, incl. the CCTV clip vtest.avi) and are checked against their recorded checksums.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bk_detector.model.runtime import ModelRuntime
from bk_detector.training.realset import (
    RealImage,
    Tally,
    default_root,
    load_images,
    read_labels,
    score_image,
    tally_model,
)


@pytest.fixture(scope="module")
def photos() -> list[tuple[RealImage, np.ndarray]]:
    return load_images()  # a missing package or a changed file fails here, by name


@pytest.fixture(scope="module")
def found(photos: list[tuple[RealImage, np.ndarray]]) -> list[list]:
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    model = ModelRuntime.load(None, device="cpu", kind="two_stage")
    return [model.predict([arr])[0] for _, arr in photos]


def test_people_are_found_on_real_photos(photos, found) -> None:  # type: ignore[no-untyped-def]
    tallies = tally_model(found, [it for it, _ in photos], ["person"])
    person = tallies["person"]
    print(f"person: {person}, recall {person.recall:.3f}, precision {person.precision:.3f}")
    assert person.hits + person.misses == 27
    assert person.recall is not None and person.recall >= 0.9, person
    assert person.precision is not None and person.precision >= 0.8, person


def test_no_rodent_box_on_any_photo(photos, found) -> None:  # type: ignore[no-untyped-def]
    rodents = {
        it.name: [d for d in dets if d.label == "rodent"] for (it, _), dets in zip(photos, found, strict=True)
    }
    assert not {k: v for k, v in rodents.items() if v}
    assert any(it.name == "chelsea.png" for it, _ in photos) and any(
        it.name == "squirrel_cls.jpg" for it, _ in photos
    )


def test_no_person_box_on_photos_without_people(photos, found) -> None:  # type: ignore[no-untyped-def]
    empty = [(it.name, dets) for (it, _), dets in zip(photos, found, strict=True) if not it.has("person")]
    assert len(empty) >= 10  # food, animals, objects, buildings
    wrong = {name: [d for d in dets if d.label == "person"] for name, dets in empty}
    assert not {k: v for k, v in wrong.items() if v}


def test_people_carry_attributes(photos, found) -> None:  # type: ignore[no-untyped-def]
    people = [d for dets in found for d in dets if d.label == "person"]
    assert people and all(set(d.attributes) == {"chef_hat", "mask", "uniform", "gloves"} for d in people)
    assert all(0.0 <= v <= 1.0 for d in people for v in d.attributes.values())


def test_labels_and_manifest_agree() -> None:
    root = default_root()
    manifest = json.loads((root / "manifest.json").read_text())
    files = {f["name"] for f in manifest["files"]}
    for f in manifest["files"]:
        assert f["licence"] and len(f["sha256"]) == 64 and f["source"] in manifest["sources"]
    for it in read_labels():
        assert it.name.split("#")[0] in files, it.name
        for label in ("person", "phone", "face"):
            assert label in it.boxes
            for x, y, w, h in it.boxes[label]:
                assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= it.width and y + h <= it.height, (
                    it.name
                )


def test_scoring_counts_hits_misses_false_alarms_and_ignores_crowds() -> None:
    labels = [(10, 10, 50, 100), (200, 10, 50, 100)]
    dets = [
        (0.9, (12, 12, 50, 98)),
        (0.8, (11, 10, 50, 100)),
        (0.7, (400, 400, 20, 20)),
        (0.6, (500, 0, 40, 40)),
    ]
    t = score_image(dets, labels, ignore=[(480, 0, 100, 100)])
    # first hits the first label, the second is a duplicate (false alarm), the far one a false
    # alarm, the one in the crowd is ignored; the second label is missed
    assert t == Tally(hits=1, misses=1, false_alarms=2)
    assert t.recall == 0.5 and t.precision == pytest.approx(1 / 3)
