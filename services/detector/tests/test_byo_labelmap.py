"""Bring-your-own models, the pure half: label maps (parsing, refusals by name, rule coverage read
from the rule tables) and decoding raw YOLO output into the platform's detections. No I/O, no ONNX."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bk_detector.model import yolo
from bk_detector.model.labelmap import CONCEPTS, LabelMapError, parse
from bk_detector.rules import ATTRIBUTE_RULES, HELD_RULES, OBJECT_RULES, needs
from bkcore.profiles import VIOLATION_TYPES

EVERYTHING = [
    "person",
    "phone",
    "cigarette",
    "rodent",
    "trash_bin_open",
    "trash_bin_closed",
    "flame",
    "chef_hat",
    "no_mask",
    "uniform",
    "no_gloves",
]


def lm_data(classes: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "layout": "yolov8",
        "input_width": 320,
        "input_height": 320,
        "classes": EVERYTHING if classes is None else classes,
        **extra,
    }


def problems_of(data: Any) -> list[str]:
    with pytest.raises(LabelMapError) as err:
        parse(data)
    return err.value.problems


def test_a_full_map_parses_with_defaults_and_overrides() -> None:
    lm = parse(
        lm_data(
            [
                *EVERYTHING[:7],
                {"name": "hat", "concept": "chef_hat", "threshold": 0.6},
                *EVERYTHING[8:],
                {"name": "knife", "concept": None},
            ]
        )
    )
    assert lm.labels == EVERYTHING[:7]
    assert lm.attribute_names == ["chef_hat", "mask", "uniform", "gloves"]
    assert lm.rules == VIOLATION_TYPES  # every rule unless the map names fewer
    assert (lm.resize, lm.score_threshold, lm.iou_threshold) == ("letterbox", 0.25, 0.5)
    hat = lm.classes[7]
    assert (hat.index, hat.name, hat.concept, hat.threshold) == (7, "hat", "chef_hat", 0.6)
    assert lm.classes[-1].concept is None
    assert lm.thresholds()["person"] == 0.25 and "knife" not in lm.thresholds()
    assert parse(lm.to_dict()).to_dict() == lm.to_dict()  # the canonical form parses to itself


def test_an_unknown_concept_is_refused_by_class_number_and_name() -> None:
    classes: list[Any] = [*EVERYTHING[:7], {"name": "hat", "concept": "hat"}, *EVERYTHING[8:]]
    [problem] = problems_of(lm_data(classes))
    assert problem.startswith("label_map: class 7 'hat' maps to unknown concept 'hat' (known: person, ")
    assert "no_chef_hat" in problem and "null to ignore it" in problem


def test_a_map_that_misses_what_rules_need_names_the_rules() -> None:
    without = [c for c in EVERYTHING if c not in ("rodent", "cigarette")]
    [problem] = problems_of(lm_data(without))
    assert problem.startswith("label_map does not cover rules: smoking, rodent (")
    assert "smoking needs cigarette" in problem and "rodent needs rodent" in problem
    # Naming only the rules it serves makes the same classes acceptable.
    served = [v for v in VIOLATION_TYPES if v not in ("smoking", "rodent")]
    assert parse(lm_data(without, rules=served)).rules == tuple(served)
    # An attribute rule needs a person and the attribute, seen present or absent.
    [problem] = problems_of(lm_data(["chef_hat"], rules=["no_chef_hat"]))
    assert problem.startswith("label_map does not cover rules: no_chef_hat (no_chef_hat needs person:")
    [problem] = problems_of(lm_data(["person"], rules=["no_chef_hat"]))
    assert "no_chef_hat needs chef_hat or no_chef_hat" in problem
    assert parse(lm_data(["person", "no_chef_hat"], rules=["no_chef_hat"])).attribute_names == ["chef_hat"]


def test_every_problem_is_reported_at_once_each_by_its_key() -> None:
    problems = problems_of(
        {
            "layout": "yolo",
            "input_width": 0,
            "input_height": "320",
            "classes": [],
            "score_threshold": 1.5,
            "iou_threshold": "x",
            "treshold": 0.3,
            "rules": ["no_hats"],
            "max_detections": 0,
        }
    )
    starts = [p.split(":")[0] for p in problems]
    assert starts == [
        "label_map",
        "label_map.layout",
        "label_map.input_width",
        "label_map.input_height",
        "label_map.score_threshold",
        "label_map.iou_threshold",
        "label_map.max_detections",
        "label_map.classes",
        "label_map.rules",
    ]
    assert "unknown keys treshold" in problems[0]
    assert "(known: yolov8, yolov5, kitchennet)" in problems[1]
    assert problems_of([1, 2]) == ["label_map: a JSON object, not list"]
    assert problems_of(lm_data(attributes=["chef_hat"]))[0].startswith(
        "label_map.attributes: only the kitchennet layout has attribute outputs"
    )
    assert problems_of(lm_data([*EVERYTHING, {"name": "x", "concept": "person", "thr": 1}]))[0] == (
        "label_map: class 11 has unknown keys thr (known: name, concept, threshold)"
    )


def test_rule_needs_come_from_the_rule_tables_and_cover_every_violation_type() -> None:
    for attribute, violation in ATTRIBUTE_RULES.items():
        assert needs(violation) == ({"person"}, {attribute})
    for label, violation in OBJECT_RULES.items():
        assert needs(violation) == ({label}, set())
    assert needs(HELD_RULES["phone"]) == ({"phone", "person"}, set())  # only in someone's hand
    assert needs(HELD_RULES["cigarette"]) == ({"cigarette"}, set())  # with or without a smoker
    assert needs("fire_unattended") == ({"flame", "person"}, set())
    for violation in VIOLATION_TYPES:  # a new violation type without a rule row fails here
        labels, attributes = needs(violation)
        assert labels and labels | attributes <= set(CONCEPTS), violation
    assert needs("no_such_rule") == (set(), set())


# -- decoding -------------------------------------------------------------------------------------

HAT_MAP = parse(
    lm_data(
        [
            "person",
            "chef_hat",
            "no_chef_hat",
            {"name": "waiter", "concept": "person"},
            {"name": "knife", "concept": None},
            {"name": "rat", "concept": "rodent", "threshold": 0.5},
        ],
        rules=["no_chef_hat", "rodent"],
    )
)


def v8(*anchors: tuple[tuple[float, float, float, float], int, float]) -> np.ndarray:
    """A [4+nc, N] frame: each anchor a cx,cy,w,h box (input px) scoring one class."""
    out = np.zeros((4 + len(HAT_MAP.classes), len(anchors)), np.float32)
    for i, (box, cls, score) in enumerate(anchors):
        out[:4, i] = box
        out[4 + cls, i] = score
    return out


def test_letterbox_geometry_maps_boxes_back_to_the_frame() -> None:
    g = yolo.fit(640, 360, HAT_MAP)  # 320x320 input: scale 0.5, 70 px grey above and below
    assert (g.scale_x, g.scale_y, g.pad_x, g.pad_y, g.resized) == (0.5, 0.5, 0, 70, (320, 180))
    [d] = yolo.detections(yolo.yolov8(v8(((110, 175, 60, 130), 0, 0.9)), HAT_MAP), HAT_MAP, g)
    assert d.label == "person" and d.box == (0.25, 0.22222, 0.4375, 0.94444)  # frame px 160..280 x 80..340
    tall = yolo.fit(300, 600, HAT_MAP)
    assert (tall.pad_x, tall.pad_y, tall.resized) == (80, 0, (160, 320))
    stretch = parse({**HAT_MAP.to_dict(), "resize": "stretch"})
    assert yolo.fit(640, 360, stretch) == yolo.Geometry(640, 360, 0.5, 320 / 360, 0, 0)


def test_nms_per_concept_thresholds_and_ignored_classes() -> None:
    g = yolo.fit(320, 320, HAT_MAP)
    out = v8(
        ((100, 100, 50, 100), 0, 0.9),
        ((102, 101, 50, 100), 0, 0.7),  # one person, twice
        ((104, 100, 50, 100), 3, 0.8),  # ... and as a "waiter"
        ((250, 100, 50, 100), 3, 0.6),  # another person
        ((200, 280, 30, 10), 5, 0.45),
        ((200, 300, 30, 10), 5, 0.55),  # rats: one under 0.5
        ((20, 20, 10, 10), 4, 0.99),
        ((20, 20, 10, 10), 0, 0.1),
    )  # knife ignored, weak person
    dets = yolo.detections(yolo.yolov8(out, HAT_MAP), HAT_MAP, g)
    assert [(d.label, d.score) for d in dets] == [("person", 0.9), ("person", 0.6), ("rodent", 0.55)]
    assert all(d.attributes == {} for d in dets)  # no attribute class fired: unknown, not "absent"


def test_attribute_boxes_attach_to_the_person_they_overlap_most() -> None:
    g = yolo.fit(320, 320, HAT_MAP)
    out = v8(
        ((100, 150, 60, 200), 0, 0.9),
        ((170, 150, 60, 200), 0, 0.85),  # two cooks side by side
        ((105, 60, 30, 20), 2, 0.8),  # a bare head on the first
        ((165, 60, 30, 20), 1, 0.7),  # a chef hat on the second ...
        ((165, 62, 30, 20), 2, 0.4),  # ... that a weaker box calls bare: the stronger wins
        ((300, 300, 20, 20), 1, 0.95),
    )  # a hat on nobody: dropped
    first, second = yolo.detections(yolo.yolov8(out, HAT_MAP), HAT_MAP, g)
    assert first.attributes == {"chef_hat": 0.2}  # 1 - P(bare head)
    assert second.attributes == {"chef_hat": 0.7}
    # A hat box only grazing a person (under ATTACH_MIN of it inside) is nobody's.
    grazing = v8(((100, 150, 60, 200), 0, 0.9), ((145, 60, 40, 20), 2, 0.9))  # 5 of its 40 px
    [cook] = yolo.detections(yolo.yolov8(grazing, HAT_MAP), HAT_MAP, g)
    assert cook.attributes == {}


def test_yolov5_scores_are_objectness_times_class() -> None:
    lm = parse({**HAT_MAP.to_dict(), "layout": "yolov5"})
    out = np.zeros((3, 5 + len(lm.classes)), np.float32)
    out[0, :5], out[0, 5] = (100, 100, 40, 80, 0.5), 0.9  # 0.45: kept
    out[1, :5], out[1, 5] = (200, 100, 40, 80, 0.2), 0.9  # 0.18: under 0.25
    out[2, :5], out[2, 5 + 5] = (50, 300, 20, 10, 1.0), 0.6  # a rat
    dets = yolo.detections(yolo.yolov5(out, lm), lm, yolo.fit(320, 320, lm))
    assert [(d.label, d.score) for d in dets] == [("rodent", 0.6), ("person", 0.45)]


def test_nms_keeps_the_best_and_respects_groups_and_limit() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    assert yolo.nms(boxes, scores, np.array([0, 0, 1, 0]), 0.5, 10).tolist() == [0, 2, 3]
    assert yolo.nms(boxes, scores, np.zeros(4, np.int64), 0.5, 1).tolist() == [0]
    assert yolo.nms(boxes, scores, np.zeros(4, np.int64), 0.9, 10).tolist() == [0, 1, 3]
    assert yolo.nms(np.zeros((0, 4), np.float32), np.zeros(0), np.zeros(0, np.int64), 0.5, 10).tolist() == []
