"""The label map of a bring-your-own model (自带模型): which of its classes means which platform concept.

A bureau or integrator who trained a detector on their own kitchens publishes its ONNX file with a
label map (``label_map.json``). The map names the file's output layout, its input size, and for
every class the concept it stands for: an object the rules know (``person``, ``rodent``, ...), a
person attribute seen present (``chef_hat``) or absent (``no_chef_hat``), or ``null`` for a class
the platform ignores. Parsing is pure (no I/O): every problem is reported at once, each naming the
key or class it concerns, so a refused map says what to fix.

The concepts are the shipped model's labels and attributes (``artifact``); which of them each rule
needs is ``rules.needs`` (read from the rule tables), checked against the rules the map says it serves
(all of ``bkcore.profiles.VIOLATION_TYPES`` unless it names fewer).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bk_detector.model.artifact import ATTRIBUTES, LABELS
from bk_detector.rules import needs
from bkcore.profiles import VIOLATION_TYPES

#: Output layouts a label map can name. yolov8: ultralytics YOLOv8/YOLO11 ``[B, 4+nc, N]`` (cx, cy,
#: w, h in input pixels, then per-class scores, no objectness); yolov5: ``[B, N, 5+nc]`` (the same
#: box, objectness, per-class scores); kitchennet: our own export (``model.export``).
LAYOUTS: tuple[str, ...] = ("yolov8", "yolov5", "kitchennet")
RESIZES: tuple[str, ...] = ("letterbox", "stretch")
ABSENT = "no_"  # "no_chef_hat": the attribute seen absent
OBJECTS: tuple[str, ...] = tuple(LABELS)
ATTRIBUTE_CONCEPTS: tuple[str, ...] = tuple(c for a in ATTRIBUTES for c in (a, ABSENT + a))
CONCEPTS: tuple[str, ...] = OBJECTS + ATTRIBUTE_CONCEPTS
_KEYS = frozenset(
    {
        "name",
        "version",
        "layout",
        "input_width",
        "input_height",
        "resize",
        "classes",
        "attributes",
        "score_threshold",
        "iou_threshold",
        "max_detections",
        "rules",
    }
)
MAX_SIDE = 4096


class LabelMapError(ValueError):
    """A label map that cannot be used; ``problems`` lists every reason, each naming its key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class ModelClass:
    """One class of the model (or, for kitchennet, one attribute output), as the map means it."""

    index: int
    name: str  # the integrator's own name for it, kept for messages and annotations
    concept: str | None  # a CONCEPTS entry; None = the platform ignores this class
    threshold: float  # scores below this are dropped


@dataclass(frozen=True, slots=True)
class LabelMap:
    layout: str
    input_width: int
    input_height: int
    resize: str
    classes: tuple[ModelClass, ...]
    attributes: tuple[ModelClass, ...]  # kitchennet only: its attribute outputs, in order
    score_threshold: float
    iou_threshold: float
    max_detections: int
    rules: tuple[str, ...]
    name: str = ""
    version: str = ""

    @property
    def labels(self) -> list[str]:
        """The platform labels this model can report, in the platform's order."""
        mapped = {c.concept for c in self.classes}
        return [label for label in OBJECTS if label in mapped]

    @property
    def attribute_names(self) -> list[str]:
        """The person attributes it can judge (seen present or absent), in the platform's order."""
        seen = {c.concept for c in (*self.classes, *self.attributes) if c.concept in ATTRIBUTE_CONCEPTS}
        return [a for a in ATTRIBUTES if a in seen or ABSENT + a in seen]

    def thresholds(self) -> dict[str, float]:
        """Per concept, the lowest threshold of the classes mapped to it (what the registry shows)."""
        out: dict[str, float] = {}
        for c in self.classes:
            if c.concept is not None:
                out[c.concept] = min(out.get(c.concept, 1.0), c.threshold)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The map in its canonical form: every default filled in (stored as model.json's label_map)."""

        def entry(c: ModelClass) -> dict[str, Any]:
            return {"name": c.name, "concept": c.concept, "threshold": c.threshold}

        out: dict[str, Any] = {
            "layout": self.layout,
            "input_width": self.input_width,
            "input_height": self.input_height,
            "resize": self.resize,
            "classes": [entry(c) for c in self.classes],
            "score_threshold": self.score_threshold,
            "iou_threshold": self.iou_threshold,
            "max_detections": self.max_detections,
            "rules": list(self.rules),
        }
        if self.attributes:
            out["attributes"] = [entry(c) for c in self.attributes]
        return out


def _score(value: Any, where: str, problems: list[str]) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not 0.0 <= value <= 1.0:
        problems.append(f"{where}: {value!r} is not a number in 0..1")
        return None
    return float(value)


def _side(data: Mapping[str, Any], key: str, problems: list[str]) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_SIDE:
        problems.append(f"label_map.{key}: {value!r} is not a side in pixels (1..{MAX_SIDE})")
        return 0
    return value


def _entries(
    raw: Any, what: str, allowed: tuple[str, ...], default_threshold: float, problems: list[str]
) -> list[ModelClass]:
    """``classes`` / ``attributes``: a list of ``{"name", "concept", "threshold"}`` objects, or plain
    strings (name = concept); ``concept: null`` ignores the class."""
    singular = "class" if what == "classes" else "attribute"
    if not isinstance(raw, list) or not raw:
        problems.append(f"label_map.{what}: a non-empty list, one entry per model {singular} in output order")
        return []
    known = ", ".join(allowed)
    out: list[ModelClass] = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            item = {"name": item, "concept": item}
        if not isinstance(item, dict):
            problems.append(
                f"label_map: {singular} {i} is {item!r}, not a name or a "
                '{"name", "concept", "threshold"} object'
            )
            continue
        extra = sorted(set(item) - {"name", "concept", "threshold"})
        if extra:
            problems.append(
                f"label_map: {singular} {i} has unknown keys {', '.join(extra)} "
                "(known: name, concept, threshold)"
            )
        concept = item.get("concept", item.get("name"))
        name = item.get("name", concept)
        if not isinstance(name, str) or not name:
            problems.append(f"label_map: {singular} {i} has no name")
            name = str(name)
        if concept is not None and concept not in allowed:
            problems.append(
                f"label_map: {singular} {i} {name!r} maps to unknown concept {concept!r} "
                f"(known: {known}, or null to ignore it)"
            )
            continue
        threshold = default_threshold
        if "threshold" in item:
            threshold = (
                _score(item["threshold"], f"label_map: {singular} {i} {name!r} threshold", problems) or 0.0
            )
        out.append(ModelClass(i, name, concept, threshold))
    return out


def parse(data: Any) -> LabelMap:
    """A label map from its JSON value; raises LabelMapError naming every problem."""
    if not isinstance(data, dict):
        raise LabelMapError([f"label_map: a JSON object, not {type(data).__name__}"])
    problems: list[str] = []
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        problems.append(f"label_map: unknown keys {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
    layout = data.get("layout")
    if layout not in LAYOUTS:
        problems.append(f"label_map.layout: {layout!r} is not a known layout (known: {', '.join(LAYOUTS)})")
    width, height = _side(data, "input_width", problems), _side(data, "input_height", problems)
    resize = data.get("resize", "stretch" if layout == "kitchennet" else "letterbox")
    if resize not in RESIZES:
        problems.append(f"label_map.resize: {resize!r} is not one of {', '.join(RESIZES)}")
    score = _score(data.get("score_threshold", 0.25), "label_map.score_threshold", problems)
    iou = _score(data.get("iou_threshold", 0.5), "label_map.iou_threshold", problems)
    max_det = data.get("max_detections", 100)
    if isinstance(max_det, bool) or not isinstance(max_det, int) or not 1 <= max_det <= 1000:
        problems.append(f"label_map.max_detections: {max_det!r} is not a count in 1..1000")
    classes = _entries(data.get("classes"), "classes", CONCEPTS, score or 0.0, problems)
    attributes: list[ModelClass] = []
    if layout == "kitchennet":
        attributes = _entries(data.get("attributes"), "attributes", ATTRIBUTE_CONCEPTS, 0.0, problems)
    elif "attributes" in data:
        problems.append(
            f"label_map.attributes: only the kitchennet layout has attribute outputs; a "
            f"{layout} model's attributes are classes ({', '.join(ATTRIBUTE_CONCEPTS[:2])}, ...)"
        )
    rules = data.get("rules", list(VIOLATION_TYPES))
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        problems.append("label_map.rules: a list of violation types")
        rules = []
    for r in rules:
        if r not in VIOLATION_TYPES:
            problems.append(f"label_map.rules: unknown rule {r!r} (known: {', '.join(VIOLATION_TYPES)})")
    for key in ("name", "version"):
        if key in data and not isinstance(data[key], str):
            problems.append(f"label_map.{key}: a string")
    if problems:
        raise LabelMapError(problems)
    lm = LabelMap(
        layout=layout,
        input_width=width,
        input_height=height,
        resize=resize,
        classes=tuple(classes),
        attributes=tuple(attributes),
        score_threshold=score or 0.0,
        iou_threshold=iou or 0.5,
        max_detections=max_det,
        rules=tuple(rules),
        name=data.get("name", ""),
        version=data.get("version", ""),
    )
    if uncovered := coverage_problems(lm):
        raise LabelMapError(uncovered)
    return lm


def coverage_problems(lm: LabelMap) -> list[str]:
    """The rules the map says it serves but cannot: a rule needs every label in ``rules.needs`` and,
    for each attribute it judges, the attribute seen present or absent."""
    objects = set(lm.labels)
    attributes = set(lm.attribute_names)
    missing: dict[str, list[str]] = {}
    for rule in lm.rules:
        labels, attrs = needs(rule)
        lacking = sorted(labels - objects) + [f"{a} or {ABSENT}{a}" for a in sorted(attrs - attributes)]
        if lacking:
            missing[rule] = lacking
    if not missing:
        return []
    detail = ", ".join(f"{rule} needs {' and '.join(what)}" for rule, what in missing.items())
    return [
        f"label_map does not cover rules: {', '.join(missing)} ({detail}: map a class to each, "
        "or list only the rules this model serves in label_map.rules)"
    ]
