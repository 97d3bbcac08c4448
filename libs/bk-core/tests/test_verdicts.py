"""The verdict format: what each verdict means in model terms, and what it refuses. Pure, no I/O."""

from __future__ import annotations

import pytest

from bkcore.profiles import VIOLATION_TYPES
from bkcore.verdicts import (
    CaptureLabels,
    VerdictFormatError,
    VerdictSet,
    labelled_types,
    labels_for_verdict,
    not_a_violation,
    parse_labels,
    parse_set,
)

BOX = (0.1, 0.2, 0.4, 0.9)


def _objects(labels: CaptureLabels) -> list[tuple[str, bool, dict[str, int]]]:
    return [(o.label, o.located, o.attributes) for o in labels.objects]


def _absent(labels: CaptureLabels) -> list[str]:
    return [a.label for a in labels.absent]


@pytest.mark.parametrize(
    ("case_type", "confirmed", "false_alarm"),
    [
        ("no_chef_hat", [("person", True, {"chef_hat": 0})], [("person", True, {"chef_hat": 1})]),
        ("no_mask", [("person", True, {"mask": 0})], [("person", True, {"mask": 1})]),
        ("no_gloves", [("person", True, {"gloves": 0})], [("person", True, {"gloves": 1})]),
        ("rodent", [("rodent", True, {})], []),
        ("fire_unattended", [("flame", True, {})], []),
        ("trash_bin_open", [("trash_bin_open", True, {})], []),
        ("smoking", [("cigarette", False, {})], []),
        ("phone_use", [("person", True, {}), ("phone", False, {})], []),
    ],
)
def test_each_verdict_becomes_labels_in_model_terms(case_type, confirmed, false_alarm) -> None:  # type: ignore[no-untyped-def]
    yes = labels_for_verdict(case_type, "confirmed", BOX)
    no = labels_for_verdict(case_type, "false_alarm", BOX)
    assert yes is not None and no is not None
    assert _objects(yes) == confirmed and _objects(no) == false_alarm
    # A false alarm never claims "nothing here": objects it is about stay, negatives name one class.
    raised = {
        "no_chef_hat": [],
        "no_mask": [],
        "no_gloves": [],
        "rodent": ["rodent"],
        "fire_unattended": ["flame"],
        "trash_bin_open": ["trash_bin_open"],
        "smoking": ["cigarette"],
        "phone_use": ["phone"],
    }[case_type]
    assert _absent(no) == raised
    assert all(tuple(a.box) == BOX for a in no.absent)


def test_a_confirmed_open_bin_is_not_a_closed_one_and_open_cases_mean_nothing_yet() -> None:
    labels = labels_for_verdict("trash_bin_open", "confirmed", BOX)
    assert labels is not None and _absent(labels) == ["trash_bin_closed"]
    assert labels_for_verdict("rodent", "", BOX) is None
    assert labels_for_verdict("rodent", "confirmed", ()) is None
    assert labels_for_verdict("stranger", "confirmed", BOX) is None  # no model class stands for it


def test_every_violation_type_a_detector_raises_has_a_meaning() -> None:
    assert set(VIOLATION_TYPES) <= labelled_types()


def test_not_a_violation_is_the_false_alarm_meaning_with_the_flag() -> None:
    nv = not_a_violation("rodent", BOX)
    assert nv is not None and nv.not_violation and _absent(nv) == ["rodent"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"objects": [{"label": "cat", "box": [0, 0, 1, 1]}]}, "unknown label 'cat'"),
        ({"objects": [{"label": "person", "box": [0.5, 0, 0.2, 1]}]}, "x1 < x2"),
        ({"objects": [{"label": "person", "box": [0, 0, 1.5, 1]}]}, "inside the frame"),
        (
            {"objects": [{"label": "rodent", "box": [0, 0, 1, 1], "attributes": {"mask": 1}}]},
            "belong to persons",
        ),
        (
            {"objects": [{"label": "person", "box": [0, 0, 1, 1], "attributes": {"hat": 1}}]},
            "unknown attribute",
        ),
        ({"objects": [{"label": "person", "box": [0, 0, 1, 1], "attributes": {"mask": 2}}]}, "1 (worn) or 0"),
        ({"absent": [{"label": "person"}]}, "absent.0.box"),
        ({"nothing_here": True}, "nothing_here"),
    ],
)
def test_bad_labels_are_refused_by_name(data: dict, message: str) -> None:
    with pytest.raises(VerdictFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_labels(data)


def test_a_coco_file_is_not_taken_for_an_export() -> None:
    with pytest.raises(VerdictFormatError, match="not a bk-verdicts export"):
        parse_set('{"images": [], "annotations": [], "categories": []}')
    doc = VerdictSet().model_dump_json()
    assert parse_set(doc).records == []
